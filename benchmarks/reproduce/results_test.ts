import assert from "node:assert/strict";
import { resultReadme } from "./results.ts";
import { summaryRow as row } from "./testing.ts";

Deno.test("result README: the scale label in bold at the top", () => {
  const text = resultReadme("smoke", [row({})], [], "deno task reproduce --preset smoke");
  assert.match(text.split("\n").slice(0, 4).join("\n"), /\*\*Scale: smoke .*NOT the paper/);
});

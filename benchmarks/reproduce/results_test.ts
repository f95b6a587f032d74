import assert from "node:assert/strict";
import { readmeCommand, resultReadme } from "./results.ts";
import { summaryRow as row } from "./testing.ts";

Deno.test("result README: the scale label in bold at the top", () => {
  const text = resultReadme("smoke", [row({})], [], "deno task reproduce --preset smoke");
  assert.match(text.split("\n").slice(0, 4).join("\n"), /\*\*Scale: smoke .*NOT the paper/);
});

Deno.test("result README: its command reads back; a run without verify does not cite verify.csv", () => {
  const command = "deno task study --ablations --ablation-names pre-norm --workers 2";
  const verified = resultReadme("smoke", [row({})], [], command);
  assert.equal(readmeCommand(verified), command);
  assert.match(verified, /and `verify\.csv`; do not edit/);
  const skipped = resultReadme("smoke", [row({})], null, command);
  assert.equal(readmeCommand(skipped), command);
  assert.ok(!skipped.includes("verify.csv"), skipped);
  assert.match(skipped, /\(verify not run\)/);
  assert.match(skipped, /Not run \(`--skip-verify`\)/);
  assert.equal(readmeCommand("# a README\n\nno command line here\n"), null);
});

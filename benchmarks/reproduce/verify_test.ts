import assert from "node:assert/strict";
import { REPRO_SUMMARY_COLUMNS, type SummaryRow } from "./summary.ts";
import { summaryRow as row } from "./testing.ts";
import {
  BASELINE_CHECKS,
  compareWithBaseline,
  compareWithReference,
  readSummary,
  verify,
} from "./verify.ts";
import { loadReference } from "../score/reference.ts";

Deno.test("summary.csv header contract", () => {
  assert.deepEqual([...REPRO_SUMMARY_COLUMNS], [
    "task",
    "model",
    "seed",
    "params",
    "metric",
    "k",
    "value",
    "unit",
    "n",
    "preset",
    "scale",
    "commit",
    "config_hash",
    "backend",
    "device",
    "definition",
  ]);
});

Deno.test("committed baselines follow the summary.csv contract", async () => {
  for (const preset of ["smoke", "cpu-mini"]) {
    const path = new URL(`../../results/baselines/${preset}/summary.csv`, import.meta.url).pathname;
    let rows: SummaryRow[];
    try {
      rows = await readSummary(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound && preset === "cpu-mini") continue;
      throw e;
    }
    assert.ok(rows.length > 0, path);
    assert.ok(rows.every((r) => r.preset === preset && typeof r.value === "number"), path);
  }
});

Deno.test("verify: an injected regression fails, small differences and gains pass", async () => {
  const checks = BASELINE_CHECKS.smoke;
  const ours = [row({ value: 74 }), row({ model: "tr-mamba2attn", value: 70 })];
  const baseline = [row({ value: 76 }), row({ model: "tr-mamba2attn", value: 60 })];
  const ok = compareWithBaseline(ours, baseline, checks, "b.csv");
  assert.deepEqual(ok.map((r) => r.status), ["ok", "ok"]);
  // The baseline says the model reached 90 %: 74 is 16 points below, beyond the 5-point tolerance.
  const bad = compareWithBaseline(ours, [row({ value: 90 })], checks, "b.csv");
  assert.deepEqual(bad.map((r) => r.status), ["regression", "no-baseline"]);
  // Through verify(): writes verify.csv and reports the failure.
  const root = await Deno.makeTempDir({ prefix: "trm-verify-test-" });
  try {
    await Deno.mkdir(`${root}/baselines/smoke`, { recursive: true });
    const header = REPRO_SUMMARY_COLUMNS.join(",");
    const line = (r: SummaryRow) =>
      REPRO_SUMMARY_COLUMNS.map((c) => JSON.stringify(r[c] ?? "")).join(",");
    await Deno.writeTextFile(
      `${root}/baselines/smoke/summary.csv`,
      `${header}\n${line(row({ value: 90 }))}\n`,
    );
    const v = await verify("smoke", ours, `${root}/out`, `${root}/baselines`);
    assert.equal(v.failed, 1);
    assert.ok(v.lines.some((l) => l.includes("NOT comparable with the paper")));
    assert.ok((await Deno.readTextFile(`${root}/out/verify.csv`)).includes("regression"));
    assert.ok(!v.lines.some((l) => l.includes("another configuration")), v.lines.join("\n"));
    // A baseline written by another configuration is named as such on the failing line.
    const other = await verify(
      "smoke",
      [row({ value: 74, config_hash: "ffff" })],
      `${root}/out`,
      `${root}/baselines`,
    );
    assert.equal(other.failed, 1);
    assert.ok(
      other.lines.some((l) => l.includes("regression") && l.includes("another configuration")),
      other.lines.join("\n"),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("verify at paper preset: within tolerance of a published value, pass@1 against either conflicting value", async () => {
  const ref = await loadReference();
  const arc = (model: string, k: number, value: number) =>
    row({ task: "arc", model, metric: "pass_at_k", k, value, preset: "paper" });
  const res = compareWithReference([
    arc("trm-attn", 2, 44.5),
    arc("tr-mamba2attn", 2, 40),
    arc("trm-attn", 1, 30),
  ], ref);
  const by = (m: string, k: number) => res.find((r) => r.model === m && r.k === k)!;
  assert.equal(by("trm-attn", 2).status, "ok");
  assert.equal(by("tr-mamba2attn", 2).status, "mismatch");
  assert.equal(by("trm-attn", 1).status, "ok");
});

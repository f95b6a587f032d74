import assert from "node:assert/strict";
import { LEGACY_SUMMARY_COLUMNS, REPRO_SUMMARY_COLUMNS, type SummaryRow } from "./summary.ts";
import { csvText } from "../../engine/csv.ts";
import { summaryRow as row } from "./testing.ts";
import {
  compareWithBaseline,
  compareWithReference,
  readSummary,
  verify,
  type VerifyRow,
} from "./verify.ts";
import {
  type BaselineRow,
  baselineText,
  buildBaseline,
  CHECKED,
  deriveTolerance,
  MIN_SEEDS,
  readBaseline,
} from "./baseline.ts";
import { loadReference } from "../score/reference.ts";
import { main as verifyMain } from "./verify_cli.ts";
import { presetFloors } from "./rebaseline.ts";
import type { TaskName } from "../../recursion/run/config.ts";

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
    "dtype",
    "device",
    "definition",
  ]);
});

/** Baseline rows of three seeds each; floors 0 (exact) and 50 (cell). */
function smokeBaseline(values: Record<string, number[]>): BaselineRow[] {
  const rows: SummaryRow[] = [];
  for (const [key, vals] of Object.entries(values)) {
    const [model, metric] = key.split(":");
    vals.forEach((value, seed) => rows.push(row({ model, metric, seed, value })));
  }
  return buildBaseline("smoke", rows, {
    sudoku: {
      exact_accuracy: { value: 0, source: "test" },
      cell_accuracy: { value: 50, source: "test" },
    },
  });
}

Deno.test("baseline: tolerance from the seed spread; a threshold at or below the floor is report-only", () => {
  const b = smokeBaseline({
    "trm-attn:cell_accuracy": [70, 72, 74], // sd 2 → tolerance 6, threshold 66 > 50
    "trm-attn:exact_accuracy": [1, 3, 5], // sd 2 → tolerance 6, threshold −3 ≤ 0: cannot fail
    "tr-mamba2attn:cell_accuracy": [80, 80, 80], // sd 0 → the 1-point resolution
  });
  const by = (m: string, metric: string) => b.find((r) => r.model === m && r.metric === metric)!;
  const cell = by("trm-attn", "cell_accuracy");
  assert.equal(cell.mean, 72);
  assert.ok(Math.abs((cell.sd as number) - 2) < 1e-12);
  assert.ok(Math.abs((cell.tolerance as number) - 6) < 1e-12);
  assert.equal(cell.check, CHECKED);
  assert.match(String(cell.derivation), /3 × sd over 3 seeds/);
  assert.match(String(by("trm-attn", "exact_accuracy").check), /^report only: cannot fail/);
  assert.equal(by("tr-mamba2attn", "cell_accuracy").tolerance, 1);
  // Fewer seeds than the minimum: refused (a re-baseline needs the spread).
  assert.throws(() => deriveTolerance("cell_accuracy", [70, 72], 64), /at least 3/);
  // Allowed explicitly, the row says PROVISIONAL.
  assert.match(deriveTolerance("exact_accuracy", [50], 100, 1).derivation, /^PROVISIONAL/);
});

Deno.test("verify: regression below the threshold, missing metric, missing baseline file, run subsets", async () => {
  const baseline = smokeBaseline({
    "trm-attn:cell_accuracy": [70, 72, 74],
    "trm-attn:exact_accuracy": [1, 3, 5],
    "tr-mamba2attn:cell_accuracy": [60, 62, 64],
  });
  // 66.5 passes (threshold 66), 65.9 fails; the report-only row never fails.
  const check = (value: number, extra: SummaryRow[] = []) =>
    compareWithBaseline(
      [row({ value }), row({ metric: "exact_accuracy", value: 0 }), ...extra],
      baseline,
      "b.csv",
    );
  const status = (rows: VerifyRow[], model: string, metric: string) =>
    rows.filter((r) => r.model === model && r.metric === metric).map((r) => r.status);
  assert.deepEqual(status(check(66.5), "trm-attn", "cell_accuracy"), ["ok"]);
  assert.deepEqual(status(check(65.9), "trm-attn", "cell_accuracy"), ["regression"]);
  assert.deepEqual(status(check(65.9), "trm-attn", "exact_accuracy"), ["unchecked"]);
  // The run has tr-mamba2attn (one metric) but not its checked cell accuracy: missing.
  const partial = check(70, [row({ model: "tr-mamba2attn", metric: "mean_act_steps", value: 2 })]);
  assert.deepEqual(status(partial, "tr-mamba2attn", "cell_accuracy"), ["missing"]);
  // A run without tr-mamba2attn at all: not run, not failed.
  assert.deepEqual(status(check(70), "tr-mamba2attn", "cell_accuracy"), ["not-run"]);
  // Every seed of the run is checked.
  const seeds = compareWithBaseline(
    [row({ value: 70 }), row({ seed: 1, value: 50 })],
    baseline,
    "b.csv",
  );
  assert.deepEqual(status(seeds, "trm-attn", "cell_accuracy"), ["ok", "regression"]);

  const root = await Deno.makeTempDir({ prefix: "trm-verify-test-" });
  try {
    // No baseline file: a failure, unless --no-baseline.
    const none = await verify("smoke", [row({})], null, `${root}/nothing`);
    assert.equal(none.failed, 1);
    assert.ok(none.lines.some((l) => l.includes("no baseline at")));
    const allowed = await verify("smoke", [row({})], null, `${root}/nothing`, {
      noBaseline: true,
    });
    assert.equal(allowed.failed, 0);
    // Through verify(): reads baseline.csv, writes verify.csv, names another configuration.
    await Deno.mkdir(`${root}/b/smoke`, { recursive: true });
    await Deno.writeTextFile(`${root}/b/smoke/baseline.csv`, await baselineText(baseline));
    const v = await verify(
      "smoke",
      [row({ value: 60, config_hash: "ffff" })],
      `${root}/out`,
      `${root}/b`,
    );
    assert.equal(v.failed, 1);
    assert.ok(v.lines.some((l) => l.includes("NOT comparable with the paper")));
    assert.ok(
      v.lines.some((l) => l.includes("regression") && l.includes("another configuration")),
      v.lines.join("\n"),
    );
    assert.ok((await Deno.readTextFile(`${root}/out/verify.csv`)).includes("regression"));
    // A summary of another preset is a usage error, not a silent pass.
    await assert.rejects(verify("cpu-mini", [row({})], null, `${root}/b`), /--preset smoke/);
    // The command: exit 1 on a regression, 0 when every check passes, 2 on a usage error
    // (--allow-dirty comes from bench_util's parseCli).
    const summary = async (value: number) => {
      const path = `${root}/summary-${value}.csv`;
      await Deno.writeTextFile(path, await csvText(REPRO_SUMMARY_COLUMNS, [row({ value })]));
      return path;
    };
    const quiet = () => {};
    const args = async (value: number) => [
      ...["--preset", "smoke", "--summary", await summary(value)],
      ...["--baselines", `${root}/b`, "--allow-dirty"],
    ];
    assert.equal(await verifyMain(await args(60), quiet), 1);
    assert.equal(await verifyMain(await args(70), quiet), 0);
    assert.equal(await verifyMain(["--preset", "smoke"], quiet), 2);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("committed baselines: every checked threshold lies above its floor and follows from the seeds beside it", async () => {
  for (const preset of ["smoke", "cpu-mini", "cpu-study"] as const) {
    const dir = new URL(`./expected/baselines/${preset}`, import.meta.url).pathname;
    const base = await readBaseline(`${dir}/baseline.csv`);
    const seeds = await readSummary(`${dir}/summary.csv`);
    assert.ok(base.some((b) => b.check === CHECKED), `${preset}: some metric is checked`);
    for (const b of base) {
      const what = `${preset} ${b.task}/${b.model} ${b.metric}`;
      assert.equal(b.preset, preset, what);
      if (b.check === CHECKED) {
        assert.ok((b.threshold as number) > (b.floor as number), `${what}: cannot fail`);
      }
      // mean, tolerance and threshold recomputed from the per-seed rows (no hand edits).
      const vals = seeds.filter((r) =>
        r.task === b.task && r.model === b.model && r.metric === b.metric
      ).map((r) => r.value as number);
      assert.equal(vals.length, b.n_seeds, what);
      const d = deriveTolerance(String(b.metric), vals, b.n as number, 1);
      assert.ok(Math.abs(d.mean - (b.mean as number)) < 1e-9, what);
      assert.ok(Math.abs(d.tolerance - (b.tolerance as number)) < 1e-9, what);
      assert.ok(Math.abs(d.mean - d.tolerance - (b.threshold as number)) < 1e-9, what);
    }
  }
  // The CI preset's baseline: at least 3 seeds and clean commits.
  const smoke = await readBaseline(
    new URL("./expected/baselines/smoke/baseline.csv", import.meta.url).pathname,
  );
  for (const b of smoke) {
    assert.ok((b.n_seeds as number) >= MIN_SEEDS, `${b.task}/${b.model} ${b.metric}`);
    assert.ok(!String(b.commit).includes("dirty"), `${b.task}/${b.model}: ${b.commit}`);
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

Deno.test("readSummary: a summary written before the dtype column reads as f32; a bf16 row keeps bf16", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = row({ value: 12.5 });
    const { dtype: _, ...legacyRow } = r;
    await Deno.writeTextFile(`${dir}/old.csv`, await csvText(LEGACY_SUMMARY_COLUMNS, [legacyRow]));
    const [old] = await readSummary(`${dir}/old.csv`);
    assert.equal(old.dtype, "f32");
    assert.equal(old.value, 12.5);
    await Deno.writeTextFile(
      `${dir}/new.csv`,
      await csvText(REPRO_SUMMARY_COLUMNS, [{ ...r, dtype: "bf16" }]),
    );
    const [fresh] = await readSummary(`${dir}/new.csv`);
    assert.equal(fresh.dtype, "bf16");
    // Any other header is refused.
    await Deno.writeTextFile(`${dir}/bad.csv`, "task,model\nsudoku,trm-attn\n");
    await assert.rejects(() => readSummary(`${dir}/bad.csv`), /header must be/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("committed baselines: every floor is the one measured on the preset's test split now", async () => {
  // A floor set too high would silently make a row report-only ("cannot fail"): recompute them.
  for (const preset of ["smoke", "cpu-study"] as const) {
    const dir = new URL(`./expected/baselines/${preset}`, import.meta.url).pathname;
    const base = await readBaseline(`${dir}/baseline.csv`);
    const tasks = [...new Set(base.map((b) => String(b.task)))] as TaskName[];
    const floors = await presetFloors(preset, tasks);
    for (const b of base) {
      const f = floors[b.task as TaskName]![b.metric as "exact_accuracy" | "cell_accuracy"];
      assert.ok(f, `${preset} ${b.task} ${b.metric}: no floor measured`);
      assert.ok(
        Math.abs(f.value - (b.floor as number)) < 1e-9,
        `${preset} ${b.task}/${b.model} ${b.metric}: floor ${b.floor} committed, ${f.value} measured`,
      );
    }
  }
});

import assert from "node:assert/strict";
import { budgetPatch, main, OPTIONS, PASS_THROUGH, planStudy, reproduceOptions } from "./cli.ts";
import { OPTIONS as REPRODUCE_OPTIONS } from "../reproduce/options.ts";
import { planRuns } from "../reproduce/pipeline.ts";
import { runScript } from "../reproduce/testing.ts";
import { presetConfig, STUDY } from "../../recursion/presets.ts";
import { mergeConfig } from "../../recursion/run/config.ts";

const reproduceHas = (flag: string) => Object.hasOwn(REPRODUCE_OPTIONS, flag);

Deno.test("study options: defaults map to reproduce at cpu-study, 5 seeds, no baseline", () => {
  const plan = planStudy([]);
  assert.deepEqual([plan.budget, plan.report, plan.budgetPatch], [1, true, null]);
  const o = reproduceOptions(plan);
  assert.equal(o.preset, "cpu-study");
  assert.deepEqual(o.seeds, [0, 1, 2, 3, 4]);
  assert.deepEqual(o.tasks, ["sudoku", "maze", "arc"]);
  assert.equal(o.models, null);
  assert.deepEqual([o.out, o.runs], ["results/cpu-study", "runs/study"]);
  assert.deepEqual([o.verify, o.noBaseline, o.configPatch], [true, true, null]);
  // All four models on Sudoku and Maze, the attention pair on ARC: 10 runs a seed, 50 in all.
  const runs = planRuns(o);
  assert.equal(runs.length, 50);
  const models = (
    task: string,
  ) => [...new Set(runs.filter((r) => r.task === task).map((r) => r.model))];
  const four = ["trm-attn", "trm-mlp-t", "tr-mamba2attn", "tr-mamba2mlpt"];
  assert.deepEqual(models("sudoku"), four);
  assert.deepEqual(models("maze"), four);
  assert.deepEqual(models("arc"), ["trm-attn", "tr-mamba2attn"]);
  for (const r of runs) {
    assert.equal(r.config.preset, "cpu-study");
    assert.match(r.config.scale, /reduced CPU-scale study; NOT the paper's setting/);
    assert.equal(r.config.train.steps, STUDY.steps);
    assert.ok(r.dir.startsWith("runs/study/"), r.dir);
  }
});

Deno.test("study options: flags pass through to reproduce; --no-report", () => {
  const plan = planStudy([
    "--seeds",
    "3,4",
    "--out",
    "/tmp/study-out/",
    "--runs",
    "/tmp/study-runs",
    "--no-report",
    "--tasks",
    "maze",
    "--backend",
    "ref",
    "--no-progress",
    "--allow-dirty",
  ]);
  assert.equal(plan.report, false);
  const o = reproduceOptions(plan);
  assert.deepEqual(o.seeds, [3, 4]);
  assert.deepEqual([o.out, o.runs], ["/tmp/study-out", "/tmp/study-runs"]);
  assert.deepEqual(o.tasks, ["maze"]);
  assert.deepEqual([o.backend, o.progress, o.allowDirty], ["ref", false, true]);
  assert.equal(planRuns(o).length, 4 * 2);
});

Deno.test("study options: --workers, --shard and --merge reach reproduce when it has them", () => {
  // Every flag the study passes through is one of reproduce's (same name, same type).
  for (const f of PASS_THROUGH) {
    assert.ok(reproduceHas(f), `--${f} is not a reproduce flag`);
    assert.equal(OPTIONS[f]?.type, REPRODUCE_OPTIONS[f].type, f);
  }
  for (const f of ["workers", "threads-per-run", "shard", "merge"]) assert.ok(reproduceHas(f), f);
  // Default: one 1-thread run per core at once (how the preset's time was measured).
  const d = reproduceOptions(planStudy([])) as unknown as Record<string, unknown>;
  assert.equal(d.workers, navigator.hardwareConcurrency);
  assert.equal(d.threadsPerRun, 1);
  const t = reproduceOptions(planStudy(["--threads-per-run", "2", "--workers", "1"]));
  assert.deepEqual([t.workers, (t as unknown as Record<string, unknown>).threadsPerRun], [1, 2]);
  const cuda = reproduceOptions(planStudy(["--backend", "cuda"]));
  assert.equal(cuda.workers, 1);
  const w = reproduceOptions(planStudy(["--workers", "2"])) as unknown as Record<string, unknown>;
  assert.equal(w.workers, 2);
  const s = reproduceOptions(planStudy(["--shard", "1/3"])) as unknown as Record<string, unknown>;
  assert.deepEqual(s.shard, { index: 1, count: 3 });
  const m = reproduceOptions(planStudy(["--merge"])) as unknown as Record<string, unknown>;
  assert.equal(m.merge, true);
});

Deno.test("study options: --budget scales every run's steps and cadence, not the design", async () => {
  assert.equal(budgetPatch(1), null);
  const plan = planStudy(["--budget", "0.5", "--runs", "/tmp/x"]);
  assert.equal(plan.budget, 0.5);
  assert.equal(plan.budgetPatch?.file, "/tmp/x/budget-0.5.json");
  assert.ok(plan.reproduceArgs.includes("--config"));
  const patch = plan.budgetPatch!.patch;
  assert.deepEqual(patch.train, {
    steps: Math.round(STUDY.steps / 2),
    evalEvery: Math.round(STUDY.evalEvery / 2),
    checkpointEvery: Math.round(STUDY.checkpointEvery / 2),
  });
  // The patch file as main writes it, read back by reproduce's --config.
  const dir = await Deno.makeTempDir();
  try {
    const p = planStudy(["--budget", "2", "--runs", dir]);
    await Deno.writeTextFile(p.budgetPatch!.file, JSON.stringify(p.budgetPatch!.patch));
    const o = reproduceOptions(p);
    for (const r of planRuns(o)) {
      const base = presetConfig("cpu-study", r.task, r.model, r.seed);
      assert.equal(r.config.train.steps, 2 * STUDY.steps);
      assert.equal(r.config.train.evalEvery, 2 * STUDY.evalEvery);
      assert.match(
        r.config.scale,
        /^cpu-study ×2 steps \(reduced CPU-scale study; NOT the paper's setting\)$/,
      );
      // Everything else is the preset's.
      const back = mergeConfig(r.config, {
        scale: base.scale,
        backend: base.backend,
        data: base.data,
        train: {
          steps: base.train.steps,
          evalEvery: base.train.evalEvery,
          checkpointEvery: base.train.checkpointEvery,
        },
      });
      assert.deepEqual(back, base);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  for (const bad of ["0", "-1", "x", "Infinity", "1e-9"]) {
    assert.throws(() => planStudy([`--budget=${bad}`]), RangeError, bad);
  }
  assert.throws(() => planStudy(["--bogus"]), TypeError);
});

Deno.test("deno task study: --help exits 0, a bad flag exits 2 with one line + usage", async () => {
  const lines: string[] = [];
  const log = console.log;
  console.log = (s: string) => lines.push(s);
  try {
    assert.equal(await main(["--help"]), 0);
  } finally {
    console.log = log;
  }
  assert.match(lines.join("\n"), /^usage: deno task study/);
  const run = (...args: string[]) =>
    runScript(new URL("./cli.ts", import.meta.url).pathname, ...args);
  const help = await run("--help");
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^usage: deno task study/);
  const bad = await run("--bogus", "--runs", "/nonexistent/never-written");
  assert.equal(bad.code, 2, bad.stderr);
  const [first, ...rest] = bad.stderr.trim().split("\n");
  assert.match(first, /^study: .*--bogus/);
  assert.match(rest.join("\n"), /^usage: deno task study/);
  const budget = await run("--budget=0", "--runs", "/nonexistent/never-written");
  assert.equal(budget.code, 2, budget.stderr);
  assert.match(budget.stderr, /^study: --budget: expected a number > 0, got "0"/);
});

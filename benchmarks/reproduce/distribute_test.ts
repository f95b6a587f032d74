/**
 * Runs spread over worker processes (`--workers N`) and over shards (`--shard i/n` + `--merge`)
 * give the same results as one process running them in turn: the same summary.csv values and,
 * per run, bitwise the same training curves and predictions — every run with the same thread
 * count (--threads-per-run, default this process's: OpenBLAS rounds differently at another one).
 * Two cheap smoke runs (Sudoku, trm-attn, seeds 0 and 1, 30 steps); about a minute on 2 cores.
 */
import assert from "node:assert/strict";
import { EVAL_COLUMNS, METRICS_COLUMNS } from "../../recursion/run/record.ts";
import { readCsv } from "../../engine/csv.ts";
import {
  runId,
  shardRuns,
  sortedRuns,
  totalThreads,
  WORKER_PERMISSIONS,
  workerPlan,
} from "./distribute.ts";
import { parseReproduceArgs } from "./options.ts";
import { planRuns, reproduce } from "./pipeline.ts";
import { REPRO_SUMMARY_COLUMNS, type SummaryRow } from "./summary.ts";

const ROOT = new URL("../..", import.meta.url).pathname;

Deno.test("shards: every run in exactly one shard, whatever order the flags name them in", () => {
  const o = parseReproduceArgs(["--preset", "smoke", "--seeds", "0,1,2", "--runs", "/tmp/x"]);
  const runs = planRuns(o);
  assert.equal(runs.length, 24);
  for (const n of [1, 2, 3, 5, 24, 30]) {
    const ids = Array.from({ length: n }, (_, i) => shardRuns(runs, { index: i, count: n }))
      .flat().map(runId);
    assert.deepEqual([...ids].sort(), runs.map(runId).sort(), `${n} shards`);
  }
  // Another order of --tasks/--models/--seeds: the same sorted list, so the same shards.
  const flipped = planRuns(parseReproduceArgs([
    ...["--preset", "smoke", "--tasks", "arc,maze,sudoku", "--seeds", "2,1,0"],
    ...["--runs", "/tmp/x"],
  ]));
  assert.deepEqual(sortedRuns(flipped).map(runId), sortedRuns(runs).map(runId));
  for (let i = 0; i < 4; i++) {
    const a = shardRuns(runs, { index: i, count: 4 }).map(runId).sort();
    const b = shardRuns(flipped, { index: i, count: 4 }).map(runId).sort();
    assert.deepEqual(a, b);
  }
  assert.deepEqual(sortedRuns(runs).slice(0, 2).map(runId), [
    "sudoku/trm-attn/seed-0",
    "sudoku/trm-attn/seed-1",
  ]);
});

Deno.test("workers: each run gets --threads-per-run threads whatever N; at most one worker per run", () => {
  const plan = (w: number, runs: number, t: number | null, cores: number) =>
    workerPlan(w, runs, t, cores);
  assert.deepEqual(plan(2, 8, 1, 2), { workers: 2, threads: 1, cores: 2, oversubscribed: false });
  assert.deepEqual(plan(3, 8, 5, 16), { workers: 3, threads: 5, cores: 16, oversubscribed: false });
  assert.deepEqual(plan(2, 8, 2, 2), { workers: 2, threads: 2, cores: 2, oversubscribed: true });
  assert.deepEqual(plan(4, 2, 4, 8), { workers: 2, threads: 4, cores: 8, oversubscribed: false });
  assert.equal(plan(1, 8, null, 8).threads, totalThreads());
  assert.equal(plan(4, 8, null, 8).threads, totalThreads(), "not divided by N");
});

Deno.test("workers get the permissions of deno task reproduce (less running deno)", async () => {
  const task: string = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`)).tasks.reproduce;
  const flags = task.split(/\s+/).map((t) => t.replace(/^'|'$/g, ""))
    .filter((t) => t.startsWith("--allow-"))
    .map((t) => t.replace(/^(--allow-run=.*),deno$/, "$1"));
  assert.deepEqual(flags, [...WORKER_PERMISSIONS]);
  assert.match(task, /--allow-run=[^ ]*,deno /, "reproduce may start its workers");
});

/** summary.csv rows without what depends on the machine's load and threads. */
async function results(out: string): Promise<Record<string, string>[]> {
  // Not commit, backend (the thread count), device: provenance, not results.
  const keep: (keyof SummaryRow)[] = [
    ...["task", "model", "seed", "params", "metric", "k", "value", "unit", "n"] as const,
    ...["preset", "scale", "config_hash", "definition"] as const,
  ];
  return (await readCsv(`${out}/summary.csv`, REPRO_SUMMARY_COLUMNS)).map((r) => {
    const row: Record<string, string> = {};
    for (const k of keep) row[k] = r.metric === "train_seconds" && k === "value" ? "—" : r[k];
    return row;
  });
}

/** Per run: the training curves (less the times), held-out evaluations and predictions. */
async function runFiles(runs: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const seed of [0, 1]) {
    const dir = `${runs}/sudoku/trm-attn/seed-${seed}`;
    const strip = async (path: string, cols: readonly string[], drop: string[]) =>
      (await readCsv(path, cols)).map((r) =>
        cols.filter((c) => !drop.includes(c)).map((c) => r[c]).join(",")
      ).join("\n");
    files[`${seed}/metrics`] = await strip(`${dir}/train/metrics.csv`, METRICS_COLUMNS, [
      "step_ms",
      "elapsed_s",
    ]);
    files[`${seed}/eval`] = await strip(`${dir}/train/eval.csv`, EVAL_COLUMNS, [
      "eval_s",
      "elapsed_s",
    ]);
    files[`${seed}/pred`] = await Deno.readTextFile(`${dir}/pred.jsonl`);
  }
  return files;
}

async function cli(args: string[], env: Record<string, string> = {}) {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--no-check", `${ROOT}/benchmarks/reproduce/cli.ts`, ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

Deno.test("--workers 2 and 2 shards + --merge give the results of one process; a failed run is named, the others finish; --merge names missing runs", async () => {
  const root = await Deno.makeTempDir({ prefix: "trm-distribute-test-" });
  const holder = new Deno.Command("sleep", { args: ["600"] }).spawn();
  try {
    const patch = `${root}/short.json`;
    await Deno.writeTextFile(
      patch,
      JSON.stringify({ train: { steps: 30, evalEvery: 15, checkpointEvery: 15 } }),
    );
    const common = [
      ...["--preset", "smoke", "--tasks", "sudoku", "--models", "trm-attn", "--seeds", "0,1"],
      ...["--config", patch, "--skip-verify", "--no-progress"],
    ];
    const at = (name: string) => ["--out", `${root}/${name}/out`, "--runs", `${root}/${name}/runs`];
    const lines: Record<string, string[]> = { one: [], workers: [] };
    const t0 = performance.now();
    await reproduce(parseReproduceArgs([...common, ...at("one")]), (l) => lines.one.push(l));
    const t1 = performance.now();
    await reproduce(
      parseReproduceArgs([...common, ...at("workers"), "--workers", "2"]),
      (l) => lines.workers.push(l),
    );
    const t2 = performance.now();
    console.log(
      `  2 runs: --workers 1 ${((t1 - t0) / 1000).toFixed(1)} s, --workers 2 ${
        ((t2 - t1) / 1000).toFixed(1)
      } s`,
    );
    const w = lines.workers.join("\n");
    assert.match(
      w,
      new RegExp(`workers: 2 process\\(es\\) at once, ${totalThreads()} thread\\(s\\) per run`),
      w,
    );
    for (const seed of [0, 1]) {
      const id = `sudoku/trm-attn/seed-${seed}`;
      assert.match(
        w,
        new RegExp(
          `^\\[${id}\\] \\[${seed * 5 + 3}/10\\] train +${id.replace("/seed-", " seed ")}: done`,
          "m",
        ),
        w,
      );
      assert.match(w, new RegExp(`^\\[${id}\\] finished$`, "m"), w);
    }

    // Two shards at the same time, as two array jobs would; then --merge.
    const threads = ["--threads-per-run", String(totalThreads())];
    const shards = await Promise.all(
      ["0/2", "1/2"].map((s) => cli([...common, ...at("shards"), ...threads, "--shard", s])),
    );
    for (const [i, s] of shards.entries()) {
      assert.equal(s.code, 0, s.out);
      assert.match(
        s.out,
        new RegExp(`shard ${i}/2 \\(0-based\\): 1 of the 2 runs — sudoku/trm-attn/seed-${i}\\n`),
        s.out,
      );
      assert.doesNotMatch(s.out, /^tables:/m, "a shard writes no tables");
    }
    assert.equal(await Deno.stat(`${root}/shards/out/summary.csv`).catch(() => null), null);
    const merge = [...common, ...at("shards"), "--merge"];
    const merged = await cli(merge);
    assert.equal(merged.code, 0, merged.out);
    assert.match(merged.out, /merge: all 2 runs finished/);
    assert.doesNotMatch(merged.out, /\] (parity|train) /, "--merge runs nothing");

    const one = await results(`${root}/one/out`);
    assert.equal(one.length, new Set(one.map((r) => JSON.stringify(r))).size);
    assert.ok(one.some((r) => r.metric === "cell_accuracy" && Number(r.value) > 0));
    assert.deepEqual(await results(`${root}/workers/out`), one, "--workers 2");
    assert.deepEqual(await results(`${root}/shards/out`), one, "2 shards + --merge");
    for (const name of ["one", "workers", "shards"]) {
      const rec = JSON.parse(
        await Deno.readTextFile(`${root}/${name}/runs/sudoku/trm-attn/seed-1/train/config.json`),
      );
      assert.equal(rec.backend.info.threads ?? totalThreads(), totalThreads(), name);
    }
    const files = await runFiles(`${root}/one/runs`);
    assert.deepEqual(await runFiles(`${root}/workers/runs`), files, "--workers 2: per run");
    assert.deepEqual(await runFiles(`${root}/shards/runs`), files, "shards: per run");

    // --merge with a run unfinished names it (and only it).
    await Deno.remove(`${root}/shards/runs/sudoku/trm-attn/seed-1/markers/score.json`);
    const missing = await cli(merge);
    assert.equal(missing.code, 1, missing.out);
    const error = missing.out.split("\n").find((l) => l.startsWith("Error: ")) ?? missing.out;
    assert.match(error, /1 of 2 runs are not finished/);
    assert.match(error, /sudoku\/trm-attn\/seed-1 \(score not done\)/);
    assert.doesNotMatch(error, /seed-0/);

    // A run that fails in its worker (its training folder held by a live process) is named; the
    // other run finishes; the error comes at the end.
    const seed1 = `${root}/workers/runs/sudoku/trm-attn/seed-1`;
    await Deno.remove(`${seed1}/markers/train.json`);
    await Deno.writeTextFile(
      `${seed1}/train/.trm.lock`,
      JSON.stringify({
        pid: holder.pid,
        hostname: Deno.hostname(),
        startedAt: new Date().toISOString(),
        command: "a test",
      }),
    );
    const failed: string[] = [];
    await assert.rejects(
      reproduce(
        parseReproduceArgs([...common, ...at("workers"), "--workers", "2"]),
        (l) => failed.push(l),
      ),
      (e: Error) => {
        assert.match(e.message, /1 of 2 runs failed/);
        assert.match(e.message, /sudoku\/trm-attn\/seed-1: exit 1: .*in use by pid/);
        assert.doesNotMatch(e.message, /seed-0/);
        return true;
      },
    );
    assert.ok(failed.includes("[sudoku/trm-attn/seed-0] finished"), failed.join("\n"));
  } finally {
    try {
      holder.kill("SIGKILL");
    } catch {
      // exited already
    }
    await holder.status;
    await Deno.remove(root, { recursive: true });
  }
});

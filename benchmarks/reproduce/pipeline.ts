/**
 * `deno task reproduce`, the whole pipeline: for every (task, model, seed) the steps prepare →
 * parity → train → evaluate → score (steps.ts, each skipped when its marker is current), then the
 * result tables and plots (results.ts) and verify (verify.ts). One progress line per step.
 *
 * The runs are independent: `--workers N` runs them in N local worker processes at once (datasets
 * prepared first, in this process, in turn), `--shard i/n` runs one share of them and writes no
 * tables, `--merge` writes the tables and verify from the finished runs (distribute.ts). Each run
 * executes holding its folder's lock, so no two processes ever run one run.
 */
import { guardResultsWrite, machineInfo } from "../../engine/provenance.ts";
import { acquireLock, folderLockPath, type Lock, LockedError, withLock } from "../../tasks/lock.ts";
import {
  denoCommand,
  pool,
  runId,
  runWorker,
  shardRuns,
  totalThreads,
  type WorkerOutcome,
  workerPlan,
} from "./distribute.ts";
import { doneMarker, readMarker, STEP_NAMES, type StepName } from "./markers.ts";
import { modelsFor, type ReproduceOptions } from "./options.ts";
import { resultReadme, writeResultFiles } from "./results.ts";
import {
  type RunSpec,
  runSpec,
  type StepContext,
  stepHashes,
  type StepOutcome,
  STEPS,
} from "./steps.ts";
import { runSummaryRows, type SummaryRow } from "./summary.ts";
import { verify, type VerifyRow } from "./verify.ts";

/** Outcome of a pipeline run. */
export interface ReproduceResult {
  runs: RunSpec[];
  summary: SummaryRow[];
  verifyRows: VerifyRow[] | null;
  /** Checks out of tolerance (0 = pass). */
  failed: number;
  seconds: number;
}

/** The runs of a reproduce invocation, in execution order (task, then model, then seed). */
export function planRuns(o: ReproduceOptions): RunSpec[] {
  return o.tasks.flatMap((task) =>
    modelsFor(o, task).flatMap((model) =>
      o.seeds.map((seed) =>
        runSpec(o.preset, task, model, seed, o.backend, o.runs, o.pooling, o.configPatch)
      )
    )
  );
}

function short(info: Record<string, unknown>): string {
  const parts: string[] = [];
  const pct = (x: unknown) => (typeof x === "number" ? `${(100 * x).toFixed(1)}%` : "—");
  if (info.contentHash) parts.push(`dataset ${String(info.contentHash).slice(0, 12)}`);
  if (info.match) parts.push(`paper-size params ${info.paperParams} (${info.match})`);
  if (info.totalSteps !== undefined) {
    parts.push(`${info.steps}/${info.totalSteps} steps, ${info.trainableParams} params`);
    parts.push(`held-out exact ${pct(info.finalExactAcc)}`);
  }
  if (info.examples !== undefined) {
    parts.push(`${info.examples} predictions, exact ${pct(info.exactAcc)}`);
  }
  if (typeof info.passAt2 === "number") parts.push(`pass@2 ${info.passAt2.toFixed(1)}%`);
  if (typeof info.exactAcc === "number" && info.files) {
    parts.push(`exact ${info.exactAcc.toFixed(1)}%`);
  }
  return parts.join(", ");
}

/**
 * Runs the pipeline; `log` gets the progress lines. Holds exclusive locks on the runs folder and
 * the results folder (tasks/lock.ts) throughout: a second reproduce on either is refused. A shard
 * (`--shard i/n`) takes neither — the shards of one runs folder run at the same time, each run
 * under its own folder's lock — and writes no tables; `--merge` runs nothing and writes them from
 * the finished runs.
 */
export async function reproduce(
  o: ReproduceOptions,
  log: (line: string) => void = (l) => console.log(l),
  command = `deno task reproduce --preset ${o.preset}`,
): Promise<ReproduceResult> {
  const t0 = performance.now();
  if (o.shard) return await reproduceShard(o, log, t0);
  // Refuse before any work: numbers of uncommitted code never land in results/ unlabelled.
  await guardResultsWrite(o.out, { allowDirty: o.allowDirty, what: "reproduce: writing tables" });
  const folders = [...new Set([o.runs, o.out])];
  for (const d of folders) await Deno.mkdir(d, { recursive: true });
  const locks: Lock[] = [];
  try {
    for (const d of folders) {
      locks.push(acquireLock(folderLockPath(d), `reproduce folder ${d}`, { warn: log }));
    }
    return await reproduceLocked(o, log, command, t0);
  } finally {
    for (const l of locks) l.release();
  }
}

function header(o: ReproduceOptions, runs: RunSpec[], log: (line: string) => void): void {
  const m = machineInfo();
  log(`reproduce: preset ${o.preset} — ${runs[0]?.config.scale ?? ""}`);
  log(
    `  tasks ${o.tasks.join(",")}; ${runs.length} runs (${
      o.tasks.map((t) => `${t}: ${modelsFor(o, t).join(",")}`).join("; ")
    }); seeds ${o.seeds.join(",")}; backend ${o.backend}`,
  );
  log(`  results → ${o.out}; runs, checkpoints, predictions → ${o.runs}`);
  log(`  commit ${m.commit}, ${m.cpu} (${m.cores} cores), Deno ${m.deno}`);
}

async function reproduceLocked(
  o: ReproduceOptions,
  log: (line: string) => void,
  command: string,
  t0: number,
): Promise<ReproduceResult> {
  const runs = planRuns(o);
  header(o, runs, log);
  if (o.merge) {
    const missing = await unfinishedRuns(runs);
    if (missing.length) {
      throw new Error(
        `reproduce --merge: ${missing.length} of ${runs.length} runs are not finished in ` +
          `${o.runs}: ${missing.join("; ")}. Run the shards that hold them (or reproduce ` +
          `without --shard/--merge) first, with the same --preset/--tasks/--models/--seeds/--config`,
      );
    }
    log(`merge: all ${runs.length} runs finished in ${o.runs}`);
  } else {
    await executeRuns(o, runs, log);
  }
  return await writeTables(o, runs, log, command, t0);
}

/** `--shard i/n`: this shard's runs, into the shared runs folder; no tables, no verify. */
async function reproduceShard(
  o: ReproduceOptions,
  log: (line: string) => void,
  t0: number,
): Promise<ReproduceResult> {
  const s = o.shard!;
  const all = planRuns(o);
  const runs = shardRuns(all, s);
  header(o, all, log);
  log(
    `  shard ${s.index}/${s.count} (0-based): ${runs.length} of the ${all.length} runs` +
      (runs.length ? ` — ${runs.map(runId).join(", ")}` : ""),
  );
  await Deno.mkdir(o.runs, { recursive: true });
  await executeRuns(o, runs, log);
  const seconds = (performance.now() - t0) / 1000;
  log(
    `reproduce: shard ${s.index}/${s.count} finished in ${(seconds / 60).toFixed(1)} min; ` +
      `when every shard has: deno task reproduce --merge with the same --preset/--tasks/` +
      `--models/--seeds/--config/--runs`,
  );
  return { runs, summary: [], verifyRows: null, failed: 0, seconds };
}

/** "run (why)" for every run of `runs` whose steps are not all done with their current inputs. */
export async function unfinishedRuns(runs: RunSpec[]): Promise<string[]> {
  const missing: string[] = [];
  for (const r of runs) {
    const hashes = stepHashes(r);
    for (const step of STEP_NAMES) {
      if (await doneMarker(r.dir, step, hashes[step])) continue;
      const stale = await readMarker(r.dir, step);
      missing.push(
        `${runId(r)} (${step} ${
          stale ? "done with other inputs: the code or configuration changed since" : "not done"
        })`,
      );
      break;
    }
  }
  return missing;
}

/** Where a run's step lines are numbered: run `index` of `runs` ([i/total] over all steps). */
export interface RunPosition {
  index: number;
  runs: number;
}

/** Seconds between the lines saying that a shard waits for a dataset another process prepares. */
const WAIT_LOG_S = 60;

/**
 * prepare, waiting while another process (another shard) prepares the same dataset: its lock is
 * held by a live process (tasks/lock.ts), or its folder appeared while this one was building.
 */
async function prepareWaiting(r: RunSpec, ctx: StepContext): Promise<StepOutcome> {
  let logged = -Infinity, raced = 0;
  for (;;) {
    try {
      return await STEPS.prepare(r, ctx);
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists && raced++ < 3) continue;
      if (!(e instanceof LockedError)) throw e;
      if (performance.now() - logged > WAIT_LOG_S * 1000) {
        ctx.log(`  waiting for the dataset another process prepares: ${e.message}`);
        logged = performance.now();
      }
      await new Promise((res) => setTimeout(res, 2000));
    }
  }
}

/**
 * Runs `steps` of run `r` (default all), one progress line each, holding its folder's lock
 * (tasks/lock.ts: no other worker, shard or reproduce runs it meanwhile). Steps after prepare
 * without prepare need its marker current (a worker: the parent prepared). `waitForData`: prepare
 * waits for a dataset another process prepares (shards) instead of failing.
 */
export async function runSteps(
  r: RunSpec,
  o: Pick<ReproduceOptions, "progress" | "memory" | "memoryBytes">,
  log: (line: string) => void,
  pos: RunPosition,
  steps: readonly StepName[] = STEP_NAMES,
  waitForData = false,
): Promise<void> {
  await Deno.mkdir(r.dir, { recursive: true });
  await withLock(folderLockPath(r.dir), `run folder ${r.dir}`, async () => {
    const ctx: StepContext = {
      log,
      progress: o.progress,
      memory: o.memory,
      memoryBytes: o.memoryBytes,
    };
    if (!steps.includes("prepare") && !await doneMarker(r.dir, "prepare", stepHashes(r).prepare)) {
      throw new Error(`${runId(r)}: its dataset is not prepared (no current prepare marker)`);
    }
    const total = pos.runs * STEP_NAMES.length;
    for (const step of steps) {
      const i = pos.index * STEP_NAMES.length + STEP_NAMES.indexOf(step) + 1;
      const what = `[${i}/${total}] ${step.padEnd(8)} ${r.task}/${r.model} seed ${r.seed}`;
      if (step === "train") log(`${what}: …`);
      const res = step === "prepare" && waitForData
        ? await prepareWaiting(r, ctx)
        : await STEPS[step](r, ctx);
      const took = res.marker.seconds.toFixed(1);
      log(
        res.skipped
          ? `${what}: skipped (done ${res.marker.finishedAt}, hash ${res.marker.hash.slice(0, 12)})`
          : `${what}: done in ${took} s — ${short(res.marker.info)}`,
      );
    }
  }, { warn: log });
}

/**
 * Runs `runs`: in this process, one after the other, when there is one worker and the runs' thread
 * count is this process's (the first failure stops it); else every dataset is prepared here first,
 * then the runs' other steps go to up to N worker processes at once (distribute.ts). A failed run
 * is named and the others finish; then the failures are thrown together.
 */
async function executeRuns(
  o: ReproduceOptions,
  runs: RunSpec[],
  log: (line: string) => void,
): Promise<void> {
  const wait = o.shard !== null;
  const plan = workerPlan(o.workers, runs.length, o.threadsPerRun);
  if (plan.workers === 1 && plan.threads === totalThreads()) {
    for (const [index, r] of runs.entries()) {
      await runSteps(r, o, log, { index, runs: runs.length }, STEP_NAMES, wait);
    }
    return;
  }
  const deno = denoCommand();
  const fit = Math.max(1, Math.floor(plan.cores / plan.workers));
  log(
    `  workers: ${plan.workers} process(es) at once, ${plan.threads} thread(s) per run ` +
      `(--threads-per-run; ${plan.cores} cores)` +
      (plan.oversubscribed
        ? `: oversubscribed — --threads-per-run ${fit} fits the cores (results are then those ` +
          `of ${fit}-thread runs)`
        : ""),
  );
  const env = { TRM_THREADS: String(plan.threads), TRM_DIE_WITH_PARENT: "1" };
  const failed: WorkerOutcome[] = [];
  const ready: { r: RunSpec; index: number }[] = [];
  for (const [index, r] of runs.entries()) {
    try {
      await runSteps(r, o, log, { index, runs: runs.length }, ["prepare"], wait);
      ready.push({ r, index });
    } catch (e) {
      const error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      log(`[${runId(r)}] ${error}`);
      failed.push({ id: runId(r), ok: false, error });
    }
  }
  // Each worker plans for its share of a memory budget given on the command line.
  const options: ReproduceOptions = {
    ...o,
    ...(o.memoryBytes !== undefined ? { memoryBytes: o.memoryBytes / plan.workers } : {}),
  };
  const outcomes = await pool(ready, plan.workers, ({ r, index }) =>
    runWorker(
      { options, id: runId(r), index, runs: runs.length },
      { deno, env, log },
    ).then((w) => {
      log(`[${w.id}] ${w.ok ? "finished" : `FAILED (${w.error})`}`);
      return w;
    }));
  failed.push(...outcomes.filter((w) => !w.ok));
  if (failed.length) {
    const order = new Map(runs.map((r, i) => [runId(r), i]));
    failed.sort((a, b) => order.get(a.id)! - order.get(b.id)!);
    throw new Error(
      `reproduce: ${failed.length} of ${runs.length} runs failed (the others finished; rerun ` +
        `to retry, finished steps are skipped): ${
          failed.map((f) => `${f.id}: ${f.error}`).join("; ")
        }`,
    );
  }
}

/** summary.csv, the tables, verify and the README of finished runs (the pipeline's last steps). */
async function writeTables(
  o: ReproduceOptions,
  runs: RunSpec[],
  log: (line: string) => void,
  command: string,
  t0: number,
): Promise<ReproduceResult> {
  const summary: SummaryRow[] = [];
  for (const r of runs) summary.push(...await runSummaryRows(r));
  const backends = [...new Set(summary.map((r) => String(r.backend)))];
  if (backends.length > 1) {
    log(
      `note: the runs were trained on different backends or thread counts (${
        backends.join("; ")
      }): OpenBLAS rounds differently at another thread count — give every invocation the ` +
        `same --threads-per-run`,
    );
  }
  const files = await writeResultFiles(runs, summary, o.out);
  log(`tables: ${files.length} files in ${o.out} (summary.csv, per-task CSVs, SVG plots)`);
  let verifyRows: VerifyRow[] | null = null;
  let failed = 0;
  if (o.verify) {
    const v = await verify(o.preset, summary, o.out, o.baselines, { noBaseline: o.noBaseline });
    for (const l of v.lines) log(l);
    verifyRows = v.rows;
    failed = v.failed;
  }
  await Deno.writeTextFile(
    `${o.out}/README.md`,
    resultReadme(o.preset, summary, verifyRows, command),
  );
  const seconds = (performance.now() - t0) / 1000;
  log(`reproduce: finished in ${(seconds / 60).toFixed(1)} min; ${o.out}/README.md`);
  return { runs, summary, verifyRows, failed, seconds };
}

/**
 * Spreading the independent runs (task, model, seed) of a reproduce invocation over local worker
 * processes (`--workers N`) and over invocations (`--shard i/n`, then `--merge`).
 *
 * - The run list is sorted canonically (task, model, seed in the order of TASK_NAMES,
 *   MODEL_NAMES and the seed's value), whatever order the flags named them in; shard i of n takes
 *   the runs whose index in that list is ≡ i (mod n). Every run is in exactly one shard.
 * - A worker is a `deno run` subprocess of `worker.ts` that runs the steps after prepare of one run
 *   and exits; its job (the parsed options and the run's id) comes on stdin, its lines go to stdout
 *   and stderr, which the parent prints prefixed with the run's id.
 * - Every run uses the same number of CPU threads T (`--threads-per-run`, default TRM_THREADS, else
 *   all cores), in this process or in a worker (TRM_THREADS=T), whatever N and the sharding: with
 *   our own GEMM a smoke run is bitwise the same at 1 and 2 threads (the native kernels are
 *   written to be independent of the thread count), but with OpenBLAS's GEMM (what the cpu
 *   backend's `auto` picks on most machines) 1 and 2 threads differ from the 9th step on, in the
 *   7th digit. With the thread count
 *   fixed, a run's numbers do not depend on how the runs are distributed (distribute_test.ts
 *   checks it bitwise); the GEMM `auto` picks is measured once per machine and thread count
 *   (engine/backends/cpu/gemm_choice.ts), so it is the same for every run of one T on one machine.
 */
import { MODEL_NAMES } from "../../recursion/config.ts";
import { TASK_NAMES } from "../../recursion/run/config.ts";
import type { ReproduceOptions, Shard } from "./options.ts";
import type { RunSpec } from "./steps.ts";
import { readIntSwitch } from "../../engine/switches.ts";

/** A run's id: its folder under --runs (`sudoku/trm-attn/seed-0`). */
export const runId = (r: Pick<RunSpec, "task" | "model" | "seed">) =>
  `${r.task}/${r.model}/seed-${r.seed}`;

/** The runs in canonical order (task, model, seed), independent of the flags' order. */
export function sortedRuns<R extends Pick<RunSpec, "task" | "model" | "seed">>(runs: R[]): R[] {
  return [...runs].sort((a, b) =>
    TASK_NAMES.indexOf(a.task) - TASK_NAMES.indexOf(b.task) ||
    MODEL_NAMES.indexOf(a.model) - MODEL_NAMES.indexOf(b.model) || a.seed - b.seed
  );
}

/** The runs of shard `s` (sorted index ≡ s.index mod s.count), in the order of `runs`. */
export function shardRuns<R extends Pick<RunSpec, "task" | "model" | "seed">>(
  runs: R[],
  s: Shard,
): R[] {
  const mine = new Set(
    sortedRuns(runs).filter((_, i) => i % s.count === s.index).map((r) => runId(r)),
  );
  return runs.filter((r) => mine.has(runId(r)));
}

/** CPU threads a run of this process uses by default: TRM_THREADS when set, else every core. */
export function totalThreads(): number {
  return readIntSwitch("TRM_THREADS") ?? (navigator.hardwareConcurrency || 1);
}

/**
 * How many worker processes run at once (at most one per run), the threads of each run
 * (`--threads-per-run`, else this process's), and whether they oversubscribe the cores.
 */
export function workerPlan(
  workers: number,
  runs: number,
  threadsPerRun: number | null,
  cores = navigator.hardwareConcurrency || 1,
): { workers: number; threads: number; cores: number; oversubscribed: boolean } {
  const n = Math.max(1, Math.min(workers, runs));
  const threads = threadsPerRun ?? totalThreads();
  return { workers: n, threads, cores, oversubscribed: n * threads > cores };
}

/**
 * The permissions of a worker: those `deno task reproduce` has (deno.json; a test checks that they
 * agree), with the runs folder writable as well.
 */
export const WORKER_PERMISSIONS = [
  "--allow-read",
  "--allow-write=.,/tmp",
  "--allow-ffi",
  "--allow-env=TRM_*,OPENBLAS_*,GOMP_SPINCOUNT,OMP_WAIT_POLICY,CUDA_HOME,CUDA_PATH,VIRTUAL_ENV," +
  "CONDA_PREFIX,HOME,CC,NVCC,INIT_CWD",
  "--allow-run=git,cat,kill,cc,gcc,clang,nvcc,/usr/local/cuda/bin/nvcc",
  "--allow-sys=hostname,systemMemoryInfo",
] as const;

/** The deno executable this process may start: its own, else `deno` from PATH; or why not. */
export function denoCommand(): string {
  const granted = (command: string) => {
    try {
      return Deno.permissions.querySync({ name: "run", command }).state === "granted";
    } catch {
      return false;
    }
  };
  let self: string | null = null;
  try {
    self = Deno.execPath();
  } catch {
    // no read permission for it: try the name
  }
  if (self && granted(self)) return self;
  if (granted("deno")) return "deno";
  throw new Deno.errors.NotCapable(
    "--workers N starts `deno run` worker processes: run with --allow-run=deno (deno task " +
      "reproduce grants it), or use --workers 1",
  );
}

/** What the parent sends a worker on stdin. */
export interface WorkerJob {
  /** The invocation's options (the worker runs this one run of them, with workers 1, no shard). */
  options: ReproduceOptions;
  id: string;
  /** The run's position in the progress numbering ([i/total] of its step lines). */
  index: number;
  runs: number;
}

/** How one worker's run ended. */
export interface WorkerOutcome {
  id: string;
  ok: boolean;
  /** Exit code (or signal) and the last lines it wrote to stderr, when it failed. */
  error?: string;
}

/** Splits a byte stream into lines, calling `line` for each (a last unterminated one too). */
async function eachLine(stream: ReadableStream<Uint8Array>, line: (l: string) => void) {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop()!;
    for (const p of parts) line(p.replace(/\r$/, ""));
  }
  if (rest !== "") line(rest);
}

/**
 * Runs one worker process for `job`: its stdout and stderr lines go to `log` prefixed with
 * `[<run id>]`; resolves with the outcome (never rejects for the run's own failure).
 */
export async function runWorker(
  job: WorkerJob,
  o: { deno: string; env: Record<string, string>; log: (line: string) => void },
): Promise<WorkerOutcome> {
  const entry = new URL("./worker.ts", import.meta.url).pathname;
  const write = [...new Set([".", "/tmp", job.options.runs])].join(",");
  const perms = WORKER_PERMISSIONS.map((p) =>
    p.startsWith("--allow-write=") ? `--allow-write=${write}` : p
  );
  const child = new Deno.Command(o.deno, {
    args: ["run", "-q", "--no-prompt", ...perms, entry],
    env: o.env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const prefix = `[${job.id}] `;
  const errors: string[] = [];
  const writer = child.stdin.getWriter();
  try {
    await writer.write(new TextEncoder().encode(JSON.stringify(job)));
    await writer.close();
  } catch {
    // the worker exited before reading its job: its status and stderr below say why
  }
  await Promise.all([
    eachLine(child.stdout, (l) => o.log(prefix + l)),
    eachLine(child.stderr, (l) => {
      o.log(prefix + l);
      if (l.trim() !== "") errors.push(l.trim());
      if (errors.length > 5) errors.shift();
    }),
  ]);
  const status = await child.status;
  if (status.success) return { id: job.id, ok: true };
  const how = status.signal ? `killed by ${status.signal}` : `exit ${status.code}`;
  return { id: job.id, ok: false, error: `${how}: ${errors.join(" / ") || "(no message)"}` };
}

/** Runs `jobs` with at most `n` at a time (in order of the list); the outcomes in that order. */
export async function pool<J, R>(jobs: J[], n: number, run: (job: J) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(jobs.length);
  let next = 0;
  const lane = async () => {
    while (next < jobs.length) {
      const i = next++;
      out[i] = await run(jobs[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, jobs.length) }, lane));
  return out;
}

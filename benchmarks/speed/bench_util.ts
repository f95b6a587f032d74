/**
 * Pieces the benchmarks share: the command line (`--help`, strict flags), the CSV row, interleaved
 * best-of-n timing (in one process, and across processes: ours against a peer process, round by
 * round), random tensors, the PyTorch peer process and its environment, and writing the CSV with
 * provenance.
 */
import type { ParseArgsOptionsConfig } from "node:util";
import { type Cell, csvText } from "../../engine/csv.ts";
import type { Backend } from "../../engine/backend.ts";
import type { Rng } from "../../engine/rng.ts";
import { type Tensor, tensor } from "../../engine/tensor.ts";
import {
  dirtyRefusal,
  guardResultsWrite,
  insideResults,
  machineInfo,
  treeState,
} from "../../engine/provenance.ts";
import { writeFileAtomic } from "../../tasks/io.ts";
import {
  assertWritable,
  type CliValues as SharedCliValues,
  dieWithParent,
  installErrorHandler,
  intFlag,
  parseCli as sharedParseCli,
  printCliResult,
  runMain,
} from "../../engine/cli.ts";

// ----------------------------------------------------------------------------- command line

/** Besides `--help` (engine/cli.ts), every benchmark takes `--allow-dirty` (writing into the
 * committed results/ from uncommitted code, with the diff stored beside; provenance.ts). */
const DIRTY = { "allow-dirty": { type: "boolean" } } as const;

/** Set by benchArgs from `--allow-dirty`; read by writeBenchCsv. */
let allowDirty = false;
/** The working tree when benchArgs ran (the code the benchmark measures). */
let startTree: ReturnType<typeof treeState> | null = null;

/** The parsed flags of `options` (plus `help` and `allow-dirty`). */
export type CliValues<T extends ParseArgsOptionsConfig> = SharedCliValues<T & typeof DIRTY>;

/** What `parseCli` decided: the flags, or a text to print and the exit status (0 help, 2 misuse). */
export type CliResult<T extends ParseArgsOptionsConfig> =
  | { values: CliValues<T> }
  | { exit: 0 | 2; text: string };

/**
 * engine/cli.ts `parseCli` (strict, no positionals) with `options` plus `--allow-dirty`: `--help`
 * gives `usage` with exit 0; a parse error gives one line (`name: message`) and the usage, exit 2.
 * Pure: `benchArgs` does the printing and exiting.
 */
export function parseCli<const T extends ParseArgsOptionsConfig>(
  name: string,
  usage: string,
  options: T,
  argv: string[],
): CliResult<T> {
  const r = sharedParseCli(name, usage, { ...options, ...DIRTY }, argv);
  return "exit" in r ? r : { values: r.values as CliValues<T> };
}

/**
 * The flags of a benchmark's command line (see `parseCli`); prints the usage and exits 0 on
 * `--help`, prints the error and the usage to stderr and exits 2 on a bad flag. Then makes the
 * benchmark die with its parent (engine/cli.ts `dieWithParent`) and refuses a dirty tree for an
 * `--out` inside results/ (exit 1) unless `--allow-dirty`.
 */
export function benchArgs<const T extends ParseArgsOptionsConfig>(
  name: string,
  usage: string,
  options: T,
  argv: string[] = Deno.args,
): CliValues<T> {
  const r = parseCli(name, usage, options, argv);
  if ("exit" in r) Deno.exit(printCliResult(r));
  installErrorHandler(name, usage);
  dieWithParent();
  allowDirty = Boolean((r.values as { "allow-dirty"?: boolean })["allow-dirty"]);
  // Refuse before measuring, not after: numbers of uncommitted code never land in results/. The
  // state at the start is what the numbers come from (the code is loaded now): edits made while a
  // long benchmark runs neither relabel nor lose its rows.
  const out = (r.values as { out?: unknown }).out;
  if (typeof out === "string") assertWritable(out);
  const tree = treeState();
  startTree = tree;
  if (typeof out === "string" && tree.dirty && insideResults(out) && !allowDirty) {
    console.error(dirtyRefusal(out, tree, name));
    Deno.exit(1);
  }
  return r.values;
}

export { runMain };

/** `text` as an integer ≥ `min`, or a FlagValueError (a RangeError) naming `flag`. */
export function intArg(flag: string, text: string, min = 1): number {
  return intFlag(flag, text, min);
}

// ----------------------------------------------------------------------------- rows

/**
 * What decides a PyTorch peer's speed, as its process saw it (benchmarks/peers/peer_info.py):
 * torch's version, the core type OpenBLAS chose (`openblas_get_corename` of the libopenblas torch
 * loaded; "" when none), torch's CPU capability ("CPU capability usage" of torch.__config__.show()),
 * torch's thread count and OpenBLAS's. All "" on rows of our own measurements.
 */
export interface PeerInfo {
  torch_version: string;
  openblas_core: string;
  cpu_capability: string;
  peer_threads: number | "";
  peer_blas_threads: number | "";
}

/** The peer columns of a row that is not a peer's. */
export const NO_PEER_INFO: PeerInfo = {
  torch_version: "",
  openblas_core: "",
  cpu_capability: "",
  peer_threads: "",
  peer_blas_threads: "",
};

/**
 * The peer columns from a JSON object a peer printed: the `peer_info` line of our peers, or a
 * result line of another command (`torch` or `torch_version`, `threads`, …); missing fields are "".
 */
export function peerInfoFrom(o: Record<string, unknown>): PeerInfo {
  const str = (...keys: string[]) => {
    for (const k of keys) if (typeof o[k] === "string") return o[k] as string;
    return "";
  };
  const num = (...keys: string[]) => {
    for (const k of keys) if (typeof o[k] === "number") return o[k] as number;
    return "" as const;
  };
  return {
    torch_version: str("torch_version", "torch"),
    openblas_core: str("openblas_core"),
    cpu_capability: str("cpu_capability"),
    peer_threads: num("threads", "peer_threads"),
    peer_blas_threads: num("blas_threads", "peer_blas_threads"),
  };
}

/** One line about a peer process for the console. */
export function describePeer(info: PeerInfo): string {
  return `torch ${info.torch_version || "?"}, OpenBLAS core ${info.openblas_core || "n/a"}, ` +
    `CPU capability ${info.cpu_capability || "n/a"}, ${info.peer_threads || "?"} torch threads, ` +
    `${info.peer_blas_threads || "?"} OpenBLAS threads (${PEER_UNSET_ENV.join(", ")} unset)`;
}

/** One CSV row of the engine and operator benchmarks. */
export interface Row extends PeerInfo {
  name: string;
  shape: string;
  impl: string;
  metric: string;
  value: number;
  unit: string;
  ratio_to: string;
  ratio: number | "";
  /** When this row's figure was measured (ISO 8601, UTC). */
  measured_at: string;
}

/** The fields of a row that `makeRow` fills in when they are not given. */
export type RowInput =
  & Omit<Row, "ratio_to" | "ratio" | "measured_at" | keyof PeerInfo>
  & Partial<Pick<Row, "ratio_to" | "ratio" | "measured_at">>
  & { peer?: PeerInfo };

/** A Row with the columns in a fixed order; `measured_at` defaults to now. */
export function makeRow(r: RowInput): Row {
  return {
    name: r.name,
    shape: r.shape,
    impl: r.impl,
    metric: r.metric,
    value: r.value,
    unit: r.unit,
    ratio_to: r.ratio_to ?? "",
    ratio: r.ratio ?? "",
    measured_at: r.measured_at ?? new Date().toISOString(),
    ...(r.peer ?? NO_PEER_INFO),
  };
}

// ----------------------------------------------------------------------------- timing

/**
 * Best-of-n seconds of several functions, measured interleaved (A, B, A, B, …) after one warm-up
 * each, so that a change of machine load or clock during the run hits all of them alike: ratios
 * stay meaningful on a shared, noisy machine. `sync` waits for the backend after each call.
 */
export function bestTimes(fns: (() => void)[], n: number, sync: () => void): number[] {
  for (const fn of fns) fn(); // warm-up
  const best = fns.map(() => Infinity);
  for (let i = 0; i < n; i++) {
    fns.forEach((fn, j) => {
      const t0 = performance.now();
      fn();
      sync();
      best[j] = Math.min(best[j], (performance.now() - t0) / 1000);
    });
  }
  return best;
}

/** One timing from a side of `interleavedBest`: `key` names what was timed. */
export interface Sample {
  key: string;
  seconds: number;
  /** When it was measured (ISO 8601); `interleavedBest` stamps the end of the side's call if absent. */
  measured_at?: string;
  /** Anything to keep with the best sample (a peer's info, its dtype, …). */
  // deno-lint-ignore no-explicit-any
  extra?: Record<string, any>;
}

/**
 * One participant of `interleavedBest`: ours (timing one step in this process) or a peer (one run
 * of its process: its own warm-up, then one timed step per sample). It returns its samples of the
 * round; null means it failed and is not called again.
 */
export type Side = () => Sample[] | null | Promise<Sample[] | null>;

/**
 * `rounds` rounds of calling every side once, in order (ours, peer, ours, peer, …), keeping the
 * fastest sample of each key (best of `rounds`), with the time it was measured. Sides run one after
 * the other, never together, so a change of load between rounds hits all of them alike. `now`
 * stamps samples that bring no `measured_at`.
 */
export async function interleavedBest(
  rounds: number,
  sides: Side[],
  now: () => string = () => new Date().toISOString(),
): Promise<Map<string, Sample & { measured_at: string; rounds: number }>> {
  const best = new Map<string, Sample & { measured_at: string; rounds: number }>();
  const alive = sides.map(() => true);
  for (let r = 0; r < rounds; r++) {
    for (let s = 0; s < sides.length; s++) {
      if (!alive[s]) continue;
      const got = await sides[s]();
      if (got === null) {
        alive[s] = false;
        continue;
      }
      const stamp = now();
      for (const x of got) {
        const old = best.get(x.key);
        const n = (old?.rounds ?? 0) + 1;
        if (!old || x.seconds < old.seconds) {
          best.set(x.key, { ...x, measured_at: x.measured_at ?? stamp, rounds: n });
        } else old.rounds = n;
      }
    }
  }
  return best;
}

/** "ours X s vs peer Y s: ours faster/slower by Z×" (or "as fast" within 0.5 %). */
export function versusLine(ours: number, peer: number, peerName = "peer"): string {
  const head = `ours ${ours.toPrecision(4)} s vs ${peerName} ${peer.toPrecision(4)} s`;
  if (Math.abs(ours / peer - 1) < 0.005) return `${head}: as fast`;
  return ours < peer
    ? `${head}: ours faster by ${(peer / ours).toFixed(2)}×`
    : `${head}: ours slower by ${(ours / peer).toFixed(2)}×`;
}

/** A tensor of standard normal values drawn from `rng`. */
export function randomTensor(
  backend: Backend,
  shape: number[],
  rng: Rng,
  requiresGrad = false,
): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = rng.normal();
  return tensor(backend, d, shape, { requiresGrad });
}

// ----------------------------------------------------------------------------- peer processes

/**
 * Variables a peer process never sees. Some machines set them for our own OpenBLAS
 * (OPENBLAS_CORETYPE=Haswell, OPENBLAS_L2_SIZE): in a PyTorch peer they make OpenBLAS run AVX2
 * kernels on an AVX-512 CPU, a crippled peer. Dropped in the child only; our process keeps them.
 */
export const PEER_UNSET_ENV = ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"] as const;

/** `base` without the variables of PEER_UNSET_ENV (a new map; `base` is not changed). */
export function peerEnv(base: Record<string, string>): Record<string, string> {
  const env = { ...base };
  for (const k of PEER_UNSET_ENV) delete env[k];
  return env;
}

/**
 * The Deno.Command options of a peer process: `args`, the whole environment given explicitly
 * (`peerEnv(base)`, `clearEnv`, so nothing else is inherited), output piped.
 */
export function peerCommandOptions(
  args: string[],
  base: Record<string, string> = Deno.env.toObject(),
): Deno.CommandOptions {
  return { args, env: peerEnv(base), clearEnv: true, stdout: "piped", stderr: "piped" };
}

/** The outcome of a peer process. */
export interface PeerRun {
  success: boolean;
  code: number;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `cmd args` as a peer (the only way our benchmarks start one): with `peerCommandOptions`
 * (PEER_UNSET_ENV dropped), output collected. `base` is the environment to start from (ours).
 */
export async function spawnPeer(
  cmd: string,
  args: string[],
  base: Record<string, string> = Deno.env.toObject(),
): Promise<PeerRun> {
  const dec = new TextDecoder();
  try {
    const out = await new Deno.Command(cmd, peerCommandOptions(args, base)).output();
    return {
      success: out.success,
      code: out.code,
      signal: out.signal,
      stdout: dec.decode(out.stdout),
      stderr: dec.decode(out.stderr),
    };
  } catch (e) {
    return { success: false, code: -1, signal: null, stdout: "", stderr: String(e) };
  }
}

/** The last `n` lines of a peer's stderr, joined with " | ", for a warning. */
export function peerError(run: PeerRun, n = 3): string {
  const tail = run.stderr.trim().split("\n").slice(-n).join(" | ");
  return `exit ${run.code}${run.signal ? ` (signal ${run.signal})` : ""}: ${tail || "no message"}`;
}

/** The JSON objects of `text`, one a line; lines that are not a JSON object are skipped. */
// deno-lint-ignore no-explicit-any
export function jsonLines(text: string): Record<string, any>[] {
  // deno-lint-ignore no-explicit-any
  const out: Record<string, any>[] = [];
  for (const line of text.split("\n")) {
    const t = line.trim();
    if (!t.startsWith("{")) continue;
    try {
      const o = JSON.parse(t);
      if (o && typeof o === "object" && !Array.isArray(o)) out.push(o);
    } catch {
      // not a result line
    }
  }
  return out;
}

/**
 * Runs the PyTorch peer `peers/<script>` with /usr/bin/python3 (through `spawnPeer`) and returns
 * its `peer_info` line (PeerInfo) and the other JSON objects it prints one a line, each with its
 * `measured_at` (the peer's, else the end of the run); null, after a warning, when it fails (e.g.
 * no torch).
 */
export async function runPeer(
  script: string,
  args: string[],
  // deno-lint-ignore no-explicit-any
): Promise<{ info: PeerInfo; rows: Record<string, any>[] } | null> {
  const path = new URL(`../peers/${script}`, import.meta.url).pathname;
  const run = await spawnPeer("/usr/bin/python3", [path, ...args]);
  if (!run.success) {
    console.warn(`PyTorch peer skipped: ${peerError(run, 1)} (apt-get install python3-torch)`);
    return null;
  }
  const end = new Date().toISOString();
  const lines = jsonLines(run.stdout);
  const head = lines.find((o) => o.name === "peer_info");
  const info = head ? peerInfoFrom(head) : NO_PEER_INFO;
  console.log(`PyTorch peer (${script}): ${describePeer(info)}`);
  const rows = lines.filter((o) => o.name !== "peer_info").map((o) => ({ measured_at: end, ...o }));
  return { info, rows };
}

// ----------------------------------------------------------------------------- CSV

/**
 * Writes `rows` as CSV to `path` (atomically, creating its folder), each row followed by the
 * machine provenance and then `info`; says so on stdout.
 */
export async function writeBenchCsv<R extends object = Row>(
  path: string,
  rows: R[],
  info: Record<string, unknown>,
): Promise<void> {
  // The commit of the code measured: the start's, clean (benchArgs refused a dirty one for
  // results/), else the guard's label with the diff stored beside.
  const commit = startTree && !startTree.dirty
    ? startTree.commit
    : await guardResultsWrite(path, { allowDirty, what: "benchmark" });
  const all = { ...machineInfo(), commit, ...info };
  const full = rows.map((r) => ({ ...r, ...all })) as Record<string, Cell>[];
  const csv = await csvText(Object.keys(full[0] ?? {}), full);
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) || "/" : ".";
  await Deno.mkdir(dir, { recursive: true });
  await writeFileAtomic(path, csv);
  console.log(`wrote ${path}`);
}

/**
 * Pieces the benchmarks share: the CSV row, interleaved best-of-n timing, random tensors, the
 * PyTorch peer process, and writing the CSV with provenance.
 */
import { stringify } from "csv-stringify/sync";
import type { Backend } from "../engine/backend.ts";
import type { Rng } from "../engine/rng.ts";
import { type Tensor, tensor } from "../engine/tensor.ts";
import { machineInfo } from "./provenance.ts";
import { writeFileAtomic } from "../tasks/io.ts";

/** One CSV row of a benchmark. */
export interface Row {
  name: string;
  shape: string;
  impl: string;
  metric: string;
  value: number;
  unit: string;
  ratio_to: string;
  ratio: number | "";
}

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

/**
 * Runs the PyTorch peer `peers/<script>` with /usr/bin/python3 and returns the JSON objects it
 * prints one a line (without the `version` line); null, after a warning, when it fails (e.g. no
 * torch).
 */
// deno-lint-ignore no-explicit-any
export function runPeer(script: string, args: string[]): any[] | null {
  const path = new URL(`./peers/${script}`, import.meta.url).pathname;
  const out = new Deno.Command("/usr/bin/python3", {
    args: [path, ...args],
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  if (!out.success) {
    console.warn(
      `PyTorch peer skipped: ${
        new TextDecoder().decode(out.stderr).trim().split("\n").pop()
      } (apt-get install python3-torch)`,
    );
    return null;
  }
  return new TextDecoder().decode(out.stdout).trim().split("\n").map((line) => JSON.parse(line))
    .filter((o) => o.metric !== "version");
}

/**
 * Writes `rows` as CSV to `path` (atomically, creating its folder), each row followed by the
 * machine provenance and then `info`; says so on stdout.
 */
export async function writeBenchCsv<R extends object = Row>(
  path: string,
  rows: R[],
  info: Record<string, unknown>,
): Promise<void> {
  const all = { ...machineInfo(), ...info };
  const csv = stringify(rows.map((r) => ({ ...r, ...all })), { header: true });
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) || "/" : ".";
  await Deno.mkdir(dir, { recursive: true });
  await writeFileAtomic(path, csv);
  console.log(`wrote ${path}`);
}

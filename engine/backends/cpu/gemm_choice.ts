/**
 * Which GEMM the cpu backend's `blas: "auto"` uses, chosen by measurement: our own blocked C GEMM
 * and OpenBLAS's `cblas_sgemm`, each as this very process would call it (same library build, same
 * environment — including OPENBLAS_CORETYPE, which some machines set to force AVX2 kernels — same
 * thread count), timed interleaved on three products of a training step's shapes. OpenBLAS is
 * chosen when it takes at most MARGIN of our time; otherwise ours (it shares the OpenMP pool with
 * the other kernels, so a tie goes to it).
 *
 * The choice changes the f32 rounding of every product, so it is made once per machine and setting
 * and cached beside the native library (`gemm-choice-<key>.json`, key: CPU, library hash, OpenBLAS
 * path, thread count and the OpenBLAS environment variables): runs on one machine stay bitwise
 * reproducible, and the backend's `info.blasChoice` records what was measured.
 */
import { createHash } from "node:crypto";

/** OpenBLAS must take at most this fraction of our GEMM's time to be chosen. */
export const MARGIN = 0.97;

/** [m, n, k, transA, transB]: a qkv projection, an MLP down projection's weight gradient, an MLP
 * up projection (B·L = 2048 rows, width 512). */
export const SHAPES: readonly [number, number, number, boolean, boolean][] = [
  [2048, 1536, 512, false, true],
  [512, 1536, 2048, true, false],
  [2048, 512, 1536, false, false],
];

export interface GemmChoice {
  use: "own" | "openblas";
  ownGflops: number;
  openblasGflops: number;
  measuredAt: string;
  key: string;
}

/** What decides the choice (a change measures again). */
export function choiceKey(parts: Record<string, string | number>): string {
  const text = Object.keys(parts).sort().map((k) => `${k}=${parts[k]}`).join("\n");
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

/** The decision from two measured rates. */
export function decide(ownSeconds: number, openblasSeconds: number): "own" | "openblas" {
  return openblasSeconds <= MARGIN * ownSeconds ? "openblas" : "own";
}

/**
 * Best-of-`reps` total seconds of the SHAPES for each implementation, interleaved (own, OpenBLAS,
 * own, …) after one warm-up each. `gemm(impl, shape index)` runs one product.
 */
export function measure(
  gemm: (impl: 0 | 1, shape: number) => void,
  reps = 3,
): { seconds: [number, number]; flop: number } {
  const best: [number, number] = [Infinity, Infinity];
  const total: [number, number] = [0, 0];
  for (const impl of [0, 1] as const) SHAPES.forEach((_, s) => gemm(impl, s));
  for (let r = 0; r < reps; r++) {
    for (const impl of [0, 1] as const) {
      const t0 = performance.now();
      SHAPES.forEach((_, s) => gemm(impl, s));
      total[impl] = (performance.now() - t0) / 1000;
      best[impl] = Math.min(best[impl], total[impl]);
    }
  }
  const flop = SHAPES.reduce((a, [m, n, k]) => a + 2 * m * n * k, 0);
  return { seconds: best, flop };
}

/**
 * The cached choice for `key` in `dir`, or a new measurement (`run`) written there. A lock file
 * keeps concurrent processes (parallel tests) from measuring against each other.
 */
export function cachedChoice(
  dir: string,
  key: string,
  run: () => { seconds: [number, number]; flop: number },
): GemmChoice & { path: string; cached: boolean } {
  const path = `${dir}/gemm-choice-${key}.json`;
  const read = (): GemmChoice | null => {
    try {
      const c = JSON.parse(Deno.readTextFileSync(path)) as GemmChoice;
      return c.key === key && (c.use === "own" || c.use === "openblas") ? c : null;
    } catch {
      return null;
    }
  };
  const hit = read();
  if (hit) return { ...hit, path, cached: true };
  Deno.mkdirSync(dir, { recursive: true });
  const lock = Deno.openSync(`${path}.lock`, { create: true, write: true });
  try {
    lock.lockSync(true);
    const again = read();
    if (again) return { ...again, path, cached: true };
    const m = run();
    const c: GemmChoice = {
      use: decide(m.seconds[0], m.seconds[1]),
      ownGflops: m.flop / m.seconds[0] / 1e9,
      openblasGflops: m.flop / m.seconds[1] / 1e9,
      measuredAt: new Date().toISOString(),
      key,
    };
    Deno.writeTextFileSync(`${path}.tmp`, JSON.stringify(c, null, 2) + "\n");
    Deno.renameSync(`${path}.tmp`, path);
    return { ...c, path, cached: false };
  } finally {
    lock.unlockSync();
    lock.close();
  }
}

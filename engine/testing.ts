/**
 * Test helpers: the one closeness check the project uses, with per-dtype default tolerances, and
 * seeded random inputs.
 *
 * Closeness: |a − e| ≤ atol + rtol·|e| elementwise, where `e` is the expected (reference) value.
 * NaN matches only NaN at the same position; equal infinities match. Where a test loosens a
 * tolerance, it says why in a comment.
 *
 * @example
 * ```ts
 * import { assertClose, TOL_F64 } from "./testing.ts";
 * assertClose(new Float64Array([1, 2]), [1, 2 + 1e-12], TOL_F64);
 * ```
 */

import { AssertionError } from "node:assert";
import { backward } from "./autograd.ts";
import type { Backend } from "./backend.ts";
import { createCpuBackend } from "./backends/cpu/mod.ts";
import { NativeUnavailableError } from "./errors.ts";
import { mul } from "./ops.ts";
import { sum } from "./ops_nn.ts";
import { Rng } from "./rng.ts";
import { type Tensor, tensor } from "./tensor.ts";

/** Absolute and relative tolerance. */
export interface Tolerance {
  atol: number;
  rtol: number;
}

/** Default for float32 results (the default of `assertClose`). */
export const TOL_F32: Readonly<Tolerance> = Object.freeze({ atol: 1e-5, rtol: 1e-4 });
/** For float64 results, e.g. reference kernels against each other. */
export const TOL_F64: Readonly<Tolerance> = Object.freeze({ atol: 1e-10, rtol: 1e-8 });

/**
 * Asserts `actual` ≈ `expected` elementwise (see the module comment). On failure throws an
 * AssertionError naming the worst index (largest error relative to its allowance), both values,
 * the absolute and relative error, how many elements fail, and the lengths.
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  opts: { atol?: number; rtol?: number; msg?: string } = {},
): void {
  const atol = opts.atol ?? TOL_F32.atol;
  const rtol = opts.rtol ?? TOL_F32.rtol;
  const prefix = opts.msg ? `${opts.msg}: ` : "";
  if (!(atol >= 0 && rtol >= 0)) {
    throw new RangeError(`assertClose: tolerances must be >= 0: atol=${atol}, rtol=${rtol}`);
  }
  if (actual.length !== expected.length) {
    throw new AssertionError({
      message:
        `${prefix}assertClose: lengths differ: actual ${actual.length}, expected ${expected.length}`,
      actual: actual.length,
      expected: expected.length,
      operator: "assertClose",
    });
  }
  let failing = 0;
  let worst = -1;
  let worstScore = -1;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i], e = expected[i];
    let score: number;
    if (Number.isNaN(a) || Number.isNaN(e)) {
      score = Number.isNaN(a) && Number.isNaN(e) ? 0 : Infinity;
    } else if (a === e) {
      score = 0; // also covers equal infinities
    } else if (!Number.isFinite(a) || !Number.isFinite(e)) {
      score = Infinity; // an infinity matches only itself (rtol·∞ would allow anything)
    } else {
      const allowed = atol + rtol * Math.abs(e);
      const err = Math.abs(a - e);
      if (err <= allowed) score = 0;
      else score = allowed > 0 ? err / allowed : Infinity;
    }
    if (score > 0) {
      failing++;
      if (score > worstScore) {
        worstScore = score;
        worst = i;
      }
    }
  }
  if (failing === 0) return;
  const a = actual[worst], e = expected[worst];
  const absErr = Math.abs(a - e);
  const relErr = absErr / Math.abs(e);
  throw new AssertionError({
    message: `${prefix}assertClose: ${failing} of ${actual.length} elements differ ` +
      `(atol ${atol}, rtol ${rtol}); worst at index ${worst}: actual ${a}, expected ${e}, ` +
      `abs err ${absErr}, rel err ${relErr}; lengths ${actual.length}/${expected.length}`,
    actual: a,
    expected: e,
    operator: "assertClose",
  });
}

/** Range or spread of `randomArray` values: uniform in [lo, hi), or normal(mean, std). */
export type RandomSpec = { lo: number; hi: number } | { std: number; mean?: number };

/** A Float32Array of `n` seeded random values: uniform in [lo, hi) or normal with std (and mean). */
export function randomArray(rng: Rng, n: number, spec: RandomSpec): Float32Array {
  return fillRandom(rng, new Float32Array(n), spec);
}

/** Like `randomArray`, in float64 (for f64 reference checks and finite differences). */
export function randomArray64(rng: Rng, n: number, spec: RandomSpec): Float64Array {
  return fillRandom(rng, new Float64Array(n), spec);
}

function fillRandom<A extends Float32Array | Float64Array>(rng: Rng, arr: A, spec: RandomSpec): A {
  return "std" in spec
    ? rng.fillNormal(arr, spec.mean ?? 0, spec.std)
    : rng.fillUniform(arr, spec.lo, spec.hi);
}

/**
 * f's output and the gradients of its inputs (made from `data` with `shapes` on `be`) against a
 * fixed random cotangent, as Float32Arrays: what two ways of computing the same op must agree on.
 */
export function outputAndGrads(
  be: Backend,
  f: (...x: Tensor[]) => Tensor,
  data: Float32Array[],
  shapes: number[][],
): Float32Array[] {
  const inputs = data.map((d, k) => tensor(be, d, shapes[k], { requiresGrad: true }));
  const out = f(...inputs);
  const rng = new Rng(99);
  const cot = tensor(be, Array.from({ length: out.size }, () => rng.normal()), out.shape);
  backward(sum(mul(out, cot)));
  return [out, ...inputs.map((t) => t.grad!)].map((t) => Float32Array.from(t.toList()));
}

/** Asserts a[k] and b[k] hold the same floats bit for bit (-0 ≠ 0, NaN = NaN), naming what. */
export function assertSameBits(a: Float32Array[], b: Float32Array[], what: string[]): void {
  what.forEach((name, k) => {
    if (a[k].length !== b[k].length || !a[k].every((v, j) => Object.is(v, b[k][j]))) {
      throw new AssertionError({ message: `${name} differs bitwise` });
    }
  });
}

/** The native cpu backend, or null with a SKIPPED warning naming `what` where it cannot be built. */
export function cpuOrSkip(what: string): Backend | null {
  try {
    return createCpuBackend();
  } catch (e) {
    if (!(e instanceof NativeUnavailableError)) throw e;
    console.warn(`${what}: SKIPPED: ${e.message}`);
    return null;
  }
}

/**
 * Runs a command's `main(args, log)` in process, capturing what it logs and what it writes with
 * console.error (restored afterwards): the exit code and both streams' lines.
 */
export async function captureMain(
  main: (args: string[], log: (...a: unknown[]) => void) => Promise<number>,
  args: string[],
): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [], err: string[] = [];
  const orig = console.error;
  console.error = (...a: unknown[]) => err.push(a.join(" "));
  try {
    const code = await main(args, (...a: unknown[]) => out.push(a.join(" ")));
    return { code, out, err };
  } finally {
    console.error = orig;
  }
}

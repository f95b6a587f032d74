/**
 * Test helpers shared by the operator tests (and usable by any operator's test): the same
 * operator, parameters and random cotangent pushed through two backends and every result compared;
 * finite-difference checks of `forward` and `block` including every parameter; the tolerance rule
 * used against PyTorch.
 *
 * Tolerance rule (cross-backend and cross-framework, both f32): elementwise
 * |a − e| ≤ atol·max|e| + rtol·|e|. The absolute term is relative to the tensor's largest value
 * because reductions (weight gradients sum over B·L rows) cancel towards zero, where a purely
 * elementwise relative bound means nothing.
 */
import { backward } from "../engine/autograd.ts";
import type { Backend } from "../engine/backend.ts";
import { type BackendName, getBackend } from "../engine/backends/mod.ts";
import { NativeUnavailableError } from "../engine/errors.ts";
import { gradcheck, type GradcheckFailure } from "../engine/gradcheck.ts";
import { Rng } from "../engine/rng.ts";
import { assertClose, randomArray, type Tolerance } from "../engine/testing.ts";
import { type Tensor, tensor } from "../engine/tensor.ts";
import type { Operator } from "./operator.ts";
import { readSwitch } from "../engine/switches.ts";

let fast: { be: Backend | null; name: string; reason: string } | null = null;

/**
 * The backend the operator tests check against `ref`: `cpu`, or the one `TRM_TEST_BACKEND` names
 * (`cpu` | `cuda`) — on a GPU machine `TRM_TEST_BACKEND=cuda deno test -A operators/` runs the whole
 * operator suite on the cuda backend (dev/gpu/check.sh does). `be` is null, with the reason, when
 * it cannot load; the tests that need it are then ignored (and say so).
 */
export function fastBackend(): { be: Backend | null; name: string; reason: string } {
  if (fast) return fast;
  const name = readSwitch("TRM_TEST_BACKEND") ?? "cpu";
  if (name !== "cpu" && name !== "cuda") {
    throw new RangeError(`TRM_TEST_BACKEND must be cpu or cuda: ${name}`);
  }
  try {
    fast = { be: getBackend(name as BackendName), name, reason: "" };
  } catch (e) {
    if (!(e instanceof NativeUnavailableError)) throw e;
    fast = { be: null, name, reason: e.message };
  }
  return fast;
}

/** f32 vs f32 (different summation orders): |a − e| ≤ 1e-5·max|e| + 1e-4·|e|. */
export const TOL_OPS_F32: Readonly<Tolerance> = Object.freeze({ atol: 1e-5, rtol: 1e-4 });

/** assertClose with the scale-aware absolute term of the module comment. */
export function assertCloseScaled(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: Readonly<Tolerance> = TOL_OPS_F32,
  msg = "",
): void {
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  assertClose(actual, expected, { atol: tol.atol * Math.max(scale, 1e-30), rtol: tol.rtol, msg });
}

/** Output and gradients (input and every parameter) of one run, as host arrays. */
export interface RunResult {
  output: ArrayLike<number>;
  grads: Record<string, ArrayLike<number>>;
}

/**
 * Builds `make(be, rng)` with a fixed seed (so every backend gets the same parameters), runs
 * `which` (forward or block) on a seeded input of `shape` and backpropagates a seeded random
 * cotangent. Returns the output and all gradients ("input" and each parameter name).
 */
export function runOperator(
  be: Backend,
  make: (be: Backend, rng: Rng) => Operator,
  shape: readonly number[],
  which: "forward" | "block" = "forward",
  seed = 1,
): RunResult {
  const op = make(be, new Rng(seed));
  const rng = new Rng(seed + 1000);
  const n = shape.reduce((a, b) => a * b, 1);
  const x = tensor(be, randomArray(rng, n, { std: 1 }), shape, { requiresGrad: true });
  const y = which === "forward" ? op.forward(x) : op.block(x);
  const g = tensor(be, randomArray(rng, y.size, { std: 1 }), y.shape);
  backward(y, g);
  const grads: Record<string, ArrayLike<number>> = { input: x.grad!.toArray() };
  for (const [k, p] of Object.entries(op.params)) {
    if (!p.grad) throw new Error(`${op.kind}: parameter ${k} received no gradient`);
    grads[k] = p.grad.toArray();
  }
  return { output: y.toArray(), grads };
}

/** Asserts that two backends agree on the output and every gradient (TOL_OPS_F32 unless given). */
export function assertBackendsAgree(
  a: Backend,
  b: Backend,
  make: (be: Backend, rng: Rng) => Operator,
  shape: readonly number[],
  which: "forward" | "block" = "forward",
  tol: Readonly<Tolerance> = TOL_OPS_F32,
): void {
  const ra = runOperator(a, make, shape, which), rb = runOperator(b, make, shape, which);
  const at = `${which} [${shape.join(", ")}] ${a.name} vs ${b.name}`;
  assertCloseScaled(ra.output, rb.output, tol, `${at}: output`);
  for (const k of Object.keys(rb.grads)) {
    assertCloseScaled(ra.grads[k], rb.grads[k], tol, `${at}: grad ${k}`);
  }
}

/**
 * Finite-difference check (run on ref f64) of `forward` or `block` w.r.t. the input and every
 * parameter; at most `maxPerInput` random elements per tensor. Returns the failures.
 */
export function gradcheckOperator(
  be: Backend,
  op: Operator,
  shape: readonly number[],
  which: "forward" | "block" | "preBlock",
  opts: { maxPerInput?: number; seed?: number; atol?: number; rtol?: number } = {},
): { failures: GradcheckFailure[]; maxErr: number; checked: number } {
  const rng = new Rng(opts.seed ?? 7);
  const n = shape.reduce((a, b) => a * b, 1);
  const x = tensor(be, Array.from({ length: n }, () => rng.normal()), shape, {
    requiresGrad: true,
  });
  const params = Object.values(op.params);
  const f = (t: Tensor) => op[which](t);
  for (const p of params) p.grad = null;
  return gradcheck((t: Tensor) => f(t), [x, ...params], {
    maxPerInput: opts.maxPerInput ?? 40,
    seed: opts.seed,
    atol: opts.atol,
    rtol: opts.rtol,
  });
}

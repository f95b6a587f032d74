/**
 * Finite-difference gradient checking, for tests of every backward rule (and of the operators
 * built on them). Run it on the `ref` backend with `precision: "f64"` so central differences are
 * accurate to ~1e-9.
 */
import { backward, noGrad } from "./autograd.ts";
import type { Tensor } from "./tensor.ts";
import { Rng } from "./rng.ts";

export interface GradcheckOptions {
  /** Finite-difference step (default 1e-6). */
  eps?: number;
  /** Tolerances on |analytic − numeric| ≤ atol + rtol·|numeric| (defaults 1e-6, 1e-5). */
  atol?: number;
  rtol?: number;
  /** Check at most this many elements per input, chosen at random (default all). */
  maxPerInput?: number;
  /** Seed of the random cotangent and element choice. */
  seed?: number;
}

export interface GradcheckFailure {
  input: number;
  index: number;
  analytic: number;
  numeric: number;
}

/**
 * Compares the gradients of L = Σ w ⊙ f(inputs), for a fixed random cotangent w, with central
 * differences. Inputs that should be checked must have requiresGrad set. Returns the failures
 * (empty when all agree) and the largest error seen.
 */
export function gradcheck(
  f: (...inputs: Tensor[]) => Tensor,
  inputs: Tensor[],
  opts: GradcheckOptions = {},
): { failures: GradcheckFailure[]; maxErr: number; checked: number } {
  const eps = opts.eps ?? 1e-6, atol = opts.atol ?? 1e-6, rtol = opts.rtol ?? 1e-5;
  const rng = new Rng(opts.seed ?? 1234);
  for (const t of inputs) t.grad = null;

  const out = f(...inputs);
  const be = out.backend;
  const w = new Float64Array(out.size);
  for (let i = 0; i < w.length; i++) w[i] = rng.normal();
  const wBuf = be.alloc("f32", out.size);
  be.upload(wBuf, w);
  const wT = new (out.constructor as typeof Tensor)(be, wBuf, out.shape, "f32");
  backward(out, wT);

  const objective = (): number =>
    noGrad(() => {
      const y = f(...inputs).toArray();
      let s = 0;
      for (let i = 0; i < y.length; i++) s += w[i] * y[i];
      return s;
    });

  const failures: GradcheckFailure[] = [];
  let maxErr = 0, checked = 0;
  inputs.forEach((t, ti) => {
    if (!t.requiresGrad) return;
    const analytic = t.grad ? t.grad.toArray() : new Float64Array(t.size);
    const host = Float64Array.from(t.toArray());
    let idx = Array.from({ length: t.size }, (_, i) => i);
    if (opts.maxPerInput !== undefined && idx.length > opts.maxPerInput) {
      rng.shuffle(idx);
      idx = idx.slice(0, opts.maxPerInput);
    }
    for (const i of idx) {
      const orig = host[i];
      host[i] = orig + eps;
      be.upload(t.buf, host);
      const up = objective();
      host[i] = orig - eps;
      be.upload(t.buf, host);
      const down = objective();
      host[i] = orig;
      be.upload(t.buf, host);
      const numeric = (up - down) / (2 * eps);
      const err = Math.abs(analytic[i] - numeric);
      maxErr = Math.max(maxErr, err);
      checked++;
      if (!(err <= atol + rtol * Math.abs(numeric))) {
        failures.push({ input: ti, index: i, analytic: analytic[i], numeric });
      }
    }
  });
  return { failures, maxErr, checked };
}

/** Asserts `gradcheck(f, inputs, opts)` checked something and found no mismatch (for tests). */
export function assertGradients(
  name: string,
  f: (...inputs: Tensor[]) => Tensor,
  inputs: Tensor[],
  opts: GradcheckOptions = {},
): void {
  const r = gradcheck(f, inputs, opts);
  if (r.checked === 0) throw new Error(`${name}: nothing checked`);
  if (r.failures.length) {
    throw new Error(
      `${name}: ${r.failures.length} mismatches, max err ${r.maxErr}: ` +
        JSON.stringify(r.failures.slice(0, 3)),
    );
  }
}

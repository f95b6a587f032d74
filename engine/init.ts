/**
 * Parameter initialisers, matching TRM's `trunc_normal_init_` (itself a port of JAX's
 * `truncated_normal` initialiser), plus the special functions they need.
 *
 * Truncated normal, as TRM does it: sample a standard normal truncated to [lower, upper] by
 * inverse CDF (u uniform in (Φ(lower), Φ(upper)), x = Φ⁻¹(u)), then scale by
 * c = std / σ_trunc, where σ_trunc is the exact standard deviation of the truncated unit normal.
 * The result has standard deviation `std` and lies in [lower·c, upper·c]. For ±2, σ_trunc ≈
 * 0.8796256610 (the constant JAX hard-codes). Like TRM, the mean of an asymmetric truncation is not
 * subtracted.
 *
 * @example
 * ```ts
 * import { Rng } from "./rng.ts";
 * import { lecunNormal } from "./init.ts";
 * const w = lecunNormal(new Rng(0), 256, 512); // [256, 512], std 1/√512
 * ```
 */

import type { Rng } from "./rng.ts";

const TWO_OVER_SQRT_PI = 1.1283791670955126;
const INV_SQRT_PI = 0.5641895835477563;
const INV_SQRT_2PI = 0.3989422804014327;
const SQRT1_2 = Math.SQRT1_2;

/** Below this |x| erf uses its power series; above, its continued fraction (≤ 33 terms there). */
const SERIES_CUTOFF = 3;
/**
 * From this x on, erfc uses the continued fraction (≤ 57 terms there) rather than 1 − erf, which
 * would lose relative accuracy in the tail; below it erfc ≥ 4.7e-3, so 1 − erf stays within ~1e-14.
 */
const ERFC_CF_FROM = 2;

/**
 * erf(x) for |x| < SERIES_CUTOFF: the series erf(x) = 2/√π · e^{−x²} · Σ x(2x²)ⁿ / (2n+1)!!,
 * whose terms are all of one sign, so there is no cancellation.
 */
function erfSeries(x: number): number {
  const x2 = 2 * x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= x2 / (2 * n + 1);
    sum += term;
    if (Math.abs(term) <= 1e-17 * Math.abs(sum)) break;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-x * x) * sum;
}

/**
 * erfc(x) for x ≥ ERFC_CF_FROM: Laplace's continued fraction
 * erfc(x) = e^{−x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), evaluated by modified Lentz.
 */
function erfcContinuedFraction(x: number): number {
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let k = 1; k < 500; k++) {
    const a = k / 2;
    d = x + a * d;
    if (d === 0) d = tiny;
    d = 1 / d;
    c = x + a / c;
    if (c === 0) c = tiny;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return (INV_SQRT_PI * Math.exp(-x * x)) / f;
}

/** The error function, accurate to about 1e-15 absolute (checked against libm in the tests). */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (Math.abs(x) < SERIES_CUTOFF) return erfSeries(x);
  return x > 0 ? 1 - erfcContinuedFraction(x) : erfcContinuedFraction(-x) - 1;
}

/** The complementary error function 1 − erf(x), accurate in relative terms for large x. */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x >= ERFC_CF_FROM) return erfcContinuedFraction(x);
  if (x <= -ERFC_CF_FROM) return 2 - erfcContinuedFraction(-x);
  return 1 - erfSeries(x);
}

/** Standard normal density φ(x). */
export function normalPdf(x: number): number {
  return INV_SQRT_2PI * Math.exp(-0.5 * x * x);
}

/** Standard normal CDF Φ(x), computed from erfc on the tail side to keep relative accuracy. */
export function normalCdf(x: number): number {
  return x < 0 ? 0.5 * erfc(-x * SQRT1_2) : 1 - 0.5 * erfc(x * SQRT1_2);
}

/**
 * Inverse standard normal CDF Φ⁻¹(p): a starting point from Abramowitz & Stegun 26.2.23 (error
 * < 5e-4), refined by Halley steps on Φ(x) − p, which converge cubically to double precision.
 */
export function normalQuantile(p: number): number {
  if (!(p >= 0 && p <= 1)) return NaN;
  if (p === 0) return -Infinity;
  if (p === 1) return Infinity;
  const q = p < 0.5 ? p : 1 - p;
  const t = Math.sqrt(-2 * Math.log(q));
  const guess = t -
    (2.515517 + t * (0.802853 + t * 0.010328)) /
      (1 + t * (1.432788 + t * (0.189269 + t * 0.001308)));
  let x = p < 0.5 ? -guess : guess;
  for (let i = 0; i < 6; i++) {
    const r = normalCdf(x) - p;
    const pdf = normalPdf(x);
    if (pdf === 0) break;
    const u = r / pdf;
    const dx = u / (1 + 0.5 * x * u);
    x -= dx;
    if (Math.abs(dx) <= 1e-15 * Math.max(1, Math.abs(x))) break;
  }
  return x;
}

/**
 * Standard deviation of a unit normal truncated to [lower, upper]:
 * √(1 − (b·φ(b) − a·φ(a))/Z − ((φ(a) − φ(b))/Z)²), Z = Φ(b) − Φ(a).
 */
export function truncatedNormalStd(lower: number, upper: number): number {
  checkBounds("truncatedNormalStd", lower, upper);
  const z = normalCdf(upper) - normalCdf(lower);
  const pa = normalPdf(lower), pb = normalPdf(upper);
  const ratio = (pa - pb) / z;
  return Math.sqrt(1 - (upper * pb - lower * pa) / z - ratio * ratio);
}

function checkBounds(fn: string, lower: number, upper: number): void {
  if (!(Number.isFinite(lower) && Number.isFinite(upper) && lower < upper)) {
    throw new RangeError(`${fn}: need finite lower < upper: lower=${lower}, upper=${upper}`);
  }
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** The float32 nearest to `v` on the side toward zero-or-inside, so clamping never overshoots. */
function f32Inside(v: number, towardPositive: boolean): number {
  const f = Math.fround(v);
  if (towardPositive ? f >= v : f <= v) return f;
  // Step one ulp back inside: for a nonzero float, ±1 on the bit pattern moves away from or toward
  // zero depending on its sign.
  f32Scratch[0] = f;
  const awayFromZero = (f > 0) === towardPositive;
  if (f === 0) return towardPositive ? 1.4e-45 : -1.4e-45;
  u32Scratch[0] += awayFromZero ? 1 : -1;
  return f32Scratch[0];
}

/**
 * `n` samples of a normal with standard deviation `std`, truncated at [lower, upper] standard
 * deviations of the underlying normal and rescaled to have exactly `std` (see the module comment).
 * Sampling is by inverse CDF, as in TRM/JAX. Every value v satisfies lower·c ≤ v ≤ upper·c exactly,
 * with c = std / truncatedNormalStd(lower, upper). std = 0 gives zeros, as in TRM.
 */
export function truncNormal(
  rng: Rng,
  n: number,
  std: number,
  lower = -2,
  upper = 2,
): Float32Array {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`truncNormal: n must be a non-negative integer: ${n}`);
  }
  if (!(Number.isFinite(std) && std >= 0)) {
    throw new RangeError(`truncNormal: std must be finite and >= 0: ${std}`);
  }
  checkBounds("truncNormal", lower, upper);
  const out = new Float32Array(n);
  if (std === 0) return out;
  const c = std / truncatedNormalStd(lower, upper);
  const lo = f32Inside(lower * c, true);
  const hi = f32Inside(upper * c, false);
  const pLo = normalCdf(lower);
  const pWidth = normalCdf(upper) - pLo;
  for (let i = 0; i < n; i++) {
    const x = c * normalQuantile(pLo + pWidth * rng.uniform());
    const v = Math.fround(x);
    out[i] = v < lo ? lo : v > hi ? hi : v;
  }
  return out;
}

/**
 * LeCun-normal weights for a linear layer stored as [fanOut, fanIn] (row-major, flat): truncated
 * normal with std 1/√fanIn, truncated at ±2 standard deviations.
 */
export function lecunNormal(rng: Rng, fanOut: number, fanIn: number): Float32Array {
  if (!Number.isSafeInteger(fanOut) || fanOut < 0 || !Number.isSafeInteger(fanIn) || fanIn < 1) {
    throw new RangeError(`lecunNormal: need fanOut >= 0, fanIn >= 1: [${fanOut}, ${fanIn}]`);
  }
  return truncNormal(rng, fanOut * fanIn, 1 / Math.sqrt(fanIn));
}

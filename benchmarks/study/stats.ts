/**
 * The statistics of the study: summaries over seeds, Student-t intervals, a two-level bootstrap
 * over seeds and test items, paired and unpaired differences between two models, and the verdict
 * rule that turns a difference interval into "agrees" / "disagrees" / "inconclusive at this scale".
 *
 * Everything here is a pure function: no I/O, no clock, no global random state. Randomness comes
 * only from the engine's own generator (`engine/rng.ts`, xoshiro128** seeded through splitmix64),
 * passed explicitly as `opts.rng`; index draws use its unbiased `Rng.int(n)`. The same generator
 * state and the same inputs therefore always give the same interval. The order in which numbers
 * are drawn is part of the contract and is spelled out on each bootstrap function.
 *
 * Conventions:
 * - A "per-seed" input is either `number[]` (one value per seed, e.g. the exact accuracy of each
 *   seed) or `number[][]` (per seed, the outcome of every test item: 0/1 for exact accuracy, or any
 *   number); a seed's value is then the mean of its items. Index i is seed i.
 * - The standard deviation is the sample one (divisor n − 1). For a single value it is NaN (not
 *   0): one seed says nothing about the spread between seeds, so sd, se and the t-interval are NaN,
 *   and `verdict` reads a NaN interval as "inconclusive at this scale".
 * - Student-t quantiles are computed (inverse of the t CDF, through the regularized incomplete
 *   beta function, by bisection to ~1e-12), for any df > 0, integer or not (Welch's df is not).
 * - Percentile intervals take the sample quantiles of the resampled statistics with linear
 *   interpolation between order statistics (Hyndman–Fan type 7, R's default): the p-quantile of
 *   sorted x[0..B−1] is x[h] interpolated at h = (B − 1)·p.
 * - Empty inputs, non-finite values and mismatched pairs throw a `RangeError` that names the
 *   function and the problem.
 *
 * @example
 * ```ts
 * import { Rng } from "../../engine/rng.ts";
 * import { pairedDifference, verdict } from "./stats.ts";
 * const attn = [[1, 0, 1, 1], [1, 1, 0, 1]]; // per seed, per test item
 * const mamba = [[1, 1, 1, 1], [1, 1, 0, 1]];
 * const d = pairedDifference(attn, mamba, { rng: new Rng(0) });
 * verdict(d.bootstrap, 1); // paper: mamba > attn
 * ```
 */
import { Rng } from "../../engine/rng.ts";

/** A closed interval [lo, hi]; NaN bounds mean "no interval" (e.g. a single seed). */
export interface Interval {
  /** Lower bound. */
  lo: number;
  /** Upper bound. */
  hi: number;
}

/** Mean, sample sd, standard error and 95% Student-t interval of values over seeds. */
export interface Summary {
  /** Number of values (seeds). */
  n: number;
  /** Arithmetic mean. */
  mean: number;
  /** Sample standard deviation (n − 1); NaN when n = 1. */
  sd: number;
  /** sd / √n; NaN when n = 1. */
  se: number;
  /** mean ± t(0.975, n − 1)·se; [NaN, NaN] when n = 1. */
  ci95: Interval;
}

/** Options of the bootstrap functions. */
export interface BootstrapOptions {
  /** The generator the resampling draws from (advanced by the call). */
  rng: Rng;
  /** Number of bootstrap resamples B (default 2000). */
  resamples?: number;
  /** Confidence level of the intervals (default 0.95). */
  level?: number;
}

/** A bootstrap estimate: the statistic on the data and its percentile interval. */
export interface BootstrapResult {
  /** The statistic on the original data (mean over seeds of the per-seed item means). */
  estimate: number;
  /** Percentile interval of the B resampled statistics. */
  interval: Interval;
  /** Number of bootstrap resamples B used. */
  resamples: number;
  /** Confidence level of `interval`. */
  level: number;
}

/** Options of `pairedDifference`. */
export interface PairedOptions extends BootstrapOptions {
  /**
   * Per-item inputs only: whether item j of seed i is the same test item for both models (the
   * same test set in the same order). Then items are resampled jointly (one set of indices for
   * both models); otherwise each model's items are resampled independently within the seed.
   * Default true; true with different item counts for a seed is a RangeError.
   */
  sameItems?: boolean;
}

/** A difference b − a between two models, with a t-interval and a bootstrap interval. */
export interface DifferenceResult {
  /** Which function produced it. */
  kind: "paired" | "unpaired";
  /** Seeds of a (equal to nB when paired). */
  nA: number;
  /** Seeds of b. */
  nB: number;
  /** Paired: the per-seed differences b_i − a_i (per-item inputs: of the per-seed means). */
  diffs: number[] | null;
  /** Paired: mean of diffs. Unpaired: mean(b) − mean(a) over per-seed values. */
  mean: number;
  /** Paired: sample sd of diffs. Unpaired: null. */
  sd: number | null;
  /** Standard error of `mean` (unpaired: Welch's √(s_a²/n_a + s_b²/n_b)). */
  se: number;
  /** Degrees of freedom of the t-interval (paired: n − 1; unpaired: Welch–Satterthwaite). */
  df: number;
  /** mean ± t(1 − α/2, df)·se. */
  tInterval: Interval;
  /** Percentile bootstrap interval of the difference. */
  bootstrap: Interval;
  /** Confidence level of both intervals. */
  level: number;
  /** Number of bootstrap resamples B used. */
  resamples: number;
}

/** Outcome of the verdict rule. */
export type Verdict = "agrees" | "disagrees" | "inconclusive at this scale";

/** Options of `verdict`. */
export interface VerdictOptions {
  /**
   * Parity claims (direction 0) only, required there: the half-width of the equivalence band,
   * in the unit of the difference (e.g. 2 for 2 percentage points when values are in pct).
   */
  margin?: number;
}

/**
 * The verdict rule, as a report can quote it. `verdict` implements exactly this text.
 */
export const VERDICT_RULE: string =
  "Verdict rule. The difference is b − a (the second model minus the first), per seed on shared " +
  "seeds when the runs are paired, and its 95% interval is the one stated (bootstrap over seeds " +
  "and test items, or Student t over seeds). For a directional claim of the paper (b > a, " +
  "direction +1; or b < a, direction −1) the result AGREES when the interval excludes 0 on the " +
  "paper's side (lower bound > 0 for +1, upper bound < 0 for −1), DISAGREES when it excludes 0 " +
  "on the opposite side, and is INCONCLUSIVE AT THIS SCALE otherwise (the interval contains or " +
  "touches 0). For a parity claim (direction 0, e.g. pass@1 40.75 vs 40.50) with an equivalence " +
  "margin m, the result AGREES when the whole interval lies within [−m, +m], DISAGREES when it " +
  "lies entirely outside that band (lower bound > m or upper bound < −m), and is INCONCLUSIVE AT " +
  "THIS SCALE otherwise. An undefined interval (one seed: NaN bounds) is inconclusive.";

// ---------------------------------------------------------------------------------------------
// Validation helpers

function checkFinite(who: string, xs: readonly number[], what: string): void {
  for (let i = 0; i < xs.length; i++) {
    if (typeof xs[i] !== "number" || !Number.isFinite(xs[i])) {
      throw new RangeError(`${who}: ${what}[${i}] is not a finite number: ${String(xs[i])}`);
    }
  }
}

function checkLevel(who: string, level: number): void {
  if (!(typeof level === "number" && level > 0 && level < 1)) {
    throw new RangeError(`${who}: level must be in (0, 1): ${level}`);
  }
}

function checkResamples(who: string, b: number): void {
  if (!(Number.isInteger(b) && b >= 1)) {
    throw new RangeError(`${who}: resamples must be a positive integer: ${b}`);
  }
}

function checkRng(who: string, rng: unknown): asserts rng is Rng {
  if (!(rng instanceof Rng)) {
    throw new TypeError(`${who}: opts.rng must be an Rng from engine/rng.ts`);
  }
}

/** Per-seed input: one value per seed, or per seed the outcome of every test item. */
export type PerSeed = readonly number[] | readonly (readonly number[])[];

/** Normalizes a per-seed input: per-item arrays, or null for scalar-per-seed input. */
function perSeed(
  who: string,
  x: PerSeed,
  name: string,
): { values: number[]; items: (readonly number[])[] | null } {
  if (!Array.isArray(x) || x.length === 0) {
    throw new RangeError(`${who}: ${name} is empty (need at least one seed)`);
  }
  const nested = x.map((s) => Array.isArray(s));
  if (nested.every((v) => !v)) {
    const values = x as readonly number[];
    checkFinite(who, values, name);
    return { values: [...values], items: null };
  }
  if (!nested.every((v) => v)) {
    throw new RangeError(`${who}: ${name} mixes per-seed values and per-item arrays`);
  }
  const items = x as readonly (readonly number[])[];
  items.forEach((s, i) => {
    if (s.length === 0) throw new RangeError(`${who}: ${name}[${i}] has no items`);
    checkFinite(who, s, `${name}[${i}]`);
  });
  return { values: items.map(mean), items: [...items] };
}

// ---------------------------------------------------------------------------------------------
// Basic summaries

function mean(xs: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s / xs.length;
}

function sampleVariance(xs: readonly number[], m: number): number {
  if (xs.length < 2) return NaN;
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += (xs[i] - m) ** 2;
  return s / (xs.length - 1);
}

/**
 * n, mean, sample sd (n − 1), standard error sd/√n and the 95% Student-t interval
 * mean ± t(0.975, n − 1)·se of `values` (one value per seed). For n = 1, sd, se and the interval
 * are NaN. Empty or non-finite input is a RangeError.
 */
export function summarize(values: readonly number[]): Summary {
  const who = "summarize";
  if (!Array.isArray(values) || values.length === 0) {
    throw new RangeError(`${who}: values is empty (need at least one seed)`);
  }
  checkFinite(who, values, "values");
  const n = values.length;
  const m = mean(values);
  const sd = Math.sqrt(sampleVariance(values, m));
  const se = sd / Math.sqrt(n);
  return { n, mean: m, sd, se, ci95: tIntervalOf(m, se, n - 1, 0.95) };
}

/** mean ± t(1 − α/2, df)·se, with a zero-width interval when se = 0 and NaN when undefined. */
function tIntervalOf(m: number, se: number, df: number, level: number): Interval {
  if (se === 0) return { lo: m, hi: m };
  if (!(Number.isFinite(se) && df > 0)) return { lo: NaN, hi: NaN };
  const h = tQuantile(1 - (1 - level) / 2, df) * se;
  return { lo: m - h, hi: m + h };
}

/**
 * Sample p-quantile of `values` with linear interpolation between order statistics (type 7):
 * sorted x, h = (n − 1)·p, x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋]). Does not modify `values`.
 */
export function quantile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new RangeError("quantile: values is empty");
  if (!(p >= 0 && p <= 1)) throw new RangeError(`quantile: p must be in [0, 1]: ${p}`);
  const x = Float64Array.from(values).sort();
  return sortedQuantile(x, p);
}

function sortedQuantile(x: Float64Array, p: number): number {
  const h = (x.length - 1) * p;
  const i = Math.floor(h);
  if (i >= x.length - 1) return x[x.length - 1];
  const f = h - i;
  return f === 0 ? x[i] : x[i] + f * (x[i + 1] - x[i]);
}

function percentileInterval(stats: Float64Array, level: number): Interval {
  stats.sort();
  const a = (1 - level) / 2;
  return { lo: sortedQuantile(stats, a), hi: sortedQuantile(stats, 1 - a) };
}

// ---------------------------------------------------------------------------------------------
// Student t distribution

/** ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms; relative error ~1e-15). */
function logGamma(x: number): number {
  const c = [
    0.99999999999980993,
    676.5203681218851,
    -1259.1392167224028,
    771.32342877765313,
    -176.61502916214059,
    12.507343278686905,
    -0.13857109526572012,
    9.9843695780195716e-6,
    1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let a = c[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction of the incomplete beta function (modified Lentz). */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 100000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) return h;
  }
  return h;
}

/** Regularized incomplete beta I_x(a, b) for 0 ≤ x ≤ 1, a, b > 0. */
function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(
    logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log1p(-x),
  );
  if (x < (a + 1) / (a + b + 2)) return (front * betaContinuedFraction(x, a, b)) / a;
  return 1 - (front * betaContinuedFraction(1 - x, b, a)) / b;
}

/** P(T ≤ t) for Student's t with `df` > 0 degrees of freedom. */
export function tCdf(t: number, df: number): number {
  if (!(df > 0 && Number.isFinite(df))) {
    throw new RangeError(`tCdf: df must be a finite number > 0: ${df}`);
  }
  if (Number.isNaN(t)) return NaN;
  if (t === Infinity) return 1;
  if (t === -Infinity) return 0;
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/**
 * The p-quantile of Student's t with `df` > 0 degrees of freedom (df need not be an integer),
 * by bisection on `tCdf` to a relative tolerance of ~1e-12. E.g. tQuantile(0.975, 2) = 4.3027,
 * tQuantile(0.975, 4) = 2.7764, tQuantile(0.975, 30) = 2.0423.
 */
export function tQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`tQuantile: p must be in (0, 1): ${p}`);
  if (!(df > 0 && Number.isFinite(df))) {
    throw new RangeError(`tQuantile: df must be a finite number > 0: ${df}`);
  }
  if (p === 0.5) return 0;
  if (p < 0.5) return -tQuantile(1 - p, df);
  let lo = 0;
  let hi = 1;
  while (tCdf(hi, df) < p) {
    lo = hi;
    hi *= 2;
    if (hi > 1e300) return Infinity;
  }
  for (let i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (tCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

// ---------------------------------------------------------------------------------------------
// Bootstrap

/** Mean of `items` at `n` indices drawn with replacement from `rng`. */
function resampledMean(items: readonly number[], rng: Rng): number {
  const n = items.length;
  let s = 0;
  for (let j = 0; j < n; j++) s += items[rng.int(n)];
  return s / n;
}

/**
 * Mean over `seeds.length` seeds drawn with replacement of each drawn seed's (resampled) value.
 * Draw order: one seed index, then (per-item input) that seed's item indices, then the next seed.
 */
function resampledSeedMean(
  values: readonly number[],
  items: (readonly number[])[] | null,
  rng: Rng,
) {
  const S = values.length;
  let s = 0;
  for (let k = 0; k < S; k++) {
    const i = rng.int(S);
    s += items === null ? values[i] : resampledMean(items[i], rng);
  }
  return s / S;
}

/**
 * Two-level (seeds, then items) percentile bootstrap of a metric that is a mean over test items
 * per seed, averaged over seeds with equal weight per seed.
 *
 * Procedure. `outcomes[i]` holds seed i's per-item outcomes (0/1 for exact accuracy, or any
 * number); S = number of seeds, n_i = items of seed i. The statistic is
 * mean_i( mean_j outcomes[i][j] ). For each of B resamples (default 2000): draw S seed indices
 * uniformly with replacement; for each drawn seed i (a seed drawn twice is resampled twice,
 * independently), draw n_i item indices uniformly with replacement from that seed's items and
 * take their mean; the resampled statistic is the mean of those S means. The interval is the
 * percentile interval: the (1 − level)/2 and (1 + level)/2 type-7 quantiles of the B statistics.
 * Draws, in order, from `opts.rng` via `Rng.int`: per resample, a seed index followed by its item
 * indices, seed after seed. Resampling at both levels carries the item-sampling noise and the
 * seed-to-seed noise; it is somewhat conservative (item noise is counted in the seed spread too).
 *
 * With one seed this is the ordinary item bootstrap; with all outcomes equal the interval has
 * zero width. Scalar-per-seed input (`number[]`) resamples seeds only.
 */
export function bootstrapSeedsItems(
  outcomes: PerSeed,
  opts: BootstrapOptions,
): BootstrapResult {
  const who = "bootstrapSeedsItems";
  const { rng, resamples = 2000, level = 0.95 } = opts ?? ({} as BootstrapOptions);
  checkRng(who, rng);
  checkResamples(who, resamples);
  checkLevel(who, level);
  const { values, items } = perSeed(who, outcomes, "outcomes");
  const stats = new Float64Array(resamples);
  for (let b = 0; b < resamples; b++) stats[b] = resampledSeedMean(values, items, rng);
  return { estimate: mean(values), interval: percentileInterval(stats, level), resamples, level };
}

// ---------------------------------------------------------------------------------------------
// Differences between two models

/**
 * Paired difference b − a of two models run on the same seeds (index i is the same seed, with the
 * same data order, for both). `a` and `b` are per-seed values (`number[]`) or per-seed per-item
 * outcomes (`number[][]`, a seed's value being the mean over its items); both must be of the same
 * kind and have the same number of seeds, else RangeError.
 *
 * - diffs[i] = value_b[i] − value_a[i]; `mean`, `sd` (n − 1) and `se` are those of the diffs, and
 *   `tInterval` = mean ± t(1 − α/2, n − 1)·se (NaN bounds for one seed).
 * - `bootstrap`: B resamples (default 2000); each draws n seed indices with replacement, jointly
 *   for both models, and averages the drawn seeds' differences. Per-item input: for each drawn
 *   seed, when `sameItems` (default) one set of item indices is drawn and applied to both models
 *   (the difference of means over the same resampled items); otherwise a's items and then b's are
 *   resampled independently. Percentile interval (type-7 quantiles). Draw order from `opts.rng`:
 *   per resample, per drawn seed, the seed index then its item indices (a's then b's when not
 *   sameItems).
 */
export function pairedDifference(
  a: PerSeed,
  b: PerSeed,
  opts: PairedOptions,
): DifferenceResult {
  const who = "pairedDifference";
  const { rng, resamples = 2000, level = 0.95, sameItems = true } = opts ??
    ({} as PairedOptions);
  checkRng(who, rng);
  checkResamples(who, resamples);
  checkLevel(who, level);
  const A = perSeed(who, a, "a");
  const B = perSeed(who, b, "b");
  if (A.values.length !== B.values.length) {
    throw new RangeError(
      `${who}: a has ${A.values.length} seeds and b has ${B.values.length}; paired seeds must ` +
        `match (use unpairedDifference when they do not)`,
    );
  }
  if ((A.items === null) !== (B.items === null)) {
    throw new RangeError(`${who}: a and b must both be per-seed values or both per-item arrays`);
  }
  const S = A.values.length;
  if (A.items !== null && B.items !== null && sameItems) {
    for (let i = 0; i < S; i++) {
      if (A.items[i].length !== B.items[i].length) {
        throw new RangeError(
          `${who}: seed index ${i} has ${A.items[i].length} items in a and ` +
            `${B.items[i].length} in b; sameItems needs the same test items (or pass ` +
            `sameItems: false)`,
        );
      }
    }
  }
  const diffs = A.values.map((v, i) => B.values[i] - v);
  const m = mean(diffs);
  const sd = Math.sqrt(sampleVariance(diffs, m));
  const se = sd / Math.sqrt(S);

  const stats = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let s = 0;
    for (let k = 0; k < S; k++) {
      const i = rng.int(S);
      if (A.items === null || B.items === null) {
        s += diffs[i];
      } else if (sameItems) {
        const ai = A.items[i], bi = B.items[i];
        const n = ai.length;
        let t = 0;
        for (let j = 0; j < n; j++) {
          const idx = rng.int(n);
          t += bi[idx] - ai[idx];
        }
        s += t / n;
      } else {
        const ma = resampledMean(A.items[i], rng);
        s += resampledMean(B.items[i], rng) - ma;
      }
    }
    stats[r] = s / S;
  }
  return {
    kind: "paired",
    nA: S,
    nB: S,
    diffs,
    mean: m,
    sd,
    se,
    df: S - 1,
    tInterval: tIntervalOf(m, se, S - 1, level),
    bootstrap: percentileInterval(stats, level),
    level,
    resamples,
  };
}

/**
 * Unpaired difference mean(b) − mean(a) over per-seed values, for models whose seeds do not match
 * (seed counts may differ). Inputs as in `pairedDifference`; per-item arrays may have any item
 * counts.
 *
 * - `tInterval`: Welch's interval, se = √(s_a²/n_a + s_b²/n_b) and Welch–Satterthwaite df (NaN
 *   bounds when either model has one seed; zero width when both have zero spread).
 * - `bootstrap`: B resamples (default 2000); each resamples a's seeds (and items within each
 *   drawn seed) and then, independently, b's, exactly as `bootstrapSeedsItems` does, and takes
 *   the difference of the two resampled means. Percentile interval (type-7 quantiles).
 */
export function unpairedDifference(
  a: PerSeed,
  b: PerSeed,
  opts: BootstrapOptions,
): DifferenceResult {
  const who = "unpairedDifference";
  const { rng, resamples = 2000, level = 0.95 } = opts ?? ({} as BootstrapOptions);
  checkRng(who, rng);
  checkResamples(who, resamples);
  checkLevel(who, level);
  const A = perSeed(who, a, "a");
  const B = perSeed(who, b, "b");
  const na = A.values.length, nb = B.values.length;
  const ma = mean(A.values), mb = mean(B.values);
  const qa = sampleVariance(A.values, ma) / na;
  const qb = sampleVariance(B.values, mb) / nb;
  const se = Math.sqrt(qa + qb);
  const df = (qa + qb) ** 2 / (qa ** 2 / (na - 1) + qb ** 2 / (nb - 1));
  const m = mb - ma;
  const stats = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    const sa = resampledSeedMean(A.values, A.items, rng);
    stats[r] = resampledSeedMean(B.values, B.items, rng) - sa;
  }
  return {
    kind: "unpaired",
    nA: na,
    nB: nb,
    diffs: null,
    mean: m,
    sd: null,
    se,
    df,
    tInterval: tIntervalOf(m, se, df, level),
    bootstrap: percentileInterval(stats, level),
    level,
    resamples,
  };
}

/**
 * Pairs two models' per-seed data by seed id: the shared seeds in ascending order with a's and
 * b's entries aligned to them, and the seeds only one side has. Feed `a` and `b` to
 * `pairedDifference` (when `onlyA` and `onlyB` are empty, or to compare on the shared seeds).
 */
export function pairBySeed<T>(
  a: ReadonlyMap<number, T>,
  b: ReadonlyMap<number, T>,
): { seeds: number[]; a: T[]; b: T[]; onlyA: number[]; onlyB: number[] } {
  const seeds = [...a.keys()].filter((s) => b.has(s)).sort((x, y) => x - y);
  return {
    seeds,
    a: seeds.map((s) => a.get(s) as T),
    b: seeds.map((s) => b.get(s) as T),
    onlyA: [...a.keys()].filter((s) => !b.has(s)).sort((x, y) => x - y),
    onlyB: [...b.keys()].filter((s) => !a.has(s)).sort((x, y) => x - y),
  };
}

// ---------------------------------------------------------------------------------------------
// Verdict

/**
 * The verdict rule (quoted verbatim in `VERDICT_RULE`). `diffInterval` is the interval of the
 * difference b − a; `paperDirection` is the sign of b − a that the paper reports (+1: b > a,
 * −1: b < a, 0: parity).
 *
 * - Directional (±1): "agrees" when the interval excludes 0 on the paper's side (lo > 0 for +1,
 *   hi < 0 for −1), "disagrees" when it excludes 0 on the other side, else "inconclusive at this
 *   scale" (an interval touching 0 does not exclude it).
 * - Parity (0), with `opts.margin` = m ≥ 0 required: "agrees" when −m ≤ lo and hi ≤ m,
 *   "disagrees" when lo > m or hi < −m, else "inconclusive at this scale".
 * - NaN bounds (e.g. one seed) give "inconclusive at this scale". lo > hi, a bad direction, or a
 *   parity claim without a valid margin is a RangeError.
 */
export function verdict(
  diffInterval: Interval,
  paperDirection: 1 | -1 | 0,
  opts: VerdictOptions = {},
): Verdict {
  const who = "verdict";
  const { lo, hi } = diffInterval;
  if (lo > hi) throw new RangeError(`${who}: interval lo ${lo} > hi ${hi}`);
  if (paperDirection !== 1 && paperDirection !== -1 && paperDirection !== 0) {
    throw new RangeError(`${who}: paperDirection must be 1, -1 or 0: ${paperDirection}`);
  }
  if (Number.isNaN(lo) || Number.isNaN(hi)) return "inconclusive at this scale";
  if (paperDirection === 0) {
    const m = opts.margin;
    if (typeof m !== "number" || !(m >= 0) || !Number.isFinite(m)) {
      throw new RangeError(`${who}: a parity claim needs opts.margin, a finite number >= 0: ${m}`);
    }
    if (lo >= -m && hi <= m) return "agrees";
    if (lo > m || hi < -m) return "disagrees";
    return "inconclusive at this scale";
  }
  const above = lo > 0, below = hi < 0;
  if (paperDirection === 1) {
    return above ? "agrees" : below ? "disagrees" : "inconclusive at this scale";
  }
  return below ? "agrees" : above ? "disagrees" : "inconclusive at this scale";
}

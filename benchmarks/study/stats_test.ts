/**
 * stats.ts against hand-computed cases: summaries and Student-t intervals over seeds, computed t
 * quantiles against the printed table and closed forms, type-7 quantiles, the two-level bootstrap
 * (zero width for constant inputs, exact small cases, the normal approximation for a large 0/1
 * sample, reproducibility), paired and unpaired differences, every branch of the verdict rule,
 * and the RangeErrors for empty input and mismatched pairs.
 */
import assert from "node:assert/strict";
import { Rng } from "../../engine/rng.ts";
import {
  bootstrapSeedsItems,
  pairBySeed,
  pairedDifference,
  quantile,
  summarize,
  tCdf,
  tQuantile,
  unpairedDifference,
  verdict,
  VERDICT_RULE,
} from "./stats.ts";

const close = (actual: number, expected: number, tol: number, what = "") =>
  assert.ok(
    Math.abs(actual - expected) <= tol,
    `${what}: ${actual} is not within ${tol} of ${expected}`,
  );

/** A 0/1 sample with `ones` ones among `n` items (ones first). */
const zeroOne = (n: number, ones: number) => Array.from({ length: n }, (_, i) => i < ones ? 1 : 0);

Deno.test("summarize: [1, 2, 3] → mean 2, sd 1, 2 ± 4.303/√3", () => {
  const s = summarize([1, 2, 3]);
  assert.equal(s.n, 3);
  assert.equal(s.mean, 2);
  assert.equal(s.sd, 1);
  close(s.se, 1 / Math.sqrt(3), 1e-15, "se");
  close(s.ci95.lo, 2 - 4.303 / Math.sqrt(3), 1e-3, "lo");
  close(s.ci95.hi, 2 + 4.303 / Math.sqrt(3), 1e-3, "hi");
});

Deno.test("summarize: textbook sample, constant sample, one value", () => {
  const s = summarize([2, 4, 4, 4, 5, 5, 7, 9]); // Σ(x − 5)² = 32
  assert.equal(s.mean, 5);
  close(s.sd, Math.sqrt(32 / 7), 1e-12, "sd");
  close(s.ci95.hi - s.mean, 2.365 * Math.sqrt(32 / 7) / Math.sqrt(8), 1e-3, "half-width df 7");

  const c = summarize([5, 5, 5]);
  assert.deepEqual([c.sd, c.se, c.ci95.lo, c.ci95.hi], [0, 0, 5, 5]);

  const one = summarize([0.7]);
  assert.equal(one.n, 1);
  assert.equal(one.mean, 0.7);
  assert.ok(Number.isNaN(one.sd) && Number.isNaN(one.se));
  assert.ok(Number.isNaN(one.ci95.lo) && Number.isNaN(one.ci95.hi));
});

Deno.test("summarize: empty or non-finite input is a RangeError", () => {
  assert.throws(() => summarize([]), RangeError);
  assert.throws(() => summarize([1, NaN]), /values\[1\] is not a finite number/);
  assert.throws(() => summarize([1, Infinity]), RangeError);
});

Deno.test("tQuantile: the 0.975 table and closed forms", () => {
  const table: [number, number][] = [
    [1, 12.706],
    [2, 4.303],
    [3, 3.182],
    [4, 2.776],
    [5, 2.571],
    [7, 2.365],
    [10, 2.228],
    [20, 2.086],
    [30, 2.042],
    [60, 2.0],
    [120, 1.98],
    [1e6, 1.96],
  ];
  for (const [df, t] of table) close(tQuantile(0.975, df), t, 5e-4, `t(0.975, ${df})`);
  for (const p of [0.6, 0.9, 0.975, 0.995]) {
    // df 1 is Cauchy: tan(π(p − ½)); df 2: (2p − 1)/√(2p(1 − p)).
    close(tQuantile(p, 1), Math.tan(Math.PI * (p - 0.5)), 1e-9 * tQuantile(p, 1), `df 1, ${p}`);
    close(tQuantile(p, 2), (2 * p - 1) / Math.sqrt(2 * p * (1 - p)), 1e-10, `df 2, ${p}`);
    for (const df of [3, 4.5, 17]) close(tCdf(tQuantile(p, df), df), p, 1e-12, "round trip");
  }
  assert.equal(tQuantile(0.5, 3), 0);
  assert.equal(tQuantile(0.025, 4), -tQuantile(0.975, 4));
  const between = tQuantile(0.975, 4.5); // non-integer df (Welch) lies between its neighbours
  assert.ok(between < tQuantile(0.975, 4) && between > tQuantile(0.975, 5));
  assert.throws(() => tQuantile(1, 3), RangeError);
  assert.throws(() => tQuantile(0.975, 0), RangeError);
});

Deno.test("quantile: linear interpolation between order statistics (type 7)", () => {
  assert.equal(quantile([4, 1, 3, 2], 0.5), 2.5);
  assert.equal(quantile([4, 1, 3, 2], 0.25), 1.75);
  assert.equal(quantile([4, 1, 3, 2], 0), 1);
  assert.equal(quantile([4, 1, 3, 2], 1), 4);
  assert.throws(() => quantile([], 0.5), RangeError);
});

Deno.test("bootstrapSeedsItems: all-equal inputs give a zero-width interval", () => {
  const r = bootstrapSeedsItems([[0.7, 0.7, 0.7], [0.7, 0.7], [0.7, 0.7, 0.7, 0.7]], {
    rng: new Rng(1),
  });
  assert.equal(r.resamples, 2000);
  assert.equal(r.level, 0.95);
  assert.equal(r.interval.lo, r.estimate);
  assert.equal(r.interval.hi, r.estimate);
  const s = bootstrapSeedsItems([3, 3, 3], { rng: new Rng(1), resamples: 50 });
  assert.deepEqual([s.estimate, s.interval.lo, s.interval.hi], [3, 3, 3]);
});

Deno.test("bootstrapSeedsItems: small cases with known resampling distributions", () => {
  // Each case resamples to {0, ½, 1} with probabilities ¼, ½, ¼: the 95% interval is [0, 1] and
  // the 40% interval (quantiles 0.3 and 0.7) is [½, ½].
  const cases = [
    [[0, 1]], // one seed, two items: item resampling only
    [0, 1], // two seeds, scalar values: seed resampling only
    [[0, 0], [1, 1]], // two seeds, constant within each: seed resampling decides
  ];
  for (const c of cases) {
    const wide = bootstrapSeedsItems(c, { rng: new Rng(7) });
    assert.equal(wide.estimate, 0.5);
    assert.deepEqual(wide.interval, { lo: 0, hi: 1 }, JSON.stringify(c));
    const narrow = bootstrapSeedsItems(c, { rng: new Rng(7), level: 0.4 });
    assert.deepEqual(narrow.interval, { lo: 0.5, hi: 0.5 }, JSON.stringify(c));
  }
});

Deno.test("bootstrapSeedsItems: a large 0/1 sample matches the normal approximation", () => {
  // One seed, 1000 items, 40% correct: 0.4 ± 1.96·√(0.4·0.6/1000) = 0.4 ± 0.0304.
  const one = bootstrapSeedsItems([zeroOne(1000, 400)], {
    rng: new Rng(2024),
    resamples: 4000,
  });
  const h1 = 1.96 * Math.sqrt(0.24 / 1000);
  assert.equal(one.estimate, 0.4);
  assert.ok(one.interval.lo < 0.4 && one.interval.hi > 0.4);
  close(0.4 - one.interval.lo, h1, 0.15 * h1, "lower half-width");
  close(one.interval.hi - 0.4, h1, 0.15 * h1, "upper half-width");

  // Five seeds × 400 items, each 40% correct: no seed-to-seed spread, so the interval is the
  // item-level one over 2000 items in all.
  const five = bootstrapSeedsItems(Array.from({ length: 5 }, () => zeroOne(400, 160)), {
    rng: new Rng(2025),
    resamples: 4000,
  });
  const h5 = 1.96 * Math.sqrt(0.24 / 2000);
  close(five.estimate, 0.4, 1e-15, "estimate");
  close((five.interval.hi - five.interval.lo) / 2, h5, 0.15 * h5, "half-width over seeds");
});

Deno.test("bootstrapSeedsItems: reproducible for the same seed, not for another", () => {
  const data = [zeroOne(50, 20), zeroOne(60, 45), zeroOne(40, 10)];
  const a = bootstrapSeedsItems(data, { rng: new Rng(99), resamples: 500 });
  const b = bootstrapSeedsItems(data, { rng: new Rng(99), resamples: 500 });
  const c = bootstrapSeedsItems(data, { rng: new Rng(100), resamples: 500 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.interval, c.interval);
  assert.ok(a.interval.lo <= a.estimate && a.estimate <= a.interval.hi);
  // The passed generator is advanced: a second call on it draws a different stream.
  const rng = new Rng(99);
  bootstrapSeedsItems(data, { rng, resamples: 500 });
  assert.notDeepEqual(bootstrapSeedsItems(data, { rng, resamples: 500 }).interval, a.interval);
});

Deno.test("bootstrapSeedsItems: bad input is a clear error", () => {
  const rng = new Rng(0);
  assert.throws(() => bootstrapSeedsItems([], { rng }), /outcomes is empty/);
  assert.throws(() => bootstrapSeedsItems([[1], []], { rng }), /outcomes\[1\] has no items/);
  assert.throws(() => bootstrapSeedsItems([[1], 1] as number[][], { rng }), /mixes/);
  assert.throws(() => bootstrapSeedsItems([[1, NaN]], { rng }), RangeError);
  assert.throws(() => bootstrapSeedsItems([1], { rng, resamples: 0 }), RangeError);
  assert.throws(() => bootstrapSeedsItems([1], { rng, level: 1 }), RangeError);
  assert.throws(() => bootstrapSeedsItems([1], {} as { rng: Rng }), TypeError);
});

Deno.test("pairedDifference: [10, 12, 14] vs [11, 14, 17] → diffs [1, 2, 3]", () => {
  const d = pairedDifference([10, 12, 14], [11, 14, 17], { rng: new Rng(3) });
  assert.equal(d.kind, "paired");
  assert.deepEqual(d.diffs, [1, 2, 3]);
  assert.deepEqual([d.nA, d.nB, d.mean, d.sd, d.df], [3, 3, 2, 1, 2]);
  close(d.tInterval.lo, 2 - 4.303 / Math.sqrt(3), 1e-3, "lo");
  close(d.tInterval.hi, 2 + 4.303 / Math.sqrt(3), 1e-3, "hi");
  // Resampled means of three draws from {1, 2, 3} lie in [1, 3].
  assert.ok(1 <= d.bootstrap.lo && d.bootstrap.lo < 2 && 2 < d.bootstrap.hi && d.bootstrap.hi <= 3);
});

Deno.test("pairedDifference: seeds (and items) are resampled jointly", () => {
  // Per-seed values far apart, differences all 1: the paired intervals are [1, 1], the unpaired
  // ones are wide.
  const a = [0, 10, 20], b = [1, 11, 21];
  const p = pairedDifference(a, b, { rng: new Rng(4) });
  assert.deepEqual([p.tInterval, p.bootstrap], [{ lo: 1, hi: 1 }, { lo: 1, hi: 1 }]);
  const u = unpairedDifference(a, b, { rng: new Rng(4) });
  assert.equal(u.mean, 1);
  assert.ok(u.bootstrap.lo < -5 && u.bootstrap.hi > 7);

  // Per item: b = a + 1 item by item. Joint item resampling sees only the constant difference.
  const ai = [[1, 2, 3, 4], [5, 6, 7, 8]];
  const bi = ai.map((s) => s.map((x) => x + 1));
  const joint = pairedDifference(ai, bi, { rng: new Rng(5) });
  assert.deepEqual(joint.diffs, [1, 1]);
  assert.deepEqual(joint.bootstrap, { lo: 1, hi: 1 });
  const apart = pairedDifference(ai, bi, { rng: new Rng(5), sameItems: false });
  assert.ok(apart.bootstrap.lo < 1 && apart.bootstrap.hi > 1);
  assert.ok(apart.bootstrap.hi - apart.bootstrap.lo > 1.5); // ≈ [−0.1, 2] for most generators
});

Deno.test("pairedDifference: per-item 0/1 outcomes", () => {
  // Seed means a: ½, ½; b: ¾, ¾ → diffs [¼, ¼], sd 0 → t-interval [¼, ¼]. The per-item
  // differences are [0, 1, 0, 0] and [0, 0, 1, 0], so the bootstrap is not degenerate.
  const a = [[1, 0, 1, 0], [1, 1, 0, 0]];
  const b = [[1, 1, 1, 0], [1, 1, 1, 0]];
  const d = pairedDifference(a, b, { rng: new Rng(6) });
  assert.deepEqual(d.diffs, [0.25, 0.25]);
  assert.deepEqual(d.tInterval, { lo: 0.25, hi: 0.25 });
  assert.ok(d.bootstrap.lo < 0.25 && d.bootstrap.hi > 0.25);
  assert.ok(d.bootstrap.lo >= 0 && d.bootstrap.hi <= 1); // item diffs are 0 or 1
  assert.deepEqual(d, pairedDifference(a, b, { rng: new Rng(6) }));
});

Deno.test("pairedDifference: one seed has no t-interval and an inconclusive verdict", () => {
  const d = pairedDifference([0.4], [0.6], { rng: new Rng(8) });
  assert.equal(d.mean, 0.6 - 0.4);
  assert.ok(Number.isNaN(d.tInterval.lo) && Number.isNaN(d.tInterval.hi));
  assert.equal(verdict(d.tInterval, 1), "inconclusive at this scale");
});

Deno.test("pairedDifference: mismatched pairs are RangeErrors", () => {
  const rng = new Rng(0);
  assert.throws(() => pairedDifference([1, 2], [1, 2, 3], { rng }), /2 seeds and b has 3/);
  assert.throws(() => pairedDifference([], [], { rng }), /a is empty/);
  assert.throws(() => pairedDifference([1, 2], [[1], [2]], { rng }), /both be per-seed values/);
  assert.throws(
    () => pairedDifference([[1, 0], [1]], [[1, 0], [1, 1]], { rng }),
    /seed index 1 has 1 items in a and 2 in b/,
  );
  const ok = pairedDifference([[1, 0], [1]], [[1, 0], [1, 1]], { rng, sameItems: false });
  assert.deepEqual(ok.diffs, [0, 0]);
});

Deno.test("unpairedDifference: Welch interval by hand", () => {
  // a: mean 2, s² 1, n 3; b: mean 5.5, s² 5/3, n 4. se² = 1/3 + 5/12 = 3/4;
  // df = (3/4)² / ((1/3)²/2 + (5/12)²/3) = 4.95918…
  const a = [1, 2, 3], b = [4, 5, 6, 7];
  const u = unpairedDifference(a, b, { rng: new Rng(9) });
  assert.equal(u.kind, "unpaired");
  assert.deepEqual([u.nA, u.nB, u.mean, u.diffs, u.sd], [3, 4, 3.5, null, null]);
  close(u.se, Math.sqrt(0.75), 1e-15, "se");
  const df = 0.5625 / ((1 / 9) / 2 + (25 / 144) / 3);
  close(u.df, df, 1e-12, "df");
  close(u.tInterval.hi - 3.5, tQuantile(0.975, df) * Math.sqrt(0.75), 1e-12, "half-width");
  assert.ok(u.tInterval.hi - 3.5 > 2.571 * Math.sqrt(0.75)); // df < 5
  assert.ok(u.tInterval.hi - 3.5 < 2.776 * Math.sqrt(0.75)); // df > 4
  assert.ok(u.bootstrap.lo < 3.5 && 3.5 < u.bootstrap.hi);
  // Zero spread on both sides: zero-width intervals.
  const z = unpairedDifference([1, 1], [3, 3, 3], { rng: new Rng(9) });
  assert.deepEqual([z.tInterval, z.bootstrap], [{ lo: 2, hi: 2 }, { lo: 2, hi: 2 }]);
  assert.throws(() => unpairedDifference([1], [], { rng: new Rng(9) }), /b is empty/);
});

Deno.test("verdict: every branch of the rule", () => {
  const i = (lo: number, hi: number) => ({ lo, hi });
  const inc = "inconclusive at this scale";
  // Directional, paper says b > a.
  assert.equal(verdict(i(0.5, 2), 1), "agrees");
  assert.equal(verdict(i(-2, -0.5), 1), "disagrees");
  assert.equal(verdict(i(-1, 1), 1), inc);
  assert.equal(verdict(i(0, 1), 1), inc); // touching 0 does not exclude it
  // Directional, paper says b < a.
  assert.equal(verdict(i(-2, -0.5), -1), "agrees");
  assert.equal(verdict(i(0.5, 2), -1), "disagrees");
  assert.equal(verdict(i(-1, 1), -1), inc);
  // Parity with a 2-point margin (pass@1 40.75 vs 40.50).
  assert.equal(verdict(i(-1, 1.5), 0, { margin: 2 }), "agrees");
  assert.equal(verdict(i(-2, 2), 0, { margin: 2 }), "agrees"); // the band is closed
  assert.equal(verdict(i(2.5, 4), 0, { margin: 2 }), "disagrees");
  assert.equal(verdict(i(-5, -3), 0, { margin: 2 }), "disagrees");
  assert.equal(verdict(i(1, 3), 0, { margin: 2 }), inc);
  assert.equal(verdict(i(-3, 3), 0, { margin: 2 }), inc);
  // Undefined intervals and bad arguments.
  assert.equal(verdict(i(NaN, NaN), 1), inc);
  assert.equal(verdict(i(NaN, NaN), 0, { margin: 2 }), inc);
  assert.throws(() => verdict(i(-1, 1), 0), /needs opts.margin/);
  assert.throws(() => verdict(i(-1, 1), 0, { margin: -1 }), RangeError);
  assert.throws(() => verdict(i(2, 1), 1), /lo 2 > hi 1/);
  assert.throws(() => verdict(i(0, 1), 2 as 1), RangeError);
  for (const word of ["AGREES", "DISAGREES", "INCONCLUSIVE AT THIS SCALE", "margin", "b − a"]) {
    assert.ok(VERDICT_RULE.includes(word), word);
  }
});

Deno.test("pairBySeed: aligns shared seeds and lists the rest", () => {
  const a = new Map([[2, "a2"], [0, "a0"], [5, "a5"]]);
  const b = new Map([[0, "b0"], [2, "b2"], [3, "b3"]]);
  assert.deepEqual(pairBySeed(a, b), {
    seeds: [0, 2],
    a: ["a0", "a2"],
    b: ["b0", "b2"],
    onlyA: [5],
    onlyB: [3],
  });
});

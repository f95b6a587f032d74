import assert from "node:assert/strict";
import { Rng, splitmix64 } from "./rng.ts";

function draws(rng: Rng, n: number): number[] {
  return Array.from({ length: n }, () => rng.nextU32());
}

function correlation(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  let mx = 0, my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i] / n;
    my += y[i] / n;
  }
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
    syy += (y[i] - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
}

Deno.test("splitmix64 and xoshiro128** match their published known answers", () => {
  // splitmix64 from state 0: first output 0xe220a8397b1dcdaf.
  assert.equal(splitmix64(0n).value, 0xe220a8397b1dcdafn);
  // xoshiro128** from state words [1, 2, 3, 4] (first three values also worked by hand).
  const rng = Rng.fromState({ key: "0000000000000000", words: [1, 2, 3, 4], spare: null });
  assert.deepEqual(draws(rng, 6), [11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
});

Deno.test("same seed gives the same stream; different seeds differ", () => {
  assert.deepEqual(draws(new Rng(7), 100), draws(new Rng(7), 100));
  assert.deepEqual(draws(new Rng(7), 10), draws(new Rng(7n), 10));
  assert.notDeepEqual(draws(new Rng(7), 10), draws(new Rng(8), 10));
  // Seeds are taken modulo 2^64.
  assert.deepEqual(draws(new Rng(-1), 10), draws(new Rng((1n << 64n) - 1n), 10));
  assert.throws(() => new Rng(0.5), RangeError);
  assert.throws(() => new Rng(2 ** 60), RangeError);
});

Deno.test("uniform lies in [0, 1) with mean 1/2 and variance 1/12", () => {
  const rng = new Rng(1);
  const n = 200_000;
  let s = 0, s2 = 0;
  for (let i = 0; i < n; i++) {
    const u = rng.uniform();
    assert.ok(u >= 0 && u < 1);
    s += u;
    s2 += u * u;
  }
  const mean = s / n, variance = s2 / n - mean * mean;
  // Standard errors: 0.29/√n ≈ 6.5e-4 for the mean, ~2e-4 for the variance; bounds are ~8σ.
  assert.ok(Math.abs(mean - 0.5) < 5e-3, `mean ${mean}`);
  assert.ok(Math.abs(variance - 1 / 12) < 2e-3, `variance ${variance}`);
});

Deno.test("int(n) stays in range and is roughly uniform (chi-square)", () => {
  const rng = new Rng(2);
  for (const n of [1, 2, 3, 1000, 3 * 2 ** 30, 2 ** 32, 2 ** 32 + 1, 2 ** 53]) {
    for (let i = 0; i < 200; i++) {
      const x = rng.int(n);
      assert.ok(Number.isInteger(x) && x >= 0 && x < n, `int(${n}) gave ${x}`);
    }
  }
  const k = 10, draws = 100_000;
  const counts = new Array(k).fill(0);
  for (let i = 0; i < draws; i++) counts[rng.int(k)]++;
  const expected = draws / k;
  const chi2 = counts.reduce((acc, c) => acc + (c - expected) ** 2 / expected, 0);
  // 9 degrees of freedom: P(chi2 > 40) ≈ 7e-6, so a failure means real bias.
  assert.ok(chi2 < 40, `chi-square ${chi2}, counts ${counts}`);
  // A range that is not a power of two near 2^32: rejection keeps the halves balanced.
  const big = 3 * 2 ** 30;
  let low = 0;
  for (let i = 0; i < 20_000; i++) if (rng.int(big) < big / 2) low++;
  assert.ok(Math.abs(low / 20_000 - 0.5) < 0.02, `low half fraction ${low / 20_000}`);
  for (const bad of [0, -1, 1.5, 2 ** 53 + 2, NaN]) assert.throws(() => rng.int(bad), RangeError);
});

Deno.test("normal() has mean 0 and variance 1", () => {
  const rng = new Rng(3);
  const n = 200_000;
  let s = 0, s2 = 0, s4 = 0;
  for (let i = 0; i < n; i++) {
    const x = rng.normal();
    s += x;
    s2 += x * x;
    s4 += x ** 4;
  }
  const mean = s / n, variance = s2 / n - mean * mean;
  // Standard errors: 1/√n ≈ 2.2e-3 for the mean, √(2/n) ≈ 3.2e-3 for the variance.
  assert.ok(Math.abs(mean) < 0.012, `mean ${mean}`);
  assert.ok(Math.abs(variance - 1) < 0.016, `variance ${variance}`);
  // Kurtosis 3 distinguishes a normal from e.g. a uniform (1.8).
  assert.ok(Math.abs(s4 / n - 3) < 0.1, `fourth moment ${s4 / n}`);
});

Deno.test("fillUniform and fillNormal respect their parameters", () => {
  const rng = new Rng(4);
  const u = rng.fillUniform(new Float32Array(10_000), -3, -2);
  assert.ok(u.every((x) => x >= -3 && x < -2));
  // A range so narrow that float32 rounding would often hit hi: those draws are redrawn.
  const hi = 1 + 2 ** -23;
  assert.ok(rng.fillUniform(new Float32Array(1000), 1, hi).every((x) => x === 1));
  const g = rng.fillNormal(new Float64Array(50_000), 5, 0.5);
  const mean = g.reduce((a, b) => a + b, 0) / g.length;
  const sd = Math.sqrt(g.reduce((a, b) => a + (b - mean) ** 2, 0) / g.length);
  assert.ok(Math.abs(mean - 5) < 0.02 && Math.abs(sd - 0.5) < 0.01, `mean ${mean}, sd ${sd}`);
  assert.throws(() => rng.fillUniform(new Float32Array(1), 1, 1), RangeError);
  assert.throws(() => rng.fillNormal(new Float32Array(1), 0, -1), RangeError);
});

Deno.test("shuffle and permutation give permutations, uniformly over small n", () => {
  const rng = new Rng(5);
  const p = rng.permutation(1000);
  assert.deepEqual([...p].sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i));
  assert.equal(rng.permutation(0).length, 0);
  const arr = ["a", "b", "c", "d"];
  assert.equal(rng.shuffle(arr), arr);
  assert.deepEqual([...arr].sort(), ["a", "b", "c", "d"]);
  // All 6 orders of 3 elements appear about equally often.
  const counts = new Map<string, number>();
  for (let i = 0; i < 60_000; i++) {
    const key = rng.shuffle([0, 1, 2]).join("");
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  assert.equal(counts.size, 6);
  for (const [key, c] of counts) assert.ok(Math.abs(c - 10_000) < 600, `${key}: ${c}`);
});

Deno.test("fork is deterministic, does not advance the parent, and gives independent streams", () => {
  const a = new Rng(11);
  const before = a.state();
  const childA = a.fork("data");
  assert.deepEqual(a.state(), before, "fork advanced the parent");
  assert.deepEqual(draws(childA, 20), draws(new Rng(11).fork("data"), 20));
  // A child depends on the parent's key, not on how much the parent has drawn.
  const used = new Rng(11);
  draws(used, 1000);
  assert.deepEqual(draws(used.fork("data"), 20), draws(new Rng(11).fork("data"), 20));

  const parent = new Rng(11);
  const streams = [
    parent,
    parent.fork("data"),
    parent.fork("model"),
    parent.fork(1),
    parent.fork("1"),
  ];
  const seqs = streams.map((r) => Float64Array.from({ length: 20_000 }, () => r.uniform()));
  for (let i = 0; i < seqs.length; i++) {
    for (let j = i + 1; j < seqs.length; j++) {
      assert.notDeepEqual(seqs[i].subarray(0, 4), seqs[j].subarray(0, 4));
      // |r| of independent streams has standard error 1/√n ≈ 0.007.
      const r = correlation(seqs[i], seqs[j]);
      assert.ok(Math.abs(r) < 0.04, `streams ${i} and ${j} correlate: ${r}`);
    }
  }
  // Grandchildren differ from children with the same label.
  assert.notDeepEqual(draws(parent.fork("x").fork("x"), 4), draws(parent.fork("x"), 4));
  assert.throws(() => parent.fork(NaN), TypeError);
});

Deno.test("state round-trips through JSON and resumes exactly, including the cached normal", () => {
  const rng = new Rng(12);
  rng.normal(); // leaves the second value of the pair cached
  const saved = JSON.parse(JSON.stringify(rng.state()));
  assert.notEqual(saved.spare, null);
  const resumed = Rng.fromState(saved);
  const seq = () => [rng.normal(), rng.uniform(), rng.int(97), rng.nextU32()];
  const seqResumed =
    () => [resumed.normal(), resumed.uniform(), resumed.int(97), resumed.nextU32()];
  for (let i = 0; i < 50; i++) assert.deepEqual(seqResumed(), seq());
  assert.deepEqual(draws(resumed.fork("f"), 5), draws(rng.fork("f"), 5));

  assert.throws(() => Rng.fromState({ ...saved, words: [0, 0, 0, 0] }), RangeError);
  assert.throws(() => Rng.fromState({ ...saved, words: [1, 2, 3] }), TypeError);
  assert.throws(() => Rng.fromState({ ...saved, key: "xyz" }), TypeError);
  assert.throws(() => Rng.fromState({ ...saved, spare: "1" }), TypeError);
});

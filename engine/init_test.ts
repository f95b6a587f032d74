import assert from "node:assert/strict";
import {
  erf,
  erfc,
  lecunNormal,
  normalCdf,
  normalQuantile,
  truncatedNormalStd,
  truncNormal,
} from "./init.ts";
import { Rng } from "./rng.ts";

// Reference values from CPython's math.erf / math.erfc (libm) and statistics.NormalDist.inv_cdf.
const ERF_TABLE: [number, number, number][] = [
  [-3.5, -0.9999992569016276, 1.9999992569016276],
  [-1, -0.8427007929497149, 1.842700792949715],
  [0.1, 0.1124629160182849, 0.8875370839817152],
  [0.5, 0.5204998778130465, 0.4795001221869535],
  [1.3, 0.9340079449406524, 0.06599205505934755],
  [2, 0.9953222650189527, 0.004677734981047265],
  [2.9, 0.9999589021219005, 4.109787809945886e-05],
  [3.1, 0.9999883513426328, 1.1648657367199589e-05],
  [5, 0.9999999999984626, 1.5374597944280351e-12],
];

const QUANTILE_TABLE: [number, number][] = [
  [1e-10, -6.361340902404056],
  [0.001, -3.090232306167813],
  [0.3, -0.5244005127080407],
  [0.5, 0],
  [0.9, 1.2815515655446008],
];

function moments(x: Float32Array): { mean: number; std: number } {
  let s = 0;
  for (const v of x) s += v;
  const mean = s / x.length;
  let s2 = 0;
  for (const v of x) s2 += (v - mean) ** 2;
  return { mean, std: Math.sqrt(s2 / x.length) };
}

Deno.test("erf, erfc, normalQuantile match libm values", () => {
  for (const [x, e, ec] of ERF_TABLE) {
    assert.ok(Math.abs(erf(x) - e) < 1e-14, `erf(${x}) = ${erf(x)}, want ${e}`);
    // erfc is checked in relative terms: the tail is where it matters.
    assert.ok(Math.abs(erfc(x) / ec - 1) < 1e-12, `erfc(${x}) = ${erfc(x)}, want ${ec}`);
  }
  assert.equal(erf(0), 0);
  assert.ok(Number.isNaN(erf(NaN)));
  for (const [p, q] of QUANTILE_TABLE) {
    const got = normalQuantile(p);
    assert.ok(
      Math.abs(got - q) < 1e-12 * Math.max(1, Math.abs(q)),
      `Φ⁻¹(${p}) = ${got}, want ${q}`,
    );
  }
  for (let x = -6; x <= 3; x += 0.37) {
    assert.ok(Math.abs(normalQuantile(normalCdf(x)) - x) < 1e-12, `round trip at ${x}`);
  }
  assert.equal(normalQuantile(0), -Infinity);
  assert.equal(normalQuantile(1), Infinity);
});

Deno.test("truncatedNormalStd matches JAX's constant for ±2 and the untruncated limit", () => {
  assert.ok(Math.abs(truncatedNormalStd(-2, 2) - 0.87962566103423978) < 1e-12);
  assert.ok(Math.abs(truncatedNormalStd(-12, 12) - 1) < 1e-12);
  // The truncation to [0, ∞) is the half-normal: std √(1 − 2/π).
  assert.ok(Math.abs(truncatedNormalStd(0, 40) - Math.sqrt(1 - 2 / Math.PI)) < 1e-12);
  assert.throws(() => truncatedNormalStd(1, 1), RangeError);
});

Deno.test("truncNormal: std exactly as requested, every sample inside ±2c, symmetric", () => {
  const n = 1_000_000;
  const std = 0.02;
  const x = truncNormal(new Rng(0), n, std);
  const { mean, std: got } = moments(x);
  // The sample std of 1e6 draws has relative standard error ≈ 0.0007; the bound is ~7σ. Without
  // the compensation the std would be 0.88·std, far outside it.
  assert.ok(Math.abs(got / std - 1) < 0.005, `sample std ${got}, want ${std}`);
  assert.ok(Math.abs(mean) < 0.005 * std * 2, `mean ${mean}`);
  const c = std / truncatedNormalStd(-2, 2);
  let min = Infinity, max = -Infinity;
  for (const v of x) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  assert.ok(min >= -2 * c && max <= 2 * c, `range [${min}, ${max}], bound ${2 * c}`);
  // The tails are populated right up to the bound (P(|z| > 1.99 | |z| < 2) ≈ 1e-3 per sample).
  assert.ok(min < -1.99 * c && max > 1.99 * c, `range [${min}, ${max}] misses the tails`);
});

Deno.test("truncNormal: asymmetric bounds, std 0, determinism, argument checks", () => {
  const c = 1 / truncatedNormalStd(-1, 3);
  const x = truncNormal(new Rng(1), 200_000, 1, -1, 3);
  assert.ok(x.every((v) => v >= -c && v <= 3 * c));
  assert.ok(Math.abs(moments(x).std - 1) < 0.01, `std ${moments(x).std}`);

  assert.ok(truncNormal(new Rng(1), 10, 0).every((v) => v === 0));
  assert.deepEqual(truncNormal(new Rng(9), 100, 1), truncNormal(new Rng(9), 100, 1));
  assert.notDeepEqual(truncNormal(new Rng(9), 100, 1), truncNormal(new Rng(10), 100, 1));
  assert.throws(() => truncNormal(new Rng(0), -1, 1), RangeError);
  assert.throws(() => truncNormal(new Rng(0), 4, -1), RangeError);
  assert.throws(() => truncNormal(new Rng(0), 4, 1, 2, -2), RangeError);
});

Deno.test("lecunNormal has shape fanOut·fanIn and std 1/√fanIn", () => {
  const w = lecunNormal(new Rng(3), 300, 512);
  assert.equal(w.length, 300 * 512);
  const target = 1 / Math.sqrt(512);
  assert.ok(Math.abs(moments(w).std / target - 1) < 0.01, `std ${moments(w).std}`);
  assert.deepEqual(lecunNormal(new Rng(3), 3, 5), lecunNormal(new Rng(3), 3, 5));
  assert.throws(() => lecunNormal(new Rng(3), 3, 0), RangeError);
});

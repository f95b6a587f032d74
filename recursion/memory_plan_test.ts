import assert from "node:assert/strict";
import { choosePlan, type Footprint, footprintFrom, predict } from "./memory_plan.ts";

const MIB = 2 ** 20, GIB = 2 ** 30;

/** F(B, M) of a known footprint, as memory_plan.ts measures it. */
const f = (t: Footprint, b: number, m: number) => predict(t, b, m);

Deno.test("memory plan: four measurements recover the four terms exactly", () => {
  const truth = { fixed: 130 * MIB, carry: 3.6 * MIB, act: 426 * MIB, extra: 26 * MIB };
  for (const p of [2, 3, 5]) {
    const got = footprintFrom(
      f(truth, 1, 1),
      f(truth, p, 1),
      f(truth, p, p),
      f(truth, p + 1, p + 1),
      p,
    );
    for (const k of ["fixed", "carry", "act", "extra"] as const) {
      assert.ok(Math.abs(got[k] - truth[k]) < 1e-3, `${k} at P=${p}: ${got[k]} vs ${truth[k]}`);
    }
  }
  assert.throws(() => footprintFrom(1, 2, 3, 4, 1), /probe batch must be ≥ 2/);
  // the extra term applies only with several micro-batches
  assert.equal(f(truth, 8, 1), truth.fixed + 8 * (truth.carry + truth.act));
  assert.equal(f(truth, 8, 2), truth.fixed + 8 * truth.carry + 4 * truth.act + truth.extra);
});

Deno.test("memory plan: fewest micro-batches without recomputation, then with it, dividing B", () => {
  const whole = { fixed: GIB, carry: 4 * MIB, act: 430 * MIB, extra: 26 * MIB };
  const rec = { fixed: GIB, carry: 4 * MIB, act: 120 * MIB, extra: 0 };
  // 768 whole: ≈ 326 GiB; /2: ≈ 166; /3: ≈ 112 fits 125
  let c = choosePlan(whole, rec, 768, 125 * GIB)!;
  assert.deepEqual([c.microBatches, c.recompute], [3, false]);
  assert.ok(c.bytes <= 125 * GIB && predict(whole, 768, 2) > 125 * GIB);
  // 7 is prime: only 1 or 7 divide it
  c = choosePlan(whole, rec, 7, 1.5 * GIB)!;
  assert.deepEqual([c.microBatches, c.recompute], [7, false]);
  // too small for any plan without recomputation: the fewest with it
  // fixed + carry = 4 GiB; whole in 768 micro-batches ≈ 4.45 GiB; recomputed: 4 GiB + 92160/M MiB
  c = choosePlan(whole, rec, 768, 4.3 * GIB)!;
  assert.equal(c.recompute, true);
  assert.equal(c.microBatches, 384); // the smallest divisor of 768 with 92160/M ≤ 307
  assert.equal(choosePlan(whole, rec, 768, GIB), null, "nothing fits below the fixed part");
});

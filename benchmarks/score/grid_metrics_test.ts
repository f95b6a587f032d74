import assert from "node:assert/strict";
import { gridMetrics, parseGridExample } from "./grid_metrics.ts";

Deno.test("exact accuracy ignores −100 cells; cell accuracy is the mean of per-example fractions", () => {
  const m = gridMetrics([
    { prediction: [1, 2, 3, 4], label: [1, 2, 3, 4], steps: 16 }, // 4/4, exact
    { prediction: [9, 2, 3, 3], label: [-100, 2, 3, 4], steps: 8 }, // 2/3
    { prediction: [0, 0], label: [-100, 0], steps: 2 }, // 1/1, exact (ignored cell wrong)
    { prediction: [5, 5], label: [-100, -100], steps: 16 }, // nothing supervised: skipped
  ]);
  assert.equal(m.n, 3);
  assert.equal(m.nSkipped, 1);
  assert.equal(m.exactAccuracy, 2 / 3);
  assert.equal(m.cellAccuracy, (1 + 2 / 3 + 1) / 3);
  assert.equal(m.cellAccuracyPooled, 7 / 8);
  assert.equal(m.meanSteps, (16 + 8 + 2) / 3);
  assert.equal(m.supervisedCells, 8);
  assert.ok(Number.isNaN(gridMetrics([]).exactAccuracy));
  assert.throws(
    () => gridMetrics([{ prediction: [1], label: [1, 2], steps: 1 }]),
    TypeError,
  );
  assert.throws(() => gridMetrics([{ prediction: [1], label: [1], steps: 1.5 }]), RangeError);
});

Deno.test("parseGridExample checks the fields", () => {
  assert.deepEqual(parseGridExample({ prediction: [1], label: [-100], steps: 3, extra: 1 }), {
    prediction: [1],
    label: [-100],
    steps: 3,
  });
  assert.throws(() => parseGridExample([1]), /JSON object, got a list/);
  assert.throws(
    () => parseGridExample({ prediction: [1.5], label: [1], steps: 1 }),
    /"prediction"/,
  );
  assert.throws(() => parseGridExample({ prediction: [1], label: [], steps: 1 }), /"label"/);
  assert.throws(() => parseGridExample({ prediction: [1], label: [1], steps: -1 }), /"steps"/);
});

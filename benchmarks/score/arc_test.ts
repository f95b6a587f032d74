import assert from "node:assert/strict";
import { Rng } from "../../engine/rng.ts";
import { applyAug, augName, parseAugName, randomAug } from "../../tasks/arc/augment.ts";
import { ARC_EOS, ARC_SEQ_LEN } from "../../tasks/arc/encode.ts";
import { loadArcSource } from "../../tasks/arc/load.ts";
import { gridToRows, mapCells } from "../../tasks/grid.ts";
import { ArcVoter, gridKey, parsePrediction, PASS_KS, sigmoid } from "./arc.ts";
import { buildSubmission } from "./submission.ts";
import { arcAgi1, g, row, task, tokens } from "./testing.ts";

const I = g([[1, 2], [3, 4]]);
const O = g([[5, 6]]);
const W1 = g([[5, 5]]);
const W2 = g([[6, 6]]);
const one = () => task("a", [{ input: gridToRows(I), output: gridToRows(O) }]);

Deno.test("equal votes are ranked by mean sigmoid(q), not by mean logit", () => {
  // O: logits 3, 3 → mean logit 3, mean sigmoid 0.9526.
  // W1: logits 20, −1 → mean logit 9.5, mean sigmoid (1 + 0.2689)/2 = 0.6345.
  const v = new ArcVoter([one()]);
  v.add(row("a", I, W1, 20));
  v.add(row("a", I, O, 3));
  v.add(row("a", I, W1, -1));
  v.add(row("a", I, O, 3));
  v.add(row("a", I, W2, 50)); // one vote only: last whatever its q
  const s = v.result();
  const r = s.testInputs[0];
  assert.deepEqual(r.candidates.map((c) => c.key), [gridKey(O), gridKey(W1), gridKey(W2)]);
  assert.deepEqual(r.candidates.map((c) => c.votes), [2, 2, 1]);
  assert.ok(Math.abs(r.candidates[0].meanQ - sigmoid(3)) < 1e-15);
  assert.ok(Math.abs(r.candidates[1].meanQ - (sigmoid(20) + sigmoid(-1)) / 2) < 1e-15);
  assert.equal(r.correctRank, 1);
  assert.deepEqual(s.passAtK, [1, 1, 1, 1, 1, 1]);
});

Deno.test("lower mean q loses the tie; equal votes and q fall back to first seen", () => {
  const v = new ArcVoter([one()]);
  v.add(row("a", I, W1, 1));
  v.add(row("a", I, O, 0));
  v.add(row("a", I, O, 0));
  v.add(row("a", I, W1, 1));
  let s = v.result();
  assert.equal(s.testInputs[0].correctRank, 2);
  assert.deepEqual(s.passAtK, [0, 1, 1, 1, 1, 1]);

  const u = new ArcVoter([one()]);
  u.add(row("a", I, W1, 0.5));
  u.add(row("a", I, O, 0.5));
  s = u.result();
  assert.deepEqual(s.testInputs[0].candidates.map((c) => c.firstSeen), [0, 1]);
  assert.equal(s.testInputs[0].correctRank, 2);
  assert.deepEqual(s.passAtK, [0, 1, 1, 1, 1, 1]);
});

Deno.test("fractional credit: a task with 2 test inputs, one solved, scores 0.5", () => {
  const tasks = [
    task("two", [{ input: [[1]], output: [[2]] }, { input: [[3]], output: [[4]] }]),
    task("solo", [{ input: [[7]], output: [[8]] }]),
  ];
  const v = new ArcVoter(tasks);
  v.add(row("two", g([[1]]), g([[2]]), 0)); // test 0 right
  v.add(row("two", g([[3]]), g([[9]]), 0)); // test 1 wrong
  // "solo" gets no prediction: it scores 0 but stays in the denominator.
  const s = v.result();
  assert.equal(s.nTasks, 2);
  assert.equal(s.nTestInputs, 3);
  assert.equal(s.nTestInputsWithPredictions, 2);
  assert.deepEqual(s.tasks.map((t) => t.credit[0]), [0.5, 0]);
  assert.deepEqual(s.credit, [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]);
  assert.deepEqual(s.passAtK, [0.25, 0.25, 0.25, 0.25, 0.25, 0.25]);
  assert.equal(s.testInputs[2].nVotes, 0);
  assert.equal(s.testInputs[2].correctRank, 0);
});

Deno.test("K larger than the number of candidates: the answer in last place counts for K ≥ rank", () => {
  const v = new ArcVoter([one()]);
  for (let k = 0; k < 3; k++) v.add(row("a", I, W1, 0));
  for (let k = 0; k < 2; k++) v.add(row("a", I, W2, 0));
  v.add(row("a", I, O, 0));
  const s = v.result();
  assert.equal(s.testInputs[0].candidates.length, 3);
  assert.equal(s.testInputs[0].correctRank, 3);
  assert.deepEqual(s.passAtK, [0, 0, 1, 1, 1, 1]);
  const only = new ArcVoter([one()]);
  only.add(row("a", I, O, -4));
  assert.deepEqual(only.result().passAtK, [1, 1, 1, 1, 1, 1]);
  assert.deepEqual(only.result([1, 3, 7, 5000]).passAtK, [1, 1, 1, 1]);
  assert.throws(() => only.result([0]), RangeError);
});

Deno.test("empty crops are a candidate (the 0x0 grid) that is never correct", () => {
  const v = new ArcVoter([one()]);
  const blank = new Array(ARC_SEQ_LEN).fill(0); // all PAD
  const eosFirst = tokens(O).map((t, k) => (k === 0 ? ARC_EOS : t)); // EOS at top-left
  const inp = tokens(I);
  v.add({ puzzle: "a", input: inp, prediction: blank, qHaltLogit: 0 });
  v.add({ puzzle: "a", input: inp, prediction: eosFirst, qHaltLogit: 0 });
  // An empty crop under an augmentation stays empty (no inverse map to apply).
  v.add({
    puzzle: "a|||t3|||0213456789",
    input: tokens(applyAug(I, parseAugName("a|||t3|||0213456789").aug)),
    prediction: blank,
    qHaltLogit: 0,
  });
  v.add(row("a", I, O, 0));
  const s = v.result();
  const r = s.testInputs[0];
  assert.equal(r.candidates[0].key, "0x0:");
  assert.equal(r.candidates[0].votes, 3);
  assert.equal(r.correctRank, 2);
  assert.deepEqual(s.passAtK, [0, 1, 1, 1, 1, 1]);
  assert.deepEqual(buildSubmission(s).a[0], { attempt_1: [], attempt_2: [[5, 6]] });
  // An empty input crop matches no test input: an error.
  assert.throws(
    () => v.add({ puzzle: "a", input: blank, prediction: tokens(O), qHaltLogit: 0 }),
    (e: Error) => e instanceof RangeError && /cropped 0x0/.test(e.message),
  );
});

Deno.test("unknown task and unmatched input are errors naming the puzzle", () => {
  const v = new ArcVoter([one()]);
  assert.throws(
    () => v.add(row("zzz|||t1|||0123456789", I, O, 0)),
    (e: Error) => e instanceof RangeError && /unknown task zzz/.test(e.message),
  );
  assert.throws(
    () => v.add(row("a", g([[1, 2]]), O, 0)),
    (e: Error) =>
      e instanceof RangeError && /matches none of task a's 1 test input/.test(e.message),
  );
  // The right grid under the wrong augmentation name does not match either.
  assert.throws(() => v.add(row("a|||t1|||0123456789", I, O, 0)), RangeError);
  assert.throws(() => v.add(row("a|||t9|||0123456789", I, O, 0)), SyntaxError);
  assert.equal(v.size, 0);
});

Deno.test("parsePrediction checks every field", () => {
  const ok = { puzzle: "a", input: tokens(I), prediction: tokens(O), q_halt_logit: 0.25 };
  assert.equal(parsePrediction(ok).qHaltLogit, 0.25);
  const bad: [unknown, ErrorConstructor, RegExp][] = [
    [[1], TypeError, /JSON object/],
    [{ ...ok, puzzle: 3 }, TypeError, /"puzzle"/],
    [{ ...ok, input: [1, 2] }, TypeError, /"input": must have 900 tokens, has 2/],
    [
      { ...ok, prediction: ok.prediction.map((t, k) => (k === 7 ? 12 : t)) },
      RangeError,
      /token 7 is 12/,
    ],
    [{ ...ok, prediction: ok.prediction.map((t, k) => (k === 3 ? 1.5 : t)) }, TypeError, /token 3/],
    [{ ...ok, q_halt_logit: "1" }, TypeError, /"q_halt_logit"/],
    [{ ...ok, q_halt_logit: undefined }, TypeError, /"q_halt_logit"/],
  ];
  for (const [value, cls, msg] of bad) {
    assert.throws(
      () => parsePrediction(value),
      (e: Error) => e instanceof cls && msg.test(e.message),
    );
  }
});

Deno.test("all 8 dihedral maps x colour maps vote back to the true grid (real ARC task)", async () => {
  const root = arcAgi1();
  if (!root) return;
  const src = await loadArcSource(`${root}/evaluation`);
  const t = src.subsets.get("evaluation")!.find((x) => x.id === "8b28cd80");
  assert.ok(t, "task 8b28cd80 (2 test inputs) not found");
  assert.equal(t.test.length, 2);
  const rng = new Rng(11);
  const v = new ArcVoter([t]);
  let rows = 0;
  for (let d = 0; d < 8; d++) {
    for (let m = 0; m < 3; m++) {
      const aug = { t: d, map: randomAug(rng).map };
      const name = augName(t.id, aug);
      for (const pair of t.test) {
        const input = applyAug(pair.input, aug);
        v.add(row(name, input, applyAug(pair.output, aug), 0)); // right
        rows++;
        if (m === 0) {
          // A wrong answer: the right one with colour 0 replaced by 1 (fewer votes).
          const wrong = mapCells(pair.output, [1, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
          v.add(row(name, input, applyAug(wrong, aug), 5));
          rows++;
        }
      }
    }
  }
  const s = v.result();
  assert.equal(s.nPredictions, rows);
  for (const r of s.testInputs) {
    assert.equal(r.nVotes, 8 * 3 + 8);
    assert.equal(r.candidates.length, 2, "all right answers must invert to one grid");
    assert.equal(r.candidates[0].votes, 24);
    assert.equal(r.candidates[1].votes, 8);
    assert.equal(r.correctRank, 1);
  }
  assert.deepEqual(s.passAtK, PASS_KS.map(() => 1));
  const sub = buildSubmission(s)[t.id];
  assert.deepEqual(sub.map((e) => e.attempt_1), t.test.map((p) => gridToRows(p.output)));
});

Deno.test("oracle predictions on all 400 ARC-AGI-1 evaluation tasks score 100%; 399/400 without one task", async () => {
  const root = arcAgi1();
  if (!root) return;
  const tasks = (await loadArcSource(root)).subsets.get("evaluation")!;
  assert.equal(tasks.length, 400);
  const v = new ArcVoter(tasks);
  for (const t of tasks.slice(1)) for (const p of t.test) v.add(row(t.id, p.input, p.output, 0));
  const s = v.result();
  assert.equal(s.nTasks, 400);
  assert.equal(s.nTestInputs, 419);
  assert.equal(s.nTestInputsWithPredictions, 419 - tasks[0].test.length);
  assert.deepEqual(s.passAtK, PASS_KS.map(() => 399 / 400));
});

import assert from "node:assert/strict";
import { Rng } from "../../engine/rng.ts";
import {
  applyAug,
  augName,
  IDENTITY_AUG,
  parseAugName,
  randomAug,
} from "../../tasks/arc/augment.ts";
import { ARC_AGI_1_DIR } from "../../tasks/arc/data.ts";
import { ARC_EOS, ARC_SEQ_LEN } from "../../tasks/arc/encode.ts";
import { type ArcTask, loadArcSource } from "../../tasks/arc/load.ts";
import { type Grid, gridToRows, makeGrid, mapCells } from "../../tasks/grid.ts";
import { type ArcPrediction, ArcVoter, gridKey, parsePrediction, PASS_KS, sigmoid } from "./arc.ts";
import { buildSubmission } from "./submission.ts";
import { g, row, task, tokens } from "./testing.ts";

/** A row as its PRED.jsonl object. */
const jsonObject = (p: ArcPrediction) => ({
  puzzle: p.puzzle,
  input: Array.from(p.input),
  prediction: Array.from(p.prediction),
  q_halt_logit: p.qHaltLogit,
});

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
  // the empty candidate is written as the placeholder grid (the format refuses `[]`)
  assert.deepEqual(buildSubmission(s).a[0], { attempt_1: [[0]], attempt_2: [[5, 6]] });
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
  const src = await loadArcSource(`${ARC_AGI_1_DIR}/evaluation`);
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
  const tasks = (await loadArcSource(ARC_AGI_1_DIR)).subsets.get("evaluation")!;
  assert.equal(tasks.length, 400);
  const v = new ArcVoter(tasks);
  for (const t of tasks.slice(1)) for (const p of t.test) v.add(row(t.id, p.input, p.output, 0));
  const s = v.result();
  assert.equal(s.nTasks, 400);
  assert.equal(s.nTestInputs, 419);
  assert.equal(s.nTestInputsWithPredictions, 419 - tasks[0].test.length);
  assert.deepEqual(s.passAtK, PASS_KS.map(() => 399 / 400));
});

Deno.test("a 100-token (10x10) PRED set scores as the same grids on the 900-token canvas", () => {
  const rng = new Rng(17);
  const grid = (h: number, w: number) =>
    makeGrid(h, w, Array.from({ length: h * w }, () => rng.int(10)));
  const size = () => 1 + rng.int(10);
  const tasks = Array.from({ length: 6 }, (_, k): ArcTask => ({
    id: `t${k}`,
    subset: "evaluation",
    train: [{ input: grid(2, 2), output: grid(2, 2) }],
    test: Array.from({ length: k === 3 ? 2 : 1 }, () => ({
      input: k === 0 ? grid(10, 10) : grid(size(), size()),
      output: k === 1 ? grid(10, 10) : k === 2 ? grid(3, 10) : grid(size(), size()),
    })),
  }));
  const empty = { h: 0, w: 0, cells: new Uint8Array(0) };
  // Rows: every test input under several augmentations; right, wrong and empty answers.
  const rows: { puzzle: string; input: Grid; prediction: Grid; q: number }[] = [];
  for (const t of tasks) {
    for (let v = 0; v < 6; v++) {
      const aug = v === 0 ? IDENTITY_AUG : randomAug(rng);
      const puzzle = augName(t.id, aug);
      for (const p of t.test) {
        const roll = rng.int(10);
        const answer = roll < 5
          ? p.output
          : roll < 9
          ? (rng.int(2) ? grid(2, 3) : grid(size(), size()))
          : null;
        rows.push({
          puzzle,
          input: applyAug(p.input, aug),
          prediction: answer === null ? empty : applyAug(answer, aug),
          q: rng.normal() * 3,
        });
      }
    }
  }
  const score = (canvas: number) => {
    const v = new ArcVoter(tasks);
    for (const r of rows) {
      const p = row(r.puzzle, r.input, r.prediction, r.q, canvas);
      assert.equal(p.input.length, canvas * canvas);
      v.add(parsePrediction(jsonObject(p)));
    }
    return v.result();
  };
  const s10 = score(10), s30 = score(30);
  assert.deepEqual(s10.passAtK, s30.passAtK);
  assert.deepEqual(s10.credit, s30.credit);
  const view = (s: typeof s10) =>
    s.testInputs.map((t) => ({
      rank: t.correctRank,
      cands: t.candidates.map((c) => [c.key, c.votes, c.meanQ, c.firstSeen]),
    }));
  assert.deepEqual(view(s10), view(s30));
  assert.deepEqual(buildSubmission(s10), buildSubmission(s30));
  // Not a trivial case: votes pooled across augmentations, some solved, some not, empty crops.
  assert.ok(s10.passAtK[0] > 0 && s10.passAtK[0] < 1, `pass@1 ${s10.passAtK[0]}`);
  assert.ok(s10.testInputs.some((t) => t.candidates[0].votes > 1));
  assert.ok(s10.testInputs.some((t) => t.candidates.some((c) => c.key === "0x0:")));
});

Deno.test("token lists: s*s for s in 1..30, input and prediction on one canvas, else errors", () => {
  const ok10 = jsonObject(row("a", I, O, 0.5, 10));
  assert.equal(parsePrediction(ok10).input.length, 100);
  const tiny = jsonObject(row("a", g([[3]]), g([[4]]), 0, 1));
  assert.deepEqual([tiny.input, tiny.prediction], [[5], [6]]);
  assert.equal(parsePrediction(tiny).prediction.length, 1);
  const other = `\\(or s×s for a canvas side s in 1\\.\\.29\\)`;
  const bad: [unknown, RegExp][] = [
    [
      { ...ok10, input: new Array(99).fill(0) },
      new RegExp(`"input": must have 900 tokens, has 99 ${other}`),
    ],
    [{ ...ok10, input: new Array(961).fill(0) }, /"input": must have 900 tokens, has 961/],
    [{ ...ok10, input: [] }, /"input": must have 900 tokens, has 0/],
    [
      { ...ok10, prediction: tokens(O) },
      /"prediction": has 900 tokens, the input 100 \(a 30x30 canvas against 10x10\): input and prediction must be on the same canvas/,
    ],
    [
      { ...ok10, prediction: tokens(O, 11) },
      /"prediction": has 121 tokens, the input 100 \(a 11x11 canvas/,
    ],
    [{ ...ok10, prediction: new Array(50).fill(2) }, /"prediction": must have 900 tokens, has 50/],
    [{ ...ok10, input: tokens(I) }, /"prediction": has 100 tokens, the input 900/],
    [{ ...ok10, input: "x" }, /"input": must be a list of 900 tokens/],
  ];
  for (const [value, msg] of bad) {
    assert.throws(
      () => parsePrediction(value),
      (e: Error) => e instanceof TypeError && msg.test(e.message),
      String(msg),
    );
  }
  // Token range errors are unchanged on a small canvas.
  assert.throws(
    () =>
      parsePrediction({ ...ok10, prediction: ok10.prediction.map((t, k) => (k === 7 ? 12 : t)) }),
    (e: Error) => e instanceof RangeError && /token 7 is 12/.test(e.message),
  );
  // The voter checks rows built in code too.
  const v = new ArcVoter([one()]);
  assert.throws(
    () => v.add({ puzzle: "a", input: tokens(I, 10), prediction: tokens(O), qHaltLogit: 0 }),
    (e: Error) => e instanceof TypeError && /same canvas/.test(e.message),
  );
  assert.throws(
    () =>
      v.add({
        puzzle: "a",
        input: new Array(10).fill(2),
        prediction: new Array(10).fill(2),
        qHaltLogit: 0,
      }),
    (e: Error) => e instanceof TypeError && /has 10 /.test(e.message),
  );
  assert.equal(v.size, 0);
  v.add(row("a", I, O, 0, 2)); // a 2x2 grid exactly fills a 2x2 canvas
  assert.deepEqual(v.result().passAtK, [1, 1, 1, 1, 1, 1]);
});

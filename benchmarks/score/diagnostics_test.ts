import assert from "node:assert/strict";
import { ArcVoter } from "./arc.ts";
import {
  entropyNats,
  stratifiedPassAtK,
  summarizeDiagnostics,
  testInputDiagnostics,
} from "./diagnostics.ts";
import { g, row, task } from "./testing.ts";

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);

Deno.test("vote entropy: votes 2,1,1 give 1.5 bits = 1.5 ln 2 nats; one candidate gives 0", () => {
  const v = new ArcVoter([
    task("a", [{ input: [[1]], output: [[2]] }, { input: [[3]], output: [[4]] }]),
  ]);
  v.add(row("a", g([[1]]), g([[2]]), 0));
  v.add(row("a", g([[1]]), g([[2]]), 0));
  v.add(row("a", g([[1]]), g([[5]]), 0));
  v.add(row("a", g([[1]]), g([[6]]), 0));
  v.add(row("a", g([[3]]), g([[7]]), 0));
  const [d0, d1] = v.result().testInputs.map(testInputDiagnostics);
  assert.equal(d0.distinctCandidates, 3);
  close(d0.entropyNats, 1.5 * Math.LN2);
  close(d0.entropyBits, 1.5);
  assert.equal(d0.correctVotes, 2);
  assert.equal(d0.correctVoteShare, 0.5);
  assert.equal(d0.correctRank, 1);
  assert.equal(d0.top1Votes, 2);
  assert.equal(d1.entropyNats, 0);
  assert.equal(d1.correctVoteShare, 0);
  assert.equal(d1.correctRank, 0);
  const s = summarizeDiagnostics([d0, d1]);
  assert.equal(s.meanDistinctCandidates, 2);
  close(s.meanEntropyBits, 0.75);
  assert.equal(entropyNats([]), 0);
  close(entropyNats([1, 1, 1, 1]), Math.log(4));
});

Deno.test("difficulty strata: mean correct-vote share over models, split at 15%", () => {
  // Four test inputs; shares (model a, model b) → mean:
  //   x#0 (0.10, 0.10) 0.10 hard; x#1 (0.30, 0.00) 0.15 easy (the boundary is easy);
  //   y#0 (0.00, 0.28) 0.14 hard; z#0 (0.90, 0.50) 0.70 easy.
  const a = [
    { taskId: "x", testIndex: 0, correctVoteShare: 0.1, correctRank: 3 },
    { taskId: "x", testIndex: 1, correctVoteShare: 0.3, correctRank: 1 },
    { taskId: "y", testIndex: 0, correctVoteShare: 0, correctRank: 0 },
    { taskId: "z", testIndex: 0, correctVoteShare: 0.9, correctRank: 1 },
  ];
  const b = [
    { taskId: "z", testIndex: 0, correctVoteShare: 0.5, correctRank: 2 },
    { taskId: "y", testIndex: 0, correctVoteShare: 0.28, correctRank: 1 },
    { taskId: "x", testIndex: 1, correctVoteShare: 0, correctRank: 0 },
    { taskId: "x", testIndex: 0, correctVoteShare: 0.1, correctRank: 6 },
  ];
  const { difficulty, rows } = stratifiedPassAtK(
    [{ model: "a", inputs: a }, { model: "b", inputs: b }],
    [1, 5],
  );
  assert.deepEqual(difficulty.map((d) => d.stratum), ["hard", "easy", "hard", "easy"]);
  const get = (stratum: string, model: string, k: number) =>
    rows.find((r) => r.stratum === stratum && r.model === model && r.k === k)!;
  assert.equal(get("hard", "a", 1).n, 2);
  assert.equal(get("easy", "b", 5).n, 2);
  assert.equal(get("hard", "a", 1).passAtK, 0); // ranks 3, absent
  assert.equal(get("hard", "a", 5).passAtK, 0.5);
  assert.equal(get("hard", "b", 1).passAtK, 0.5); // ranks 6, 1
  assert.equal(get("hard", "b", 5).passAtK, 0.5);
  assert.equal(get("easy", "a", 1).passAtK, 1); // ranks 1, 1
  assert.equal(get("easy", "b", 1).passAtK, 0); // ranks absent, 2
  assert.equal(get("easy", "b", 5).passAtK, 0.5);
  assert.equal(rows.length, 2 * 2 * 2);
  assert.throws(
    () => stratifiedPassAtK([{ model: "a", inputs: a }, { model: "b", inputs: b.slice(1) }]),
    (e: Error) => e instanceof RangeError && /model b has 3 test inputs/.test(e.message),
  );
  assert.throws(
    () =>
      stratifiedPassAtK([{ model: "a", inputs: a }, {
        model: "b",
        inputs: [...b.slice(1), { ...b[0], taskId: "w" }],
      }]),
    (e: Error) => e instanceof RangeError && /lacks test input z\[0\]/.test(e.message),
  );
});

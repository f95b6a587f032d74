import assert from "node:assert/strict";
import { ArcVoter } from "./arc.ts";
import { buildSubmission } from "./submission.ts";
import { g, row, task } from "./testing.ts";

Deno.test("submission: one entry per test input in order, top-2 attempts, fallbacks", () => {
  const tasks = [
    task("three", [
      { input: [[1]], output: [[2]] },
      { input: [[3]], output: [[4]] },
      { input: [[5]], output: [[6]] },
    ]),
    task("none", [{ input: [[9]], output: [[9]] }]),
  ];
  const v = new ArcVoter(tasks);
  // test 2 first, to show the order follows the task, not the file.
  v.add(row("three", g([[5]]), g([[6, 6]]), 0));
  // test 0: three candidates; top-2 by votes.
  v.add(row("three", g([[1]]), g([[7]]), 0));
  v.add(row("three", g([[1]]), g([[2]]), 0));
  v.add(row("three", g([[1]]), g([[2]]), 0));
  v.add(row("three", g([[1]]), g([[8]]), 0));
  v.add(row("three", g([[1]]), g([[8]]), 0));
  v.add(row("three", g([[1]]), g([[8]]), 0));
  // test 1: no predictions.
  const sub = buildSubmission(v.result());
  assert.deepEqual(Object.keys(sub), ["three", "none"]);
  assert.deepEqual(sub.three, [
    { attempt_1: [[8]], attempt_2: [[2]] },
    { attempt_1: [[0]], attempt_2: [[0]] }, // no prediction: placeholder, entry kept
    { attempt_1: [[6, 6]], attempt_2: [[6, 6]] }, // one candidate: attempt_2 = attempt_1
  ]);
  assert.deepEqual(sub.none, [{ attempt_1: [[0]], attempt_2: [[0]] }]);
  // The JSON round-trips with exactly the two keys per entry.
  const back = JSON.parse(JSON.stringify(sub));
  for (const list of Object.values(back) as Record<string, unknown>[][]) {
    for (const e of list) assert.deepEqual(Object.keys(e), ["attempt_1", "attempt_2"]);
  }
});

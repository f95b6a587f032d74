import assert from "node:assert/strict";
import { ArcVoter } from "./arc.ts";
import { buildSubmission, validateSubmission } from "./submission.ts";
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

Deno.test("submission: a built submission is valid; each format breach is named", () => {
  const tasks = [
    task("two", [{ input: [[1]], output: [[2]] }, { input: [[3]], output: [[4]] }]),
    task("one", [{ input: [[9]], output: [[9]] }]),
  ];
  const v = new ArcVoter(tasks);
  v.add(row("two", g([[1]]), g([[2, 2], [2, 2]]), 0));
  v.add(row("one", g([[9]]), { h: 0, w: 0, cells: new Uint8Array(0) }, 0)); // an empty grid
  const sub = buildSubmission(v.result());
  assert.deepEqual(validateSubmission(sub, tasks), []);
  // The empty candidate becomes the placeholder (TRM's `[]` is not a valid grid).
  assert.deepEqual(sub.one, [{ attempt_1: [[0]], attempt_2: [[0]] }]);

  const bad = (edit: (s: Record<string, unknown[]>) => void) => {
    const s = JSON.parse(JSON.stringify(sub));
    edit(s);
    return validateSubmission(s, tasks);
  };
  assert.deepEqual(bad((s) => delete s.one), ["one: missing"]);
  assert.deepEqual(bad((s) => s.two.pop()), [
    "two: 2 entries expected (one per test input), got 1",
  ]);
  assert.deepEqual(bad((s) => (s.extra = [])), ["extra: not a task of the set"]);
  assert.match(bad((s) => delete (s.two[0] as Record<string, unknown>).attempt_2)[0], /exactly/);
  assert.match(
    bad((s) => ((s.two[0] as Record<string, unknown>).attempt_1 = []))[0],
    /two\[0\]\.attempt_1: not a non-empty list/,
  );
  assert.match(
    bad((s) => ((s.two[1] as Record<string, unknown>).attempt_2 = [[1, 2], [3]]))[0],
    /row 1 is not 2 cells/,
  );
  assert.match(
    bad((s) => ((s.two[1] as Record<string, unknown>).attempt_2 = [[10]]))[0],
    /digit 0–9/,
  );
  const wide = [Array.from({ length: 31 }, () => 0)];
  assert.match(bad((s) => ((s.one[0] as Record<string, unknown>).attempt_1 = wide))[0], /1–30/);
  assert.deepEqual(validateSubmission([], tasks), [
    "the submission is not a JSON object of task id → entries",
  ]);
});

import assert from "node:assert/strict";
import { Rng } from "../../engine/rng.ts";
import { randomTaskJson } from "../testing.ts";
import { loadArcSource, parseTask } from "./load.ts";

const good = () => ({
  train: [{ input: [[1, 2]], output: [[3]] }],
  test: [{ input: [[0]], output: [[9]] }],
});

Deno.test("parseTask rejects each kind of bad input, naming the file and field", () => {
  const bad: [unknown, ErrorConstructor, RegExp][] = [
    [[], TypeError, /f\.json: task must be a JSON object/],
    [{ test: good().test }, TypeError, /f\.json: train: must be a list/],
    [{ ...good(), train: [] }, RangeError, /no demonstration pairs/],
    [
      { ...good(), train: [{ input: [[1, 2], [3]], output: [[1]] }] },
      TypeError,
      /train\[0\]\.input: ragged grid: row 1/,
    ],
    [
      { ...good(), train: [{ input: [[1, 10]], output: [[1]] }] },
      RangeError,
      /train\[0\]\.input: cell \[0\]\[1\] colour 10/,
    ],
    [{ ...good(), train: [{ input: [[-1]], output: [[1]] }] }, RangeError, /colour -1/],
    [{ ...good(), train: [{ input: [[1.5]], output: [[1]] }] }, TypeError, /not an integer/],
    [
      { ...good(), test: [{ input: [[1]], output: [new Array(31).fill(0)] }] },
      RangeError,
      /test\[0\]\.output: grid is 1x31/,
    ],
    [
      { ...good(), test: [{ input: new Array(31).fill([0]), output: [[1]] }] },
      RangeError,
      /grid is 31x1/,
    ],
    [{ ...good(), test: [{ input: [], output: [[1]] }] }, TypeError, /non-empty list of rows/],
    [{ ...good(), test: [{ input: [[1]] }] }, TypeError, /test\[0\]\.output/],
  ];
  for (const [value, cls, msg] of bad) {
    assert.throws(
      () => parseTask(value, "x", "s", "f.json"),
      (e: Error) => e instanceof cls && msg.test(e.message),
      JSON.stringify(value).slice(0, 80),
    );
  }
  const ok = parseTask({ ...good(), name: "ignored" }, "x", "s", "f.json");
  assert.deepEqual([ok.train.length, ok.test[0].output.cells[0]], [1, 9]);
  const big = parseTask(
    {
      train: [{ input: new Array(30).fill(new Array(30).fill(9)), output: [[1]] }],
      test: good().test,
    },
    "x",
    "s",
    "f",
  );
  assert.deepEqual([big.train[0].input.h, big.train[0].input.w], [30, 30]);
});

Deno.test("folder layouts: ARC repo, ConceptARC corpus, plain folder; malformed JSON names the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const rng = new Rng(1);
    await Deno.mkdir(`${dir}/repo/data/training`, { recursive: true });
    await Deno.mkdir(`${dir}/repo/data/evaluation`, { recursive: true });
    await Deno.writeTextFile(
      `${dir}/repo/data/training/aa.json`,
      JSON.stringify(randomTaskJson(rng, 2, 1)),
    );
    await Deno.writeTextFile(
      `${dir}/repo/data/evaluation/bb.json`,
      JSON.stringify(randomTaskJson(rng, 3, 2)),
    );
    const repo = await loadArcSource(`${dir}/repo`);
    assert.deepEqual([...repo.subsets.keys()], ["training", "evaluation"]);
    assert.equal(repo.subsets.get("evaluation")![0].test.length, 2);
    assert.match(repo.sha256, /^[0-9a-f]{64}$/);
    // taskIds: only those files are read (and hashed); a subset may come out empty.
    const picked = await loadArcSource(`${dir}/repo`, { taskIds: ["bb"] });
    assert.deepEqual([...picked.subsets].map(([k, ts]) => [k, ts.map((t) => t.id)]), [
      ["training", []],
      ["evaluation", ["bb"]],
    ]);
    assert.notEqual(picked.sha256, repo.sha256);

    await Deno.mkdir(`${dir}/carc/corpus/Copy`, { recursive: true });
    await Deno.writeTextFile(
      `${dir}/carc/corpus/Copy/Copy1.json`,
      JSON.stringify(randomTaskJson(rng, 2, 3)),
    );
    const carc = await loadArcSource(`${dir}/carc`);
    assert.deepEqual(carc.subsets.get("concept")!.map((t) => t.id), ["Copy1"]);

    await Deno.mkdir(`${dir}/plain`);
    await Deno.writeTextFile(`${dir}/plain/cc.json`, "{ not json");
    await assert.rejects(
      () => loadArcSource(`${dir}/plain`),
      (e: Error) => e instanceof SyntaxError && e.message.includes(`${dir}/plain/cc.json`),
    );
    // A file not picked is not read: no error for the malformed one.
    const none = await loadArcSource(`${dir}/plain`, { taskIds: ["zz"] });
    assert.deepEqual(none.subsets.get("plain"), []);
    await assert.rejects(() => loadArcSource(`${dir}/missing`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Kaggle combined layout, with and without solutions", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const challenges = {
      t1: { train: good().train, test: [{ input: [[1]] }, { input: [[2, 2]] }] },
    };
    await Deno.writeTextFile(
      `${dir}/arc-agi_evaluation_challenges.json`,
      JSON.stringify(challenges),
    );
    await Deno.writeTextFile(
      `${dir}/arc-agi_evaluation_solutions.json`,
      JSON.stringify({ t1: [[[5]], [[6, 6]]] }),
    );
    await Deno.writeTextFile(`${dir}/arc-agi_test_challenges.json`, JSON.stringify(challenges));
    const s = await loadArcSource(dir);
    const ev = s.subsets.get("evaluation")![0];
    assert.deepEqual(Array.from(ev.test[1].output.cells), [6, 6]);
    const dummy = s.subsets.get("test")![0];
    assert.deepEqual([
      dummy.test[0].output.h,
      dummy.test[0].output.w,
      dummy.test[0].output.cells[0],
    ], [1, 1, 0]);
    await Deno.writeTextFile(
      `${dir}/arc-agi_evaluation_solutions.json`,
      JSON.stringify({ t1: [[[5]]] }),
    );
    await assert.rejects(
      () => loadArcSource(dir),
      /evaluation_solutions\.json: t1: expected a list of 2 output grids/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

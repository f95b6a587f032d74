import assert from "node:assert/strict";
import { Rng } from "../../engine/rng.ts";
import { trainBatches } from "../dataset.ts";
import { dihedral } from "../grid.ts";
import { openDataset } from "../open.ts";
import { generateMazes } from "./generate.ts";
import { readMazeCsv } from "./load.ts";
import {
  countShortestPaths,
  mazeDihedralKey,
  mazeToString,
  parseMaze,
  solveMaze,
  validateMaze,
} from "./maze.ts";
import { prepareMaze } from "./prepare.ts";

// 4x4, S top-left, G bottom-right, fully open: 6 steps, 20 shortest paths.
const OPEN4 = "S   " + "    " + "    " + "   G";

Deno.test("BFS answer path uses the down, left, right, up tie-break and is shortest", () => {
  const q = parseMaze(OPEN4, 4, "m", false);
  const { answer, steps } = solveMaze(q, 4)!;
  assert.equal(steps, 6);
  // Walking back from G along first parents: BFS from S finds cells below S first.
  assert.equal(mazeToString(answer), "S   " + "o   " + "o   " + "oooG");
  assert.equal(validateMaze(q, answer, 4, "m"), 6);
  assert.equal(countShortestPaths(q, 4), 20);
  assert.equal(solveMaze(parseMaze("S#  " + "##  " + "    " + "   G", 4, "m", false), 4), null);
});

Deno.test("maze validation rejects each bad input kind", () => {
  const q = parseMaze(OPEN4, 4, "m", false);
  const bad: [string, string, RegExp][] = [
    [
      "SS  " + "    " + "    " + "   G",
      "SS  " + "    " + "    " + "   G",
      /exactly one S and one G/,
    ],
    [OPEN4, "S   " + "o   " + "oo  " + " o G", /not a shortest S-G path/], // detour
    [OPEN4, "S   " + "o   " + "    " + "oooG", /not a shortest S-G path/], // gap
    [OPEN4, "S#  " + "o   " + "o   " + "oooG", /cell 1 is # but the question has/],
    ["S#  " + "##  " + "    " + "   G", "S#  " + "##  " + "    " + "   G", /G is not reachable/],
  ];
  for (const [qs, as, pattern] of bad) {
    assert.throws(
      () =>
        validateMaze(parseMaze(qs, 4, "m", false), parseMaze(as, 4, "m", true), 4, "f.csv: line 2"),
      (e: Error) =>
        e instanceof RangeError && pattern.test(e.message) && e.message.includes("f.csv: line 2"),
    );
  }
  assert.throws(() => parseMaze(OPEN4 + " ", 4, "m", false), /expected 16 characters/);
  assert.throws(() => parseMaze(OPEN4.replace("G", "o"), 4, "m", false), /not one of "# SG"/);
  assert.ok(q.length === 16);
});

Deno.test("generator: paths longer than the threshold, valid answers, no dihedral duplicates", () => {
  const { mazes } = generateMazes({ n: 12, count: 40, minSteps: 17 }, new Rng(5));
  const keys = new Set(mazes.map((m) => mazeDihedralKey(m.question, 12)));
  assert.equal(keys.size, 40);
  for (const m of mazes) {
    assert.ok(m.steps > 17);
    assert.equal(validateMaze(m.question, m.answer, 12, "gen"), m.steps);
    assert.deepEqual(solveMaze(m.question, 12)!.answer, m.answer);
    for (let t = 1; t < 8; t++) {
      assert.equal(
        mazeDihedralKey(dihedral({ h: 12, w: 12, cells: m.question }, t).cells, 12),
        m.key,
      );
    }
  }
  const more = generateMazes({ n: 12, count: 10, minSteps: 17, exclude: keys }, new Rng(5));
  assert.ok(more.mazes.every((m) => !keys.has(m.key)));
  assert.throws(() => generateMazes({ n: 4, count: 1, minSteps: 15 }, new Rng(1)), /gave up/);
});

Deno.test("prepare maze: generated with 8 dihedral versions, CSV round trip, deterministic", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const base = {
      source: null,
      download: false,
      cacheDir: `${tmp}/cache`,
      size: 10,
      train: 6,
      test: 4,
      minSteps: null,
      aug: true,
      seed: 3,
      force: false,
      progress: false,
    };
    const a = await prepareMaze({ ...base, out: `${tmp}/a` });
    const b = await prepareMaze({ ...base, out: `${tmp}/b` });
    assert.equal(a.contentHash, b.contentHash);
    assert.deepEqual([a.seqLen, a.vocabSize, a.splits.train.puzzles, a.splits.test.puzzles], [
      100,
      6,
      48,
      4,
    ]);
    const ds = await openDataset(`${tmp}/a`);
    const rows = new Int32Array(100), labels = new Int32Array(100);
    const base0 = new Int32Array(100), baseLab = new Int32Array(100);
    ds.train.writeExample(0, 0, base0, baseLab, 0);
    for (let v = 1; v < 8; v++) {
      ds.train.writeExample(v, 0, rows, labels, 0);
      const t = (ds.puzzleInfo("train", v).augmentation as { dihedral: number }).dihedral;
      assert.deepEqual(
        Array.from(rows),
        Array.from(dihedral({ h: 10, w: 10, cells: Uint8Array.from(base0) }, t).cells),
      );
      validateMaze(Uint8Array.from(rows), Uint8Array.from(labels), 10, `version ${v}`);
    }
    assert.equal([...trainBatches(ds.train, { batchSize: 3, rng: new Rng(0) })].length, 2);
    const c = await prepareMaze({ ...base, aug: false, source: `${tmp}/a`, out: `${tmp}/c` });
    assert.deepEqual([c.splits.train.puzzles, c.splits.test.puzzles], [6, 4]);
    await Deno.writeTextFile(`${tmp}/bad.csv`, "source,question,answer,rating\nx,S  G,S  G\n");
    await assert.rejects(
      () => readMazeCsv(`${tmp}/bad.csv`),
      /bad\.csv: line 2: expected 4 fields/,
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

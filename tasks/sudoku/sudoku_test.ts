import assert from "node:assert/strict";
import { Rng } from "../../engine/rng.ts";
import { trainBatches } from "../dataset.ts";
import { openDataset } from "../open.ts";
import {
  applySudokuAug,
  invertSudokuAug,
  packSudokuAug,
  randomSudokuAug,
  unpackSudokuAug,
} from "./augment.ts";
import { sudokuKey } from "./canonical.ts";
import { defaultSudokuGen, generateSudokus } from "./generate.ts";
import { readSudokuCsv } from "./load.ts";
import { prepareSudoku } from "./prepare.ts";
import {
  agreesWithGivens,
  boardToString,
  isValidSolution,
  parseBoard,
  sudokuShape,
} from "./shape.ts";
import { solveSudoku } from "./solver.ts";

const S9 = sudokuShape(9);
// A well-known puzzle with a unique solution.
const PUZZLE = "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79";
const SOLUTION =
  "534678912672195348198342567859761423426853791713924856961537284287419635345286179";

Deno.test("solver: unique solution, several solutions, contradictions", () => {
  const r = solveSudoku(S9, parseBoard(PUZZLE, S9, "p", true), { limit: 2 });
  assert.equal(r.solutions, 1);
  assert.equal(boardToString(r.solution!), SOLUTION);
  assert.equal(r.guesses, 0); // singles suffice for this one
  const open = PUZZLE.slice(0, 40) + "." + PUZZLE.slice(41);
  const few = parseBoard(open.replace(/[0-9]/g, (d, k) => (k < 20 ? d : ".")), S9, "p", true);
  assert.equal(solveSudoku(S9, few, { limit: 2 }).solutions, 2);
  const clash = parseBoard("55" + ".".repeat(79), S9, "p", true);
  assert.equal(solveSudoku(S9, clash, { limit: 2 }).solutions, 0);
});

Deno.test("symmetries: inverse is identity, validity and the equivalence key are preserved", () => {
  const rng = new Rng(3);
  for (const n of [4, 6, 9]) {
    const shape = sudokuShape(n);
    const sol = solveSudoku(shape, new Uint8Array(n * n), { rng }).solution!;
    const puzzle = sol.map((v, k) => (k % 3 === 0 ? 0 : v));
    const key = sudokuKey(puzzle, shape);
    for (let k = 0; k < 20; k++) {
      const aug = randomSudokuAug(shape, rng);
      if (n === 6) assert.equal(aug.transpose, false);
      const moved = applySudokuAug(puzzle, shape, aug);
      assert.deepEqual(applySudokuAug(moved, shape, invertSudokuAug(aug)), puzzle);
      assert.ok(isValidSolution(applySudokuAug(sol, shape, aug), shape));
      assert.equal(sudokuKey(moved, shape), key);
      const bytes = new Uint8Array(1 + 3 * n);
      packSudokuAug(aug, n, bytes, 0);
      assert.deepEqual(unpackSudokuAug(bytes, n, 0), aug);
    }
  }
});

Deno.test("generator: unique, rated, inequivalent, hard ones above the threshold (small runs)", () => {
  const rng = new Rng(4);
  const opts = { ...defaultSudokuGen(9, 8), mix: { easy: 1, minimal: 1, hard: 2 } };
  const a = generateSudokus(S9, opts, rng);
  const b = generateSudokus(S9, { ...opts, exclude: new Set(a.map((p) => p.key)) }, rng);
  const keys = new Set([...a, ...b].map((p) => p.key));
  assert.equal(keys.size, 16);
  for (const p of [...a, ...b]) {
    const r = solveSudoku(S9, p.question, { limit: 2 });
    assert.equal(r.solutions, 1);
    assert.deepEqual(r.solution, p.answer);
    assert.ok(agreesWithGivens(p.question, p.answer) && isValidSolution(p.answer, S9));
    assert.equal(p.rating, solveSudoku(S9, p.question).guesses);
    if (p.source === "hard") assert.ok(p.rating >= opts.hardMinRating, `hard rated ${p.rating}`);
    assert.equal(sudokuKey(p.question, S9), p.key);
  }
  assert.deepEqual(a.map((p) => p.source).sort(), [
    "easy",
    "easy",
    "hard",
    "hard",
    "hard",
    "hard",
    "minimal",
    "minimal",
  ]);
  for (const n of [4, 6]) {
    const shape = sudokuShape(n);
    const small = generateSudokus(shape, defaultSudokuGen(n, 10), new Rng(n));
    assert.equal(new Set(small.map((p) => p.key)).size, 10);
    for (const p of small) assert.equal(solveSudoku(shape, p.question, { limit: 2 }).solutions, 1);
  }
});

async function csvRejects(text: string, pattern: RegExp, checkUnique = false) {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/x.csv`, text);
    await assert.rejects(
      () => readSudokuCsv(`${dir}/x.csv`, S9, { checkUnique }),
      (e: Error) => pattern.test(e.message) && e.message.includes("x.csv"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("CSV loader validates every row and names file and line", async () => {
  const h = "source,question,answer,rating\n";
  const row = (q: string, a: string, r = "3") => `src,${q},${a},${r}\n`;
  await csvRejects("a,b,c\n", /header must be source,question,answer,rating/);
  await csvRejects(h + "src," + PUZZLE + "," + SOLUTION + "\n", /line 2: expected 4 fields/);
  await csvRejects(h + row(PUZZLE.slice(1), SOLUTION), /question: expected 81 characters, got 80/);
  await csvRejects(h + row(PUZZLE.replace(".", "x"), SOLUTION), /question: character 2 is "x"/);
  await csvRejects(h + row(PUZZLE, "2" + SOLUTION.slice(1)), /answer: not a valid solution/);
  const swapped = SOLUTION.slice(0, 2) + SOLUTION[3] + SOLUTION[2] + SOLUTION.slice(4);
  await csvRejects(h + row(PUZZLE, SOLUTION.replace(/^5/, "x")), /answer: character 0/);
  await csvRejects(h + row(PUZZLE, swapped), /answer: (not a valid solution|inconsistent)/);
  const wrongGiven = "4" + PUZZLE.slice(1);
  await csvRejects(h + row(wrongGiven, SOLUTION), /inconsistent with the question's givens/);
  await csvRejects(h + row(PUZZLE, SOLUTION, "hard"), /rating: not a number/);
  await csvRejects(h + row(".".repeat(81), SOLUTION), /question: has several solutions/, true);
  await csvRejects(h + 'src,"' + PUZZLE + "," + SOLUTION + ",1\n", /malformed CSV/);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/ok.csv`,
      h + row(PUZZLE, SOLUTION) + row(PUZZLE, SOLUTION, "0"),
    );
    const r = await readSudokuCsv(`${dir}/ok.csv`, S9, {
      checkUnique: true,
      sample: { count: 1, rng: new Rng(1) },
    });
    assert.deepEqual([r.total, r.rows.length], [2, 1]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("prepare sudoku: generated 4x4 and CSV source, deterministic hash, on-the-fly augmentation", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const base = {
      source: null,
      download: false,
      cacheDir: `${tmp}/cache`,
      size: 4,
      train: 20,
      test: 10,
      aug: 5,
      seed: 7,
      checkUnique: false,
      force: false,
      progress: false,
    };
    const a = await prepareSudoku({ ...base, out: `${tmp}/a` });
    const b = await prepareSudoku({ ...base, out: `${tmp}/b` });
    assert.equal(a.contentHash, b.contentHash);
    assert.deepEqual([a.seqLen, a.vocabSize, a.splits.train.puzzles, a.splits.test.examples], [
      16,
      6,
      120,
      10,
    ]);
    const ds = await openDataset(`${tmp}/a`);
    const shape = sudokuShape(4);
    const [batch] = [...trainBatches(ds.train, { batchSize: 20, rng: new Rng(1) })];
    for (let r = 0; r < batch.valid; r++) {
      const q = Array.from(batch.inputs.subarray(r * 16, (r + 1) * 16), (t) => t - 1);
      const s = Array.from(batch.labels.subarray(r * 16, (r + 1) * 16), (t) => t - 1);
      assert.ok(isValidSolution(s, shape) && agreesWithGivens(q, s));
      assert.equal(solveSudoku(shape, q, { limit: 2 }).solutions, 1);
    }
    // The generated CSVs load back through the official loader.
    const c = await prepareSudoku({ ...base, source: `${tmp}/a`, test: null, out: `${tmp}/c` });
    assert.deepEqual([c.splits.train.groups, c.splits.test.groups], [20, 10]);
    assert.equal(c.sources[0].kind, "local");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

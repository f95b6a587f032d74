/**
 * Bad input gives one clear line and a non-zero exit, never a stack trace or a silent success: a
 * missing train.csv/test.csv of the Sudoku/Maze CSV loaders, an ARC subset without tasks, an
 * empty predictions file given to `deno task score`.
 */
import assert from "node:assert/strict";
import { readMazeCsv } from "./maze/load.ts";
import { readSudokuCsv } from "./sudoku/load.ts";
import { sudokuShape } from "./sudoku/shape.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** Runs a script of the repository; its exit status, stdout and stderr. */
async function run(script: string, args: string[]) {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", `${ROOT}/${script}`, ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
}

/** The error output is one line (no stack trace) matching `re`. */
function oneLine(stderr: string, re: RegExp): void {
  const lines = stderr.trim().split("\n");
  assert.equal(lines.length, 1, stderr);
  assert.match(lines[0], re);
  assert.doesNotMatch(stderr, /\bat .*\.ts:\d+/, "no stack trace");
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "trm-bad-input-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const exists = (p: string) => Deno.stat(p).then(() => true, () => false);

Deno.test("prepare sudoku/maze --source without train.csv: one line naming the file and the layout", async () => {
  await withDir(async (dir) => {
    for (const task of ["sudoku", "maze"]) {
      const r = await run("tasks/prepare.ts", [
        ...[task, "--source", dir, "--out", `${dir}/out-${task}`, "--no-progress"],
      ]);
      assert.equal(r.code, 1, r.stderr);
      oneLine(
        r.stderr,
        new RegExp(
          `${dir}/train\\.csv: no such file; expected the ${
            task === "sudoku" ? "Sudoku-Extreme" : "Maze-Hard"
          } CSV layout \\(header source,question,answer,rating; .*train\\.csv and test\\.csv`,
        ),
      );
      assert.ok(!await exists(`${dir}/out-${task}`), "nothing written");
    }
  });
});

Deno.test("sudoku/maze CSV loaders: a missing test.csv (or a folder in its place) is named", async () => {
  await withDir(async (dir) => {
    await assert.rejects(
      () => readSudokuCsv(`${dir}/test.csv`, sudokuShape(9)),
      (e: Error) =>
        e instanceof Deno.errors.NotFound &&
        /test\.csv: no such file; .*81-character/.test(e.message),
    );
    await Deno.mkdir(`${dir}/test.csv`);
    await assert.rejects(
      () => readMazeCsv(`${dir}/test.csv`),
      /test\.csv: not a file; expected the Maze-Hard/,
    );
  });
});

Deno.test("prepare arc: a subset without tasks (empty folder, unknown name) is an error, nothing written", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/src/evaluation`, { recursive: true });
    const empty = await run("tasks/prepare.ts", [
      ...["arc", "--source", `${dir}/src`, "--subsets", "evaluation"],
      ...["--out", `${dir}/out`, "--no-progress"],
    ]);
    assert.notEqual(empty.code, 0, empty.stdout);
    oneLine(
      empty.stderr,
      /subset evaluation holds no tasks \(its folder has no task \.json files\)/,
    );
    assert.ok(!await exists(`${dir}/out`), "nothing written");

    await Deno.writeTextFile(
      `${dir}/src/evaluation/aa.json`,
      JSON.stringify({
        train: [{ input: [[1]], output: [[2]] }],
        test: [{ input: [[1]], output: [[2]] }],
      }),
    );
    const unknown = await run("tasks/prepare.ts", [
      ...["arc", "--source", `${dir}/src`, "--subsets", "evaluation,evalution"],
      ...["--out", `${dir}/out`, "--no-progress"],
    ]);
    assert.notEqual(unknown.code, 0, unknown.stdout);
    oneLine(unknown.stderr, /subset evalution not found in the sources: have evaluation/);
    assert.ok(!await exists(`${dir}/out`), "nothing written");
  });
});

Deno.test("score: an empty predictions file is an error (exit 1), no score written", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/pred.jsonl`, "");
    await Deno.writeTextFile(`${dir}/blank.jsonl`, "\n \n");
    for (const [task, file] of [["sudoku", "pred.jsonl"], ["maze", "blank.jsonl"]]) {
      const r = await run("benchmarks/score/cli.ts", [
        ...[task, "--predictions", `${dir}/${file}`, "--out", `${dir}/score-${task}`],
      ]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      oneLine(r.stderr, new RegExp(`${file}: no predictions: the file is (empty|blank)`));
      assert.ok(!await exists(`${dir}/score-${task}`), "no score written");
    }
  });
});

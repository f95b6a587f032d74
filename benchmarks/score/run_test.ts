import assert from "node:assert/strict";
import { readCsv } from "../../engine/csv.ts";
import { scoreArc, scoreGrid, writeAccuracy, writeArcOutputs, writeStrata } from "./run.ts";
import { g, jsonLine, row, task, writeTasks } from "./testing.ts";

const TASKS = [
  task("two", [{ input: [[1]], output: [[2]] }, { input: [[3]], output: [[4]] }]),
  task("solo", [{ input: [[7, 7]], output: [[8]] }]),
];

const made: string[] = [];
async function cleanup(): Promise<void> {
  for (const p of made.splice(0)) await Deno.remove(p);
}

async function predFile(lines: string[]): Promise<string> {
  const path = await Deno.makeTempFile({ suffix: ".jsonl" });
  made.push(path);
  await Deno.writeTextFile(path, lines.join("\n") + "\n");
  return path;
}

const good = [
  jsonLine(row("two", g([[1]]), g([[2]]), 0)),
  jsonLine(row("two", g([[3]]), g([[9]]), 0)),
  jsonLine(row("solo", g([[7, 7]]), g([[8]]), 1)),
];

Deno.test("malformed JSON, bad fields, unknown tasks and unmatched inputs are reported with file:line", async () => {
  const dir = await writeTasks(TASKS);
  const path = await predFile([
    good[0],
    "{not json",
    jsonLine(row("nope", g([[1]]), g([[2]]), 0)),
    "",
    jsonLine(row("two", g([[5]]), g([[2]]), 0)),
    JSON.stringify({ puzzle: "two", input: [1, 2], prediction: [], q_halt_logit: 0 }), // [1] is a 1x1 canvas
    good[1],
  ]);
  await assert.rejects(
    () => scoreArc({ predictions: [path], tasksDir: dir }),
    (e: Error) => {
      assert.ok(e instanceof SyntaxError, `first problem is the JSON one: ${e.name}`);
      assert.match(e.message, /^4 bad lines:/);
      assert.match(e.message, new RegExp(`${path}:2: malformed JSON`));
      assert.match(e.message, new RegExp(`${path}:3: puzzle nope: unknown task nope`));
      assert.match(e.message, new RegExp(`${path}:5: puzzle two: the input .* matches none`));
      assert.match(e.message, new RegExp(`${path}:6: field "input": must have 900 tokens`));
      return true;
    },
  );
  // A single bad line keeps its own class.
  const one = await predFile([good[0], jsonLine(row("nope", g([[1]]), g([[2]]), 0))]);
  await assert.rejects(
    () => scoreArc({ predictions: [one], tasksDir: dir }),
    (e: Error) => e instanceof RangeError && e.message.includes(`${one}:2: puzzle nope`),
  );
  await Deno.remove(dir, { recursive: true });
  await cleanup();
});

Deno.test("pooling: votes of several files add up, first-seen order runs across files; --no-pool takes one file", async () => {
  const dir = await writeTasks(TASKS);
  const a = await predFile(good);
  // Second evaluation: test 1 of "two" gets the right answer twice, outvoting the wrong one.
  const b = await predFile([
    jsonLine(row("two", g([[3]]), g([[4]]), 0)),
    jsonLine(row("two", g([[3]]), g([[4]]), 0)),
  ]);
  const single = await scoreArc({ predictions: [a], tasksDir: dir, model: "m" });
  assert.equal(single.info.pooling, "single");
  assert.deepEqual(single.score.credit.slice(0, 2), [1.5, 1.5]);
  const pooled = await scoreArc({ predictions: [a, b], tasksDir: dir, model: "m" });
  assert.equal(pooled.info.pooling, "pooled");
  assert.equal(pooled.info.nPredictionFiles, 2);
  assert.equal(pooled.score.nPredictions, 5);
  assert.deepEqual(pooled.score.credit.slice(0, 2), [2, 2]);
  assert.equal(pooled.provenance.predictionsSha256.split(";").length, 2);
  // One right vote with the same q as the wrong one in `a`: the first seen wins the tie.
  const tie = await predFile([jsonLine(row("two", g([[3]]), g([[4]]), 0))]);
  const rankOf = async (files: string[]) =>
    (await scoreArc({ predictions: files, tasksDir: dir })).score.testInputs
      .find((r) => r.taskId === "two" && r.testIndex === 1)!.correctRank;
  assert.equal(await rankOf([a, tie]), 2);
  assert.equal(await rankOf([tie, a]), 1);
  await assert.rejects(
    () => scoreArc({ predictions: [a, b], tasksDir: dir, pool: false }),
    (e: Error) => e instanceof TypeError && /exactly one predictions file, got 2/.test(e.message),
  );
  await Deno.remove(dir, { recursive: true });
  await cleanup();
});

Deno.test("CSV column contracts of pass_at_k, diagnostics, diagnostics_summary, strata and accuracy", async () => {
  const dir = await writeTasks(TASKS);
  const out = await Deno.makeTempDir();
  const run = await scoreArc({ predictions: [await predFile(good)], tasksDir: dir, model: "m" });
  await writeArcOutputs(run, out);
  const header = async (p: string) => (await Deno.readTextFile(p)).split("\n")[0].split(",");
  assert.deepEqual(await header(`${out}/pass_at_k.csv`), [
    "model",
    "k",
    "pass_at_k_pct",
    "credit",
    "n_tasks",
    "n_test_inputs",
    "n_test_inputs_with_predictions",
    "n_predictions",
    "pooling",
    "n_prediction_files",
    "subset",
    "definition",
    "commit",
    "date",
    "tasks_sha256",
    "predictions_sha256",
  ]);
  assert.deepEqual(await header(`${out}/diagnostics.csv`), [
    "model",
    "task",
    "test_index",
    "n_votes",
    "distinct_candidates",
    "entropy_nats",
    "entropy_bits",
    "correct_votes",
    "correct_vote_share",
    "correct_rank",
    "top1_votes",
    "top1_mean_q",
    "pooling",
    "commit",
    "date",
    "predictions_sha256",
  ]);
  assert.deepEqual(await header(`${out}/diagnostics_summary.csv`), [
    "model",
    "metric",
    "value",
    "n_test_inputs",
    "definition",
    "pooling",
    "commit",
    "date",
    "predictions_sha256",
  ]);
  // Content: 2 tasks, credit 1.5 → 75 %, definition names the estimator.
  const pk = await Deno.readTextFile(`${out}/pass_at_k.csv`);
  const lines = pk.trim().split("\n");
  assert.equal(lines.length, 7);
  assert.match(lines[1], /^m,1,75,1\.5,2,3,3,3,single,1,/);
  assert.match(lines[1], /not the unbiased estimator/);
  const diag = (await Deno.readTextFile(`${out}/diagnostics.csv`)).trim().split("\n");
  assert.equal(diag.length, 4);
  // Tasks come in folder order (solo, two); test 1 of "two" has one wrong vote.
  assert.match(diag[3], /^m,two,1,1,1,0,0,0,0,0,1,/);

  const strata = await writeStrata([`${out}/diagnostics.csv`], out);
  assert.deepEqual(await header(strata.path), [
    "stratum",
    "threshold",
    "model",
    "k",
    "n_test_inputs",
    "pass_at_k_pct",
    "definition",
    "commit",
    "date",
    "sources",
  ]);

  const sud = await predFile([
    JSON.stringify({ prediction: [1, 2], label: [1, 2], steps: 16 }),
    JSON.stringify({ prediction: [1, 1], label: [1, 2], steps: 4 }),
  ]);
  const { metrics, provenance } = await scoreGrid(sud);
  const acc = await writeAccuracy(metrics, { model: "m", task: "sudoku" }, provenance, out);
  assert.deepEqual(await header(acc), [
    "model",
    "task",
    "metric",
    "value",
    "n_examples",
    "n_skipped",
    "definition",
    "commit",
    "date",
    "predictions_sha256",
  ]);
  const rows = await readCsv(acc, await header(acc));
  assert.deepEqual(rows.map((r) => [r.metric, Number(r.value)]), [
    ["exact_accuracy_pct", 50],
    ["cell_accuracy_pct", 75],
    ["cell_accuracy_pooled_pct", 75],
    ["mean_act_steps", 10],
  ]);
  await Deno.remove(dir, { recursive: true });
  await Deno.remove(out, { recursive: true });
});

Deno.test("Sudoku/Maze files: bad lines are reported with file:line", async () => {
  const sud = await predFile([
    JSON.stringify({ prediction: [1, 2], label: [1, 2], steps: 16 }),
    JSON.stringify({ prediction: [1], label: [1, 2], steps: 4 }),
    JSON.stringify({ prediction: [1, 2], label: [1, 2] }),
    "[",
  ]);
  await assert.rejects(
    () => scoreGrid(sud),
    (e: Error) =>
      e instanceof TypeError && e.message.includes(`${sud}:2: prediction has 1 cells`) &&
      e.message.includes(`${sud}:3: field "steps"`) &&
      e.message.includes(`${sud}:4: malformed JSON`),
  );
});

Deno.test("files of 100-token rows score as their 900-token twins; a mismatched line is named", async () => {
  const dir = await writeTasks(TASKS);
  const on = (canvas: number) => [
    jsonLine(row("two", g([[1]]), g([[2]]), 0, canvas)),
    jsonLine(row("two", g([[3]]), g([[9]]), 0, canvas)),
    jsonLine(row("solo", g([[7, 7]]), g([[8]]), 1, canvas)),
  ];
  const small = await scoreArc({ predictions: [await predFile(on(10))], tasksDir: dir });
  const big = await scoreArc({ predictions: [await predFile(on(30))], tasksDir: dir });
  assert.deepEqual(small.score.passAtK, big.score.passAtK);
  assert.deepEqual(small.score.credit, [1.5, 1.5, 1.5, 1.5, 1.5, 1.5]);
  assert.deepEqual(small.submission, big.submission);
  const mixed = await predFile([
    on(10)[0],
    JSON.stringify({ ...JSON.parse(on(10)[1]), prediction: JSON.parse(on(30)[1]).prediction }),
    JSON.stringify({ ...JSON.parse(on(10)[2]), input: new Array(99).fill(2) }),
  ]);
  await assert.rejects(
    () => scoreArc({ predictions: [mixed], tasksDir: dir }),
    (e: Error) => {
      assert.match(e.message, /^2 bad lines:/);
      assert.match(
        e.message,
        new RegExp(`${mixed}:2: field "prediction": has 900 tokens, the input 100 `),
      );
      assert.match(
        e.message,
        new RegExp(`${mixed}:3: field "input": must have 900 tokens, has 99`),
      );
      return true;
    },
  );
  await Deno.remove(dir, { recursive: true });
  await cleanup();
});

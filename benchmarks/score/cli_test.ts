import assert from "node:assert/strict";
import { main } from "./cli.ts";
import { captureMain } from "../../engine/testing.ts";

const FIX = new URL("../../fixtures/score/", import.meta.url).pathname;

const quiet = (args: string[]) => captureMain(main, args);

Deno.test("cli smoke: score arc on the fixture (2 tasks, 3 test inputs, pass@1 = 75%)", async () => {
  const out = await Deno.makeTempDir();
  const r = await quiet([
    "arc",
    "--predictions",
    `${FIX}pred.jsonl`,
    "--tasks",
    `${FIX}tasks`,
    "--out",
    out,
    "--model",
    "fixture",
  ]);
  assert.equal(r.code, 0, r.err.join("\n"));
  assert.match(r.out.join("\n"), /2 tasks, 3 test inputs/);
  const csv = (await Deno.readTextFile(`${out}/pass_at_k.csv`)).trim().split("\n");
  assert.equal(csv.length, 7);
  assert.match(csv[1], /^fixture,1,75,1\.5,2,3,3,4,single,1,tasks,/);
  const sub = JSON.parse(await Deno.readTextFile(`${out}/submission.json`));
  assert.deepEqual(sub, {
    "fx-one": [{ attempt_1: [[4, 0, 0], [0, 3, 0]], attempt_2: [[4, 0, 0], [0, 3, 0]] }],
    "fx-two": [
      { attempt_1: [[6, 6]], attempt_2: [[6, 6]] },
      { attempt_1: [[7, 1]], attempt_2: [[7, 1]] },
    ],
  });
  const diag = (await Deno.readTextFile(`${out}/diagnostics.csv`)).trim().split("\n");
  assert.equal(diag.length, 4);
  // fx-one: the original and its t1 + colour-swapped copy invert to one candidate with 2 votes.
  assert.match(diag[1], /^fixture,fx-one,0,2,1,0,0,2,1,1,2,/);

  const s = await quiet([
    "sudoku",
    "--predictions",
    `${FIX}sudoku_pred.jsonl`,
    "--out",
    out,
  ]);
  assert.equal(s.code, 0, s.err.join("\n"));
  assert.match(s.out.join("\n"), /exact 50\.00 %, cell 83\.33 %, mean ACT steps 12\.00/);
  await Deno.remove(out, { recursive: true });
});

Deno.test("cli: usage errors exit 2, bad inputs exit 1", async () => {
  const usage = [
    ["arc", "--predictions", "x.jsonl", "--tasks", "d", "--bogus"],
    ["arc", "--predictions", "x.jsonl"],
    ["arc", "--tasks", "d"],
    ["sudoku", "--predictions", "x.jsonl", "--tasks", "d"],
    ["arc", "--predictions", "x", "--tasks", "d", "--pool", "--no-pool"],
    ["chess", "--predictions", "x"],
    [],
  ];
  for (const args of usage) {
    const r = await quiet(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.err.join("\n")}`);
  }
  const bad = await quiet([
    "arc",
    "--predictions",
    `${FIX}sudoku_pred.jsonl`,
    "--tasks",
    `${FIX}tasks`,
    "--out",
    "/tmp",
  ]);
  assert.equal(bad.code, 1);
  assert.match(bad.err.join("\n"), /sudoku_pred\.jsonl:1: field "puzzle"/);
});

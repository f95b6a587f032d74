import assert from "node:assert/strict";
import { nativeStatus } from "../../engine/backends/mod.ts";
import { presetConfig, type RunConfig } from "../../recursion/presets.ts";
import { EVAL_COLUMNS, runTraining } from "../../recursion/train.ts";
import { readCsv } from "../score/csv.ts";
import { readMarker } from "./markers.ts";
import {
  evaluateStep,
  predPath,
  prepareStep,
  type RunSpec,
  scoreStep,
  type StepContext,
  trainDir,
  trainStep,
} from "./steps.ts";
import { REPRO_SUMMARY_COLUMNS, runSummaryRows } from "./summary.ts";
import { csvText } from "../score/csv.ts";

const BACKEND = nativeStatus().ok ? "cpu" : "ref";

/** A tiny smoke-preset Sudoku run: width 16, 8 steps, checkpoints every 2 steps. */
function tinySpec(root: string, lr = 3e-3): RunSpec {
  const c: RunConfig = presetConfig("smoke", "sudoku", "trm-attn", 0);
  c.backend = BACKEND;
  c.arch = {
    ...c.arch,
    hidden: 16,
    heads: 2,
    prefixLen: 4,
    lCycles: 1,
    haltMaxSteps: 2,
    mamba: { ...c.arch.mamba, dState: 8, headdim: 8, chunkSize: 16 },
  };
  c.data = {
    dir: null,
    generate: { kind: "sudoku", size: 4, train: 16, test: 6, aug: 1, seed: 5 },
    cacheRoot: `${root}/datasets`,
  };
  c.train = {
    ...c.train,
    batchSize: 8,
    steps: 8,
    warmupSteps: 2,
    lr,
    evalEvery: 4,
    checkpointEvery: 2,
    evalBatchSize: 4,
  };
  return {
    preset: "smoke",
    task: "sudoku",
    model: "trm-attn",
    seed: 0,
    config: c,
    runsRoot: root,
    dir: `${root}/sudoku/trm-attn/seed-0`,
  };
}

function context(lines: string[]): StepContext {
  return { log: (l) => lines.push(l), progress: false };
}

class Killed extends Error {}

Deno.test("reproduce steps: an interrupted train step resumes from its checkpoint; done steps are skipped; a changed config re-runs", async () => {
  const root = await Deno.makeTempDir({ prefix: "trm-reproduce-test-" });
  try {
    const r = tinySpec(root);
    const lines: string[] = [];
    assert.equal((await prepareStep(r, context(lines))).skipped, false);
    assert.ok(await readMarker(r.dir, "prepare"), "prepare leaves a marker");

    // Interrupt training after step 5 (the checkpoint of step 4 is on disk, no train marker).
    await assert.rejects(
      runTraining(r.config, {
        out: trainDir(r),
        resume: false,
        maxMinutes: null,
        logEvery: 1000,
        progress: false,
        overrides: {},
        log: () => {},
        afterStep: (tr) => {
          if (tr.step === 5) throw new Killed("killed");
        },
      }),
      Killed,
    );
    assert.equal(await readMarker(r.dir, "train"), null, "no marker for the interrupted step");

    // Rerun: prepare is skipped, train resumes at step 4 and finishes.
    lines.length = 0;
    assert.equal((await prepareStep(r, context(lines))).skipped, true);
    const t = await trainStep(r, context(lines));
    assert.equal(t.skipped, false);
    assert.ok(lines.some((l) => l.includes("resuming at step 4")), lines.join("\n"));
    assert.equal(t.marker.info.steps, 8);
    assert.equal((await trainStep(r, context(lines))).skipped, true, "finished train is skipped");

    // Evaluate (reloads the trained checkpoint) and score.
    const ev = await evaluateStep(r, context(lines));
    assert.equal(ev.skipped, false);
    const pred = (await Deno.readTextFile(predPath(r))).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    assert.equal(pred.length, 6);
    assert.equal(pred[0].prediction.length, 16);
    assert.equal(pred[0].steps, 2);
    assert.equal((await scoreStep(r, context(lines))).skipped, false);
    assert.equal((await scoreStep(r, context(lines))).skipped, true);

    // summary rows follow the column contract and carry provenance.
    const rows = await runSummaryRows(r);
    await csvText(REPRO_SUMMARY_COLUMNS, rows); // throws on a row that breaks the contract
    const metrics = rows.map((x) => x.metric);
    for (const m of ["exact_accuracy", "cell_accuracy", "mean_act_steps", "train_steps"]) {
      assert.ok(metrics.includes(m), m);
    }
    assert.ok(rows.every((x) => x.config_hash && x.commit && x.backend && x.definition));

    // A changed configuration invalidates the train marker: training starts over, and the
    // evaluate/score markers of the old run are gone.
    const changed = tinySpec(root, 1e-3);
    lines.length = 0;
    const t2 = await trainStep(changed, context(lines));
    assert.equal(t2.skipped, false);
    assert.ok(lines.some((l) => l.includes("starting over")), lines.join("\n"));
    assert.equal(await readMarker(r.dir, "evaluate"), null);
    assert.equal(await readMarker(r.dir, "score"), null);
    const evals = await readCsv(`${trainDir(r)}/eval.csv`, EVAL_COLUMNS);
    assert.deepEqual(evals.map((e) => e.step), ["4", "8"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

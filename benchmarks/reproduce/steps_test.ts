import assert from "node:assert/strict";
import { nativeStatus } from "../../engine/backends/mod.ts";
import { EVAL_COLUMNS } from "../../recursion/run/record.ts";
import { runTraining } from "../../recursion/run/loop.ts";
import { quietControl, tinyRunConfig } from "../../recursion/testing.ts";
import { readCsv } from "../../engine/csv.ts";
import { readMarker } from "./markers.ts";
import {
  arcVoteFiles,
  evaluateStep,
  predPath,
  prepareStep,
  type RunSpec,
  runSpec,
  scoreDir,
  scoreStep,
  type StepContext,
  trainDir,
  trainStep,
} from "./steps.ts";
import { REPRO_SUMMARY_COLUMNS, runSummaryRows } from "./summary.ts";
import { csvText } from "../../engine/csv.ts";
import { DIAGNOSTICS_COLUMNS, PASS_AT_K_COLUMNS } from "../score/tables.ts";

const BACKEND = nativeStatus().ok ? "cpu" : "ref";

/** A tiny smoke-preset Sudoku run: width 16, 8 steps, checkpoints every 2 steps. */
function tinySpec(root: string, lr = 3e-3): RunSpec {
  const c = tinyRunConfig({
    backend: BACKEND,
    cacheRoot: `${root}/datasets`,
    preset: "smoke",
    seed: 0,
    arch: { haltMaxSteps: 2 },
    generate: { train: 16 },
    train: { steps: 8, warmupSteps: 2, lr, evalEvery: 4, checkpointEvery: 2 },
  });
  return {
    preset: "smoke",
    task: "sudoku",
    model: "trm-attn",
    seed: 0,
    config: c,
    runsRoot: root,
    dir: `${root}/sudoku/trm-attn/seed-0`,
    pooling: "pooled",
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
      runTraining(
        r.config,
        quietControl(trainDir(r), {
          afterStep: (tr) => {
            if (tr.step === 5) throw new Killed("killed");
          },
        }),
      ),
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

    // Training by other source code (engine/operators/recursion/tasks) is never resumed or
    // reused: a changed source changes the train hash, and the old folder is trained again.
    const record = JSON.parse(await Deno.readTextFile(`${trainDir(r)}/config.json`));
    assert.equal(typeof record.sourceHash, "string");
    await Deno.writeTextFile(
      `${trainDir(r)}/config.json`,
      JSON.stringify({ ...record, sourceHash: "other-code" }),
    );
    await Deno.remove(`${r.dir}/markers/train.json`); // what a new source hash amounts to
    lines.length = 0;
    assert.equal((await trainStep(r, context(lines))).skipped, false);
    assert.ok(lines.some((l) => l.includes("trained by other source code")), lines.join("\n"));
    assert.ok(!lines.some((l) => l.includes("resuming")), lines.join("\n"));

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

Deno.test("reproduce steps: ARC training writes every evaluation's predictions; the score pools them (default) or takes the final one", async () => {
  const root = await Deno.makeTempDir({ prefix: "trm-reproduce-arc-test-" });
  try {
    const pooled = runSpec("smoke", "arc", "trm-attn", 0, BACKEND, root, "pooled");
    const c = pooled.config;
    c.arch = { ...c.arch, hidden: 16, heads: 2, prefixLen: 4, lCycles: 1, haltMaxSteps: 2 };
    c.train = { ...c.train, steps: 4, evalEvery: 2, checkpointEvery: 2, evalBatchSize: 8 };
    const lines: string[] = [];
    await prepareStep(pooled, context(lines));
    // A finished run of the same configuration from before per-evaluation predictions existed
    // is trained again rather than resumed (the pooled score needs every evaluation).
    await runTraining(c, quietControl(trainDir(pooled)));
    await trainStep(pooled, context(lines));
    assert.ok(lines.some((l) => l.includes("no per-evaluation predictions")), lines.join("\n"));
    const files = await arcVoteFiles(pooled);
    assert.deepEqual(files.map((f) => f.step), [2, 4]);
    await evaluateStep(pooled, context(lines));
    // The last evaluation during training and the evaluate step use the same EMA weights.
    assert.equal(await Deno.readTextFile(files[1].path), await Deno.readTextFile(predPath(pooled)));
    const first = (await Deno.readTextFile(files[0].path)).trim().split("\n");
    const sc = await scoreStep(pooled, context(lines));
    assert.deepEqual(sc.marker.info.evaluationSteps, [2, 4]);
    const passPooled = await readCsv(`${scoreDir(pooled)}/pass_at_k.csv`, PASS_AT_K_COLUMNS);
    assert.ok(passPooled.every((p) => p.pooling === "pooled"));
    const rows = await runSummaryRows(pooled);
    const def = rows.find((x) => x.metric === "pass_at_k")!.definition as string;
    assert.match(def, /votes pooled over 2 evaluations \(steps 2 4;/);
    const diag = await readCsv(`${scoreDir(pooled)}/diagnostics.csv`, DIAGNOSTICS_COLUMNS);
    const votes = diag.reduce((a, d) => a + Number(d.n_votes), 0);
    assert.equal(votes, 2 * first.length, "pooled votes = both evaluations' predictions");

    // --pooling single: a different score hash, re-scored on pred.jsonl alone.
    const single = { ...pooled, pooling: "single" as const };
    const sc1 = await scoreStep(single, context(lines));
    assert.equal(sc1.skipped, false);
    assert.deepEqual(sc1.marker.info.evaluationSteps, [4]);
    assert.match(
      (await runSummaryRows(single)).find((x) => x.metric === "pass_at_k")!.definition as string,
      /votes of one evaluation \(final EMA weights/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

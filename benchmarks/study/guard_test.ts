/**
 * The study's regression guard: verify at preset cpu-study compares every seed's checked metrics
 * (exact and cell accuracy) with the committed baseline
 * benchmarks/reproduce/expected/baselines/cpu-study/baseline.csv
 * (baseline.ts: fails below mean − max(3 sd, resolution) over the baseline's seeds; rows whose
 * threshold is at or below the trivial floor are report-only). Synthetic summary and baseline
 * CSVs: the unchanged summary passes, one model whose mean drops by several sds fails, and a
 * missing baseline fails unless --no-baseline.
 */
import assert from "node:assert/strict";
import {
  baselineText,
  buildBaseline,
  isReducedPreset,
  readBaseline,
} from "../reproduce/baseline.ts";
import { readSummary, verify } from "../reproduce/verify.ts";
import type { SummaryRow } from "../reproduce/summary.ts";
import { studyRows, VALUES, writeSummary } from "./testing.ts";

const FLOORS = {
  exact_accuracy: { value: 0, source: "test: nothing learned" },
  cell_accuracy: { value: 25, source: "test: majority token" },
};

async function setup(): Promise<{ root: string; baselines: string }> {
  const root = await Deno.makeTempDir({ prefix: "trm-study-guard-test-" });
  const baselines = `${root}/baselines`;
  const rows = studyRows();
  const b = buildBaseline("cpu-study", rows, { sudoku: FLOORS, maze: FLOORS, arc: FLOORS });
  await Deno.mkdir(`${baselines}/cpu-study`, { recursive: true });
  await Deno.writeTextFile(`${baselines}/cpu-study/baseline.csv`, await baselineText(b));
  return { root, baselines };
}

/** verify at cpu-study of `rows` written to and read back from a summary.csv. */
async function check(root: string, rows: SummaryRow[], baselines: string, noBaseline = false) {
  await writeSummary(`${root}/summary.csv`, rows);
  return await verify("cpu-study", await readSummary(`${root}/summary.csv`), root, baselines, {
    noBaseline,
  });
}

Deno.test("guard: cpu-study is a reduced preset with its own baseline folder", () => {
  assert.ok(isReducedPreset("cpu-study"));
  assert.ok(isReducedPreset("cpu-mini") && isReducedPreset("smoke"));
  assert.ok(!isReducedPreset("paper") && !isReducedPreset("cpu-nothing"));
});

Deno.test("guard: the unchanged study passes; a model's mean down by 5 sd fails verify", async () => {
  const { root, baselines } = await setup();
  try {
    const baseline = await readBaseline(`${baselines}/cpu-study/baseline.csv`);
    const unchanged = await check(root, studyRows(), baselines);
    assert.equal(unchanged.failed, 0, unchanged.lines.join("\n"));
    assert.ok(unchanged.rows.some((r) => r.status === "ok"));
    // MLP-t on the Maze stand-in learns nothing: its exact accuracy is report-only, not failed.
    assert.ok(
      unchanged.rows.some((r) =>
        r.task === "maze" && r.model === "trm-mlp-t" && r.metric === "exact_accuracy" &&
        r.status === "unchecked"
      ),
    );
    assert.match(unchanged.lines[0], /cpu-study is a REDUCED scale/);
    assert.match(unchanged.lines.at(-1)!, /^verify: passed/);

    // Inject: maze/tr-mamba2attn exact accuracy down by 5 baseline sds on every seed.
    const b = baseline.find((r) =>
      r.task === "maze" && r.model === "tr-mamba2attn" && r.metric === "exact_accuracy"
    )!;
    assert.equal(b.check, "checked");
    const drop = 5 * (b.sd as number);
    assert.ok(drop > (b.tolerance as number), "the injected drop exceeds the tolerance");
    const values = {
      ...VALUES,
      "maze|tr-mamba2attn": {
        ...VALUES["maze|tr-mamba2attn"],
        exact_accuracy: VALUES["maze|tr-mamba2attn"].exact_accuracy.map((v) => v - drop),
      },
    };
    const sabotaged = await check(root, studyRows(values), baselines);
    const bad = sabotaged.rows.filter((r) => r.status === "regression");
    assert.deepEqual(
      [...new Set(bad.map((r) => `${r.task}/${r.model} ${r.metric}`))],
      ["maze/tr-mamba2attn exact_accuracy"],
    );
    assert.equal(bad.length, 3); // every seed
    assert.equal(sabotaged.failed, 3);
    assert.match(sabotaged.lines.at(-1)!, /^verify: FAILED/);
    const csv = await Deno.readTextFile(`${root}/verify.csv`);
    assert.match(csv, /regression/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("guard: before the first study baseline, verify fails unless --no-baseline", async () => {
  const root = await Deno.makeTempDir({ prefix: "trm-study-guard-test-" });
  try {
    const none = `${root}/baselines`; // no cpu-study folder yet
    const res = await check(root, studyRows(), none);
    assert.equal(res.failed, 1);
    assert.ok(res.lines.some((l) => l.includes(`no baseline at ${none}/cpu-study/baseline.csv`)));
    const skip = await check(root, studyRows(), none, true);
    assert.equal(skip.failed, 0);
    assert.ok(skip.lines.some((l) => /nothing compared \(--no-baseline\)/.test(l)));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

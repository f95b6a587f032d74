import assert from "node:assert/strict";
import { readCsv } from "../../engine/csv.ts";
import { loadReference } from "../score/reference.ts";
import { readSummary, verify } from "../reproduce/verify.ts";
import {
  CLAIMS,
  claimVerdict,
  claimVerifyRows,
  evaluateClaims,
  paperValues,
  PARITY_MARGIN_POINTS,
} from "./claims.ts";
import { compareModels } from "./compare.ts";
import {
  DIFFERENCE_COLUMNS,
  DirtyRowsError,
  INTERVAL_COLUMNS,
  RQ_COLUMNS,
  runDir,
  writeStudyReport,
} from "./report.ts";
import { VERDICT_RULE } from "./stats.ts";
import { studyRows, VALUES, writeRuns, writeSummary } from "./testing.ts";

const EXPECTED: Record<string, string> = {
  "rq1.pass2": "agrees",
  "rq2.pass1": "agrees",
  "rq2.pass2": "agrees",
  "rq2.pass100": "disagrees",
  "rq2.passmax": "disagrees",
  "rq3.sudoku.trm-mlp-t.trm-attn": "agrees",
  "rq3.sudoku.trm-mlp-t.tr-mamba2attn": "agrees",
  "rq3.sudoku.tr-mamba2mlpt.trm-attn": "agrees",
  "rq3.sudoku.tr-mamba2mlpt.tr-mamba2attn": "agrees",
  "rq3.maze.tr-mamba2attn.trm-mlp-t": "agrees",
  "rq3.maze.tr-mamba2attn.tr-mamba2mlpt": "agrees",
  "rq4.distinct": "agrees",
  "rq4.entropy": "inconclusive at this scale",
  "rq4.top1": "agrees",
};

async function study(): Promise<{ root: string; summary: string; runs: string }> {
  const root = await Deno.makeTempDir({ prefix: "trm-study-report-test-" });
  const summary = `${root}/summary.csv`;
  await writeSummary(summary, studyRows());
  await writeRuns(`${root}/runs`);
  return { root, summary, runs: `${root}/runs` };
}

Deno.test("claims: the published values in claims.ts match expected/reference", async () => {
  const ref = await loadReference();
  for (const c of CLAIMS) {
    for (const side of ["a", "b"] as const) {
      const id = c.ref[side];
      if (!id) continue;
      const r = ref.find((x) => x.id === id);
      assert.ok(r, `${c.id}: reference id ${id} not found`);
      assert.equal(r.value, c.paper[side], `${c.id} ${side}`);
    }
    // Every claim's published values come from the reference table, and a published difference
    // agrees with its two published values (to the papers' rounding).
    const p = paperValues(c, ref);
    assert.equal(p.source, "benchmarks/reproduce/expected/reference", c.id);
    if (c.ref.diff) assert.ok(Math.abs(p.diff - (p.b - p.a)) < 0.011, `${c.id}: ${p.diff}`);
  }
  // The claims of the brief: +2.0 at pass@2, +4.75 at pass@100, pass@1 parity (−0.25).
  const diff = (id: string) => paperValues(CLAIMS.find((c) => c.id === id)!, ref).diff;
  assert.equal(diff("rq2.pass2"), 2);
  assert.equal(diff("rq2.pass100"), 4.75);
  assert.equal(diff("rq2.pass1"), -0.25);
  assert.equal(diff("rq2.passmax"), 4.25);
});

Deno.test("claims: a known difference gives the expected verdict", async () => {
  const ref = await loadReference();
  const res = evaluateClaims(studyRows(), ref, { resamples: 200 });
  assert.deepEqual(
    Object.fromEntries(res.map((r) => [r.claim.id, r.verdict])),
    EXPECTED,
  );
  // The largest K the run offers stands in for the paper's 1000, and says so.
  const max = res.find((r) => r.claim.id === "rq2.passmax")!;
  assert.equal(max.k, 100);
  assert.match(max.note, /largest K this run offers \(the paper's is 1000\)/);
  // Parity: a 3-point gap with a tight interval lies outside the 2-point margin.
  const shifted = studyRows({
    ...VALUES,
    "arc|tr-mamba2attn": { ...VALUES["arc|tr-mamba2attn"], "pass_at_k@1": [13.1, 13.4, 13.3] },
  });
  const p1 = evaluateClaims(shifted, ref, { claims: CLAIMS.filter((c) => c.id === "rq2.pass1") });
  assert.equal(PARITY_MARGIN_POINTS, 2);
  assert.equal(p1[0].verdict, "disagrees");
  // Both at 0 on every seed: parity (and "parity or better") is vacuous, so inconclusive.
  const floor = studyRows({
    ...VALUES,
    "arc|trm-attn": {
      ...VALUES["arc|trm-attn"],
      "pass_at_k@1": [0, 0, 0],
      "pass_at_k@2": [0, 0, 0],
    },
    "arc|tr-mamba2attn": {
      ...VALUES["arc|tr-mamba2attn"],
      "pass_at_k@1": [0, 0, 0],
      "pass_at_k@2": [0, 0, 0],
    },
  });
  const f = evaluateClaims(floor, ref, {
    claims: CLAIMS.filter((c) => ["rq2.pass1", "rq1.pass2"].includes(c.id)),
  });
  assert.equal(f.length, 2);
  for (const r of f) {
    assert.equal(r.verdict, "inconclusive at this scale", r.claim.id);
    assert.match(r.note, /both models at the floor \(0\) on every seed/);
  }
  // A directional claim at the floor is inconclusive by the interval rule anyway.
  // One seed: no interval, inconclusive.
  const one = studyRows().filter((r) => r.seed === 0);
  const r1 = evaluateClaims(one, ref, { claims: CLAIMS.filter((c) => c.id === "rq2.pass2") });
  assert.equal(r1[0].verdict, "inconclusive at this scale");
  assert.match(r1[0].note, /one shared seed/);
  // A model that did not run: not evaluated.
  const noMlp = studyRows().filter((r) => r.model !== "trm-mlp-t");
  const r2 = evaluateClaims(noMlp, ref, {
    claims: CLAIMS.filter((c) => c.id === "rq3.sudoku.trm-mlp-t.trm-attn"),
  });
  assert.equal(r2[0].status, "not-run");
  assert.equal(r2[0].verdict, null);
});

Deno.test("claims: parity or better (non-inferiority) disagrees only below −margin", async () => {
  const c = CLAIMS.find((x) => x.id === "rq1.pass2")!;
  assert.ok(c.atLeastParity);
  const m = c.margin!;
  // The interval of b − a is shifted by the margin before the directional rule: a difference
  // below 0 but within the margin is still "parity or better"; one entirely below −m is not.
  assert.equal(claimVerdict(c, { lo: -m - 3, hi: -m - 0.5 }), "disagrees");
  assert.equal(claimVerdict(c, { lo: -m + 0.25, hi: -0.5 }), "agrees");
  assert.equal(claimVerdict(c, { lo: -m - 1, hi: -m + 1 }), "inconclusive at this scale");
  // The same through evaluateClaims: the hybrid ~6 points under TRM-attn at pass@2 on every seed.
  const ref = await loadReference();
  const worse = studyRows({
    ...VALUES,
    "arc|tr-mamba2attn": {
      ...VALUES["arc|tr-mamba2attn"],
      "pass_at_k@1": [3, 4, 3.5],
      "pass_at_k@2": [4, 6.5, 4.8],
    },
  });
  const [r] = evaluateClaims(worse, ref, { claims: [c] });
  assert.ok(r.interval!.hi < -m, `interval ${JSON.stringify(r.interval)}`);
  assert.equal(r.verdict, "disagrees");
});

Deno.test("compare: paired by seed; unshared seeds are left out and named", () => {
  const rows = studyRows().filter((r) => !(r.model === "trm-attn" && r.seed === 2));
  const r = compareModels(rows, {
    task: "sudoku",
    metric: "exact_accuracy",
    k: null,
    a: "trm-attn",
    b: "trm-mlp-t",
  });
  assert.ok(r.ok);
  assert.deepEqual(r.seeds, [0, 1]);
  assert.deepEqual(r.onlyB, [2]);
  assert.deepEqual(r.diff.diffs, [30, 30]);
});

Deno.test("writeStudyReport: files, intervals, differences, RQ table with verdicts and rule", async () => {
  const { root, summary, runs } = await study();
  try {
    const out = `${root}/report`;
    const rep = await writeStudyReport({ summary, runs, out, wallSeconds: 3725, resamples: 200 });
    for (
      const f of [
        "intervals.csv",
        "differences.csv",
        "rq.csv",
        "README.md",
        "arc/pass_at_k.svg",
        "arc/distinct_candidates.svg",
        "arc/vote_entropy.svg",
        "sudoku/curves_exact.svg",
        "sudoku/curves_cell.svg",
        "sudoku/curves_loss.svg",
        "maze/curves_exact.svg",
        "arc/curves_loss.svg",
      ]
    ) {
      assert.ok((await Deno.stat(`${out}/${f}`)).isFile, f);
      assert.ok(rep.written.includes(`${out}/${f}`), f);
    }
    assert.deepEqual(rep.warnings, []);
    // intervals.csv: 3 seeds, mean, t-interval.
    const iv = await readCsv(`${out}/intervals.csv`, INTERVAL_COLUMNS);
    const mlp = iv.find((r) =>
      r.task === "sudoku" && r.model === "trm-mlp-t" && r.metric === "exact_accuracy"
    )!;
    assert.equal(mlp.n_seeds, "3");
    assert.equal(Number(mlp.mean), 71);
    assert.ok(Math.abs(Number(mlp.sd) - 1) < 1e-12);
    // t(0.975, 2) = 4.3027 → half-width 4.3027 / √3.
    assert.ok(Math.abs(Number(mlp.ci95_hi) - (71 + 4.302653 / Math.sqrt(3))) < 1e-4);
    // differences.csv: hybrid − attention on every task; MLP-t − attention on Sudoku/Maze only.
    const df = await readCsv(`${out}/differences.csv`, DIFFERENCE_COLUMNS);
    const pairs = new Set(df.map((r) => `${r.task}|${r.comparison}`));
    for (const t of ["arc", "sudoku", "maze"]) {
      assert.ok(pairs.has(`${t}|tr-mamba2attn − trm-attn`));
    }
    for (const t of ["sudoku", "maze"]) {
      assert.ok(pairs.has(`${t}|trm-mlp-t − trm-attn`));
      assert.ok(pairs.has(`${t}|tr-mamba2mlpt − trm-attn`));
    }
    assert.ok(!pairs.has("arc|trm-mlp-t − trm-attn"));
    assert.ok(!df.some((r) => r.metric === "train_steps"));
    const p2 = df.find((r) =>
      r.task === "arc" && r.metric === "pass_at_k" && r.k === "2" && r.a === "trm-attn"
    )!;
    assert.ok(Math.abs(Number(p2.mean_diff) - 31 / 3) < 1e-9);
    assert.equal(p2.seeds, "0 1 2");
    assert.equal(p2.bootstrap, "seeds only"); // the ranks do not reproduce pass@K
    const dc = df.find((r) => r.task === "arc" && r.metric === "mean_distinct_candidates")!;
    assert.match(dc.bootstrap, /^seeds × test items \(4 items per seed/);
    assert.ok(Number(dc.boot95_lo) <= Number(dc.mean_diff));
    assert.ok(Number(dc.mean_diff) <= Number(dc.boot95_hi));
    // rq.csv: the expected verdicts; paper values from benchmarks/reproduce/expected/reference.
    const rq = await readCsv(`${out}/rq.csv`, RQ_COLUMNS);
    assert.deepEqual(Object.fromEntries(rq.map((r) => [r.claim_id, r.verdict])), EXPECTED);
    const pass2 = rq.find((r) => r.claim_id === "rq2.pass2")!;
    assert.equal(pass2.paper, "45.88 vs 43.88 (+2.00)");
    assert.equal(
      pass2.paper_source,
      "m2.arc1.pass2.trm-attn;m2.arc1.pass2.hybrid;m2.arc1.pass2.delta",
    );
    assert.match(pass2.ours, /^\+10\.33 \[\+\d+\.\d\d, \+\d+\.\d\d\] \(3 seeds at K=2\)$/);
    assert.equal(
      rq.find((r) => r.claim_id === "rq2.passmax")!.paper,
      "69.75 vs 65.5 (+4.25) at K=1000",
    );
    assert.equal(new Set(rq.map((r) => r.question)).size, 4);
    // README: the bold scale warning first, wall time, the table with the rule, provenance.
    const readme = await Deno.readTextFile(`${out}/README.md`);
    const lines = readme.split("\n");
    assert.match(
      lines[2],
      /^\*\*Reduced scale \(cpu-study.*our own generated data.*NOT the paper's numbers/,
    );
    assert.match(readme, /Measured wall time of the study: \*\*1 h 02 min\*\* \(3725 s on test;/);
    assert.ok(readme.includes(VERDICT_RULE));
    const table = lines.findIndex((l) => l.startsWith("| question | claim |"));
    const rule = lines.findIndex((l) => l.startsWith("**Rule.**"));
    assert.ok(table > 0 && rule > table && rule - table <= CLAIMS.length + 3);
    assert.match(readme, /\| RQ2 \| the hybrid ahead at pass@2.*\| \*\*agrees\*\* \|/);
    assert.match(readme, /Commit\(s\): abc/);
    assert.match(readme, /Config hashes.*sudoku\/trm-mlp-t h-sudoku-trm/);
    assert.match(readme, /Device: test/);
    assert.match(readme, /!\[arc\/pass_at_k\.svg\]\(arc\/pass_at_k\.svg\)/);
    assert.match(readme, /optimiser-step times [^)]*\)\.\n/, "no note: the line ends there");
    // A wall time measured over several invocations says how.
    const noted = `${out}-noted`;
    await writeStudyReport({
      summary,
      runs,
      out: noted,
      wallSeconds: 3725,
      wallNote: "the sum of two invocations",
      resamples: 200,
    });
    assert.match(
      await Deno.readTextFile(`${noted}/README.md`),
      /\(3725 s on test; sum of the runs' optimiser-step times [^)]*\) — the sum of two invocations\./,
    );
    await Deno.remove(noted, { recursive: true });
    // Plots: bands with 3 seeds.
    const svg = await Deno.readTextFile(`${out}/arc/pass_at_k.svg`);
    assert.match(svg, /<polygon class="band"/);
    assert.match(await Deno.readTextFile(`${out}/arc/vote_entropy.svg`), /class="errorbar"/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("writeStudyReport: refuses -dirty rows unless allowDirty; no wall time recorded", async () => {
  const { root, runs } = await study();
  try {
    const summary = `${root}/dirty.csv`;
    const rows = studyRows();
    rows[5] = { ...rows[5], commit: "abc-dirty" };
    await writeSummary(summary, rows);
    const out = `${root}/report`;
    await assert.rejects(
      () => writeStudyReport({ summary, runs, out, resamples: 50 }),
      (e: Error) => e instanceof DirtyRowsError && /abc-dirty/.test(e.message),
    );
    await assert.rejects(() => Deno.stat(`${out}/README.md`), Deno.errors.NotFound);
    await writeStudyReport({ summary, runs, out, allowDirty: true, resamples: 50 });
    const readme = await Deno.readTextFile(`${out}/README.md`);
    assert.match(readme, /\*\*rows of uncommitted code: abc-dirty\*\* \(allowed\)/);
    assert.match(readme, /Wall time of the study: not recorded/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("writeStudyReport: missing run files are named, one seed gives no interval", async () => {
  const { root } = await study();
  try {
    const summary = `${root}/one.csv`;
    await writeSummary(summary, studyRows().filter((r) => r.seed === 0));
    const out = `${root}/report`;
    const rep = await writeStudyReport({ summary, runs: `${root}/nowhere`, out, resamples: 50 });
    assert.ok(rep.warnings.some((w) => w.includes("eval.csv: absent")));
    assert.ok(rep.rq.every((r) => r.verdict === "inconclusive at this scale"));
    assert.ok(rep.intervals.every((r) => r.ci95_lo === null && r.n_seeds === 1));
    assert.match(await Deno.readTextFile(`${out}/README.md`), /## Inputs not read/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("verify at paper: the claims as verify.csv rows; a contradicted claim fails", async () => {
  const root = await Deno.makeTempDir({ prefix: "trm-study-claims-test-" });
  try {
    const rows = studyRows(VALUES, { preset: "paper", scale: "paper" });
    const ref = await loadReference();
    const c = claimVerifyRows(rows, ref);
    const by = (id: string) => c.rows.find((r) => String(r.note).startsWith(`claim ${id}:`))!;
    assert.equal(by("rq2.pass2").status, "claim-agrees");
    assert.equal(by("rq2.pass100").status, "claim-disagrees");
    assert.equal(by("rq2.pass1").status, "claim-agrees");
    assert.equal(by("rq2.pass100").expected, 4.75);
    assert.equal(by("rq2.pass100").model, "tr-mamba2attn-minus-trm-attn");
    assert.match(String(by("rq3.maze.tr-mamba2attn.trm-mlp-t").note), /stand-ins/);
    // Only the claims marked for verify (not RQ4's diagnostics, not pass@max).
    assert.equal(c.rows.length, CLAIMS.filter((x) => x.verify).length);
    // Through verify(): the pass@100 claim fails the run; the output names the stand-in data.
    await writeSummary(`${root}/summary.csv`, rows);
    const res = await verify("paper", await readSummary(`${root}/summary.csv`), root, root);
    const claimRows = res.rows.filter((r) => String(r.status).startsWith("claim-"));
    assert.equal(claimRows.length, c.rows.length);
    assert.ok(res.failed >= 1);
    assert.ok(
      res.lines.some((l) => /claim-disagrees +arc tr-mamba2attn − trm-attn pass@100/.test(l)),
    );
    assert.ok(res.lines.some((l) => /stand-in data/.test(l)));
    assert.match(res.lines.at(-1)!, /claims: \d+ agree, 1 disagree, 0 inconclusive/);
    const csv = await Deno.readTextFile(`${root}/verify.csv`);
    assert.match(csv, /claim-disagrees/);
    // A run of one model only: its claims are not checked (no rows), nothing fails for them.
    const single = rows.filter((r) => r.model === "trm-attn");
    assert.equal(claimVerifyRows(single, ref).rows.length, 0);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("writeStudyReport: takes the pipeline's rows and run list as well as paths", async () => {
  const { root, runs } = await study();
  try {
    const rows = studyRows();
    const folders = [...new Set(rows.map((r) => `${r.task}|${r.model}|${r.seed}`))].map((k) => {
      const [task, model, seed] = k.split("|");
      return { task, model, seed: Number(seed), dir: runDir(runs, task, model, Number(seed)) };
    });
    const out = `${root}/report`;
    const rep = await writeStudyReport({ summary: rows, runs: folders, out, resamples: 50 });
    assert.deepEqual(rep.warnings, []);
    assert.match(
      rep.differences.find((d) => d.metric === "mean_entropy_nats")!.bootstrap as string,
      /items/,
    );
    assert.ok((await Deno.stat(`${out}/maze/curves_exact.svg`)).isFile);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

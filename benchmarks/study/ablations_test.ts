import assert from "node:assert/strict";
import {
  ablatedLabel,
  ablationPatch,
  ablationReadme,
  ablationRows,
  ABLATIONS,
  PAIRED_STUDY,
  selectAblations,
  writeAblationReport,
} from "./ablations.ts";
import { ablationArgs, budgetPatch, main, planStudy } from "./cli.ts";
import { resultReadme } from "../reproduce/results.ts";
import { parseReproduceArgs } from "../reproduce/options.ts";
import { presetConfig, STUDY } from "../../recursion/presets.ts";
import { configHash, mergeConfig } from "../../recursion/run/config.ts";
import { studyRows, writeSummary } from "./testing.ts";

Deno.test("ablations: every patch applies to its models at cpu-study and changes the hash", () => {
  for (const a of ABLATIONS) {
    for (const model of a.models) {
      for (const task of ["sudoku", "maze"] as const) {
        const base = presetConfig("cpu-study", task, model);
        const c = mergeConfig(base, ablationPatch(a, null), a.name);
        assert.notEqual(configHash(c), configHash(base), `${a.name} ${model}`);
        assert.match(c.scale, new RegExp(`^cpu-study ablation ${a.name} \\(`));
        assert.equal(c.train.steps, STUDY.steps);
      }
    }
  }
});

Deno.test("ablations: the budget patch merges in; names select; typos are refused", () => {
  const a = ABLATIONS.find((x) => x.name === "no-recursion")!;
  const p = ablationPatch(a, budgetPatch(2));
  const c = mergeConfig(presetConfig("cpu-study", "maze", "trm-attn"), p);
  assert.deepEqual([c.arch.hCycles, c.arch.lCycles, c.train.steps], [1, 1, 2 * STUDY.steps]);
  assert.match(c.scale, /^cpu-study ablation no-recursion ×2 steps/);
  assert.deepEqual(selectAblations("pre-norm,layout-XMMS").map((x) => x.name), [
    "pre-norm",
    "layout-XMMS",
  ]);
  assert.equal(selectAblations(undefined).length, ABLATIONS.length);
  assert.throws(() => selectAblations("pre-norm,prenorm"), /unknown prenorm/);
  assert.throws(() => planStudy(["--ablation-names", "pre-norm"]), /needs --ablations/);
  assert.throws(() => planStudy(["--ablations", "--ablation-names", "x"]), /unknown x/);
  assert.throws(() => planStudy(["--report-only"]), /--report-only needs --ablations/);
  assert.throws(
    () => planStudy(["--ablations", "--report-only", "--ablation-names", "pre-norm"]),
    /not with --ablation-names/,
  );
  assert.equal(planStudy(["--ablations", "--report-only"]).reportOnly, true);
});

Deno.test("ablations: each runs through reproduce with its models, folders, Sudoku + Maze, no verify", () => {
  const plan = planStudy(["--ablations", "--ablation-names", "bidirectional", "--seeds", "0"]);
  assert.equal(plan.ablations!.length, 1);
  const args = ablationArgs(plan, plan.ablations![0]);
  // parseReproduceArgs reads --config: point it at a real patch file.
  const dir = Deno.makeTempDirSync();
  const fixed = args.map((x) =>
    x === "runs/study/ablations/bidirectional.json" ? `${dir}/p.json` : x
  );
  Deno.writeTextFileSync(`${dir}/p.json`, JSON.stringify(ablationPatch(plan.ablations![0], null)));
  const o = parseReproduceArgs(fixed);
  assert.deepEqual(o.models, ["tr-mamba2attn", "tr-mamba2mlpt"]);
  assert.deepEqual(o.tasks, ["sudoku", "maze"]);
  assert.deepEqual(o.seeds, [0]);
  // No verify: the study's baseline is another configuration (its 'regressions' are the effect).
  assert.equal(o.verify, false);
  assert.deepEqual([o.out, o.runs], [
    "results/cpu-study/ablations/bidirectional",
    "runs/study/ablations/bidirectional",
  ]);
  assert.deepEqual(o.configPatch!.patch, ablationPatch(plan.ablations![0], null));
  const withTasks = planStudy(["--ablations", "--tasks", "arc"]);
  const o2 = ablationArgs(withTasks, withTasks.ablations![0]);
  assert.ok(!o2.includes("sudoku,maze"), "an explicit --tasks must win");
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("ablation rows: ablated − study per model, paired by seed, params from the rows", () => {
  const study = studyRows({
    "sudoku|trm-attn": { exact_accuracy: [50, 60, 70] },
    "sudoku|tr-mamba2attn": { exact_accuracy: [40, 50, 60] },
  }, { params: 1000 });
  const pre = studyRows({
    "sudoku|trm-attn": { exact_accuracy: [20, 31, 39] },
    "sudoku|tr-mamba2attn": { exact_accuracy: [41, 49, 61] },
  }, { params: 1000 });
  const rows = ablationRows(new Map([["pre-norm", study]]), new Map([["pre-norm", pre]]), 500);
  const exact = rows.filter((r) => r.metric === "exact_accuracy");
  assert.equal(exact.length, 2);
  const att = exact.find((r) => r.a === "trm-attn")!;
  assert.equal(att.b, ablatedLabel("trm-attn", "pre-norm"));
  assert.equal(att.ablation, "pre-norm");
  assert.equal(att.mean_diff, (-30 - 29 - 31) / 3);
  assert.equal(att.seeds, "0 1 2");
  assert.deepEqual([att.params_a, att.params_b], [1000, 1000]);
  const readme = ablationReadme(rows, {
    commands: new Map([["pre-norm", "deno task study --ablations"]]),
    commits: ["abc"],
    missing: ["layout-XMMS"],
  });
  assert.match(readme, /^- pre-norm: `deno task study --ablations`$/m);
  // trm-attn: all three seeds ~30 points worse, so the t interval excludes 0: marked worse.
  assert.match(readme, /\| pre-norm \| sudoku \| trm-attn \|.*\| ▼ \|/);
  // tr-mamba2attn: +1, −1, +1: the interval straddles 0: no mark.
  assert.match(readme, /\| pre-norm \| sudoku \| tr-mamba2attn \|.*\| {2}\|/);
  assert.match(readme, /Not run: layout-XMMS/);
});

Deno.test("ablation readme: an ablation better on every seed is marked ▲", () => {
  const study = studyRows({ "maze|trm-attn": { exact_accuracy: [20, 30, 40] } }, { params: 800 });
  // +25, +26, +24 points: the t interval of the difference lies well above 0.
  const better = studyRows(
    { "maze|trm-attn": { exact_accuracy: [45, 56, 64] } },
    { params: 900 },
  );
  const rows = ablationRows(
    new Map([["no-recursion", study]]),
    new Map([["no-recursion", better]]),
    500,
  );
  const row = rows.find((r) => r.metric === "exact_accuracy" && r.a === "trm-attn")!;
  assert.ok((row.t95_lo as number) > 0, `t95_lo ${row.t95_lo}`);
  const readme = ablationReadme(rows, { commands: new Map(), commits: [], missing: [] });
  assert.match(readme, /\| no-recursion \| maze \| trm-attn \| 800 → 900 \|.*\| ▲ \|$/m);
  assert.doesNotMatch(readme, /▼ \|$/m);
});

Deno.test("ablation report: written from summary files; a dirty commit is refused", async () => {
  const dir = await Deno.makeTempDir();
  await writeSummary(
    `${dir}/summary.csv`,
    studyRows({ "maze|trm-attn": { exact_accuracy: [1, 2, 3] } }),
  );
  await Deno.mkdir(`${dir}/ablations/no-recursion`, { recursive: true });
  await writeSummary(
    `${dir}/ablations/no-recursion/summary.csv`,
    studyRows({ "maze|trm-attn": { exact_accuracy: [0, 0, 1] } }),
  );
  // Each ablation's command comes from its own README (as reproduce writes it); two ablations
  // run by one command share a line, one without a README says so.
  const one = "deno task study --ablations --ablation-names no-recursion,pre-norm";
  for (const name of ["no-recursion", "pre-norm", "layout-XMMS"]) {
    await Deno.mkdir(`${dir}/ablations/${name}`, { recursive: true });
    await writeSummary(
      `${dir}/ablations/${name}/summary.csv`,
      studyRows({ "maze|trm-attn": { exact_accuracy: [0, 0, 1] } }),
    );
  }
  for (const name of ["no-recursion", "pre-norm"]) {
    await Deno.writeTextFile(
      `${dir}/ablations/${name}/README.md`,
      resultReadme("cpu-study", [], null, one),
    );
  }
  const r = await writeAblationReport({
    studySummary: `${dir}/summary.csv`,
    dir: `${dir}/ablations`,
    allowDirty: false,
  });
  assert.equal(r.rows.length, 3);
  assert.equal(r.missing.length, ABLATIONS.length - 3);
  const text = await Deno.readTextFile(`${dir}/ablations/README.md`);
  assert.match(text, /no-recursion \| maze/);
  assert.ok(text.includes(`- pre-norm, no-recursion: \`${one}\`\n`), text);
  assert.ok(text.includes("- layout-XMMS: (not recorded in its README)\n"), text);
  assert.ok(!text.includes("verify.csv"), "no ablation folder holds a verify.csv here");
  // An ablation folder with a verify.csv (runs before ablations skipped verify) is explained.
  await Deno.writeTextFile(`${dir}/ablations/pre-norm/verify.csv`, "task\n");
  await writeAblationReport({
    studySummary: `${dir}/summary.csv`,
    dir: `${dir}/ablations`,
    allowDirty: false,
  });
  assert.match(
    await Deno.readTextFile(`${dir}/ablations/README.md`),
    /`pre-norm\/verify\.csv`: written before ablation runs skipped verify; .*not regressions/,
  );
  await Deno.remove(`${dir}/ablations/pre-norm/verify.csv`);
  // Each ablation keeps the study rows it was first paired with: a changed study summary (a
  // rerun of the study) leaves the comparison as it was until the snapshot is removed.
  const snapshot = `${dir}/ablations/no-recursion/${PAIRED_STUDY}`;
  const before = await Deno.readTextFile(`${dir}/ablations/ablations.csv`);
  assert.match(await Deno.readTextFile(snapshot), /^task,/);
  const studyText = await Deno.readTextFile(`${dir}/summary.csv`);
  await writeSummary(
    `${dir}/summary.csv`,
    studyRows({ "maze|trm-attn": { exact_accuracy: [1, 1, 1] } }),
  );
  await writeAblationReport({
    studySummary: `${dir}/summary.csv`,
    dir: `${dir}/ablations`,
    allowDirty: false,
  });
  assert.equal(await Deno.readTextFile(`${dir}/ablations/ablations.csv`), before);
  for (const name of ["no-recursion", "pre-norm", "layout-XMMS"]) {
    await Deno.remove(`${dir}/ablations/${name}/${PAIRED_STUDY}`);
  }
  await writeAblationReport({
    studySummary: `${dir}/summary.csv`,
    dir: `${dir}/ablations`,
    allowDirty: false,
  });
  assert.notEqual(await Deno.readTextFile(`${dir}/ablations/ablations.csv`), before);
  await Deno.writeTextFile(`${dir}/summary.csv`, studyText);
  for (const name of ["no-recursion", "pre-norm", "layout-XMMS"]) {
    await Deno.remove(`${dir}/ablations/${name}/${PAIRED_STUDY}`);
  }
  // --report-only through the CLI: the same report, nothing run.
  await Deno.remove(`${dir}/ablations/README.md`);
  await Deno.remove(`${dir}/ablations/layout-XMMS`, { recursive: true });
  const code = await main([
    "--ablations",
    "--report-only",
    "--out",
    dir,
    "--runs",
    `${dir}/runs`,
    "--no-progress",
  ]);
  assert.equal(code, 0);
  const again = await Deno.readTextFile(`${dir}/ablations/README.md`);
  assert.match(again, /Not run: bidirectional; layout-MXMS; layout-XMMS; layout-MS-XS\./);
  assert.ok(again.includes(`- pre-norm, no-recursion: \`${one}\`\n`), again);
  await assert.rejects(Deno.stat(`${dir}/runs`), Deno.errors.NotFound);
  await Deno.remove(`${dir}/ablations/pre-norm`, { recursive: true });
  await writeSummary(
    `${dir}/ablations/no-recursion/summary.csv`,
    studyRows({ "maze|trm-attn": { exact_accuracy: [0, 0, 1] } }, { commit: "abc-dirty" }),
  );
  await assert.rejects(
    writeAblationReport({
      studySummary: `${dir}/summary.csv`,
      dir: `${dir}/ablations`,
      allowDirty: false,
    }),
    /uncommitted code \(abc-dirty\)/,
  );
  await Deno.remove(dir, { recursive: true });
});

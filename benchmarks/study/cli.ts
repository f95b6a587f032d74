/**
 * `deno task study`: the CPU-scale study of the paper's questions — the reproduce pipeline
 * (benchmarks/reproduce/cli.ts: prepare → parity → train → evaluate → score → tables → verify) at
 * preset `cpu-study` (recursion/presets.ts, calibrated so that TRM-attn is neither saturated nor
 * at zero on Sudoku and Maze), with all four models on Sudoku and Maze and TRM-attn vs
 * TR-mamba2attn on ARC, over seeds 0–4 by default (five fit the 2 h target on a 2-core AVX-512
 * Zen 5: 1 h 43 min measured, in two invocations over one runs folder; they do not on the 2-core
 * Zen 3, where three seeds of the earlier design took 2 h 21 min); then the study report
 * (benchmarks/study/report.ts `writeStudyReport`) unless --no-report.
 *
 *   deno task study [--budget X] [--seeds 0,1,2,3,4] [--tasks sudoku,maze,arc] [--out results/cpu-study]
 *                   [--runs runs/study] [--no-report] [--workers N] [--threads-per-run T]
 *                   [--shard i/n | --merge] [--backend auto|ref|cpu|cuda] [--allow-dirty]
 *                   [--progress | --no-progress] [--micro-batches N|auto] [--recompute]
 *                   [--memory-gib G]
 *
 * Runs go one 1-thread run per core at once by default (`--workers <cores> --threads-per-run 1`;
 * not with --backend cuda): the setting the preset's ≈ 2 h on 2 cores was measured in, and a
 * run's numbers then do not depend on the machine's core count (OpenBLAS rounds differently at
 * another thread count). --workers/--threads-per-run/--shard/--merge and the other reproduce flags
 * above go to `deno task reproduce` unchanged (the parallel ones only where reproduce has them).
 *
 * `--budget X` multiplies every run's step count (and its evaluation and checkpoint cadence, so
 * each run still evaluates the same number of times and ARC still pools the same number of
 * evaluations' votes) by X; the design (data, models, widths, learning rates, warm-up) stays. It
 * is one configuration patch for every run (`<runs>/budget-X.json`, passed as reproduce's
 * `--config`, so worker processes and shards see it too), which is why the preset gives every
 * task the same step count. A budget other than 1 changes the configuration hashes and the scale
 * label (`cpu-study ×X steps …`), so its runs never mix with budget-1 runs.
 *
 * Verify runs with --no-baseline: it checks against
 * benchmarks/reproduce/expected/baselines/cpu-study when that exists
 * (`deno task rebaseline --preset cpu-study` makes it from a study's summary) and otherwise
 * reports that there is none instead of failing (a budget other than 1 is another configuration:
 * verify names the baseline as another configuration's).
 *
 * Exit status: 0 ok; 1 a step failed; 2 usage error.
 */
import {
  assertWritable,
  asUsage,
  dieWithParent,
  FlagValueError,
  numberFlag,
  parseCli,
  printCliResult,
  runMain,
} from "../../engine/cli.ts";
import { STUDY } from "../../recursion/presets.ts";
import { OPTIONS as REPRODUCE_OPTIONS, parseReproduceArgs } from "../reproduce/options.ts";
import type { ReproduceOptions } from "../reproduce/options.ts";
import { reproduce, type ReproduceResult } from "../reproduce/pipeline.ts";
import { writeStudyReport } from "./report.ts";
import {
  type Ablation,
  ABLATION_NAMES,
  ABLATION_TASKS,
  ablationPatch,
  PAIRED_STUDY,
  selectAblations,
  writeAblationReport,
} from "./ablations.ts";

export const PRESET = "cpu-study" as const;

/** Flags of `deno task reproduce` that the study passes through unchanged (same types). */
export const PASS_THROUGH = [
  "seeds",
  "tasks",
  "backend",
  "workers",
  "threads-per-run",
  "shard",
  "merge",
  "progress",
  "no-progress",
  "allow-dirty",
  "micro-batches",
  "recompute",
  "memory-gib",
] as const;

/** The flags of `deno task study` (plus --help, engine/cli.ts). */
export const OPTIONS = {
  budget: { type: "string" },
  out: { type: "string" },
  runs: { type: "string" },
  "no-report": { type: "boolean" },
  ablations: { type: "boolean" },
  "ablation-names": { type: "string" },
  "report-only": { type: "boolean" },
  ...Object.fromEntries(
    PASS_THROUGH.map((f) => [f, REPRODUCE_OPTIONS[f]]),
  ),
} as Record<string, { type: "string" | "boolean" }>;

/** The study's seeds by default (the ablations' too: each pairs with the study run of its seed). */
export const STUDY_SEEDS = "0,1,2,3,4";

const parallelFlags = "[--workers N] [--threads-per-run T] [--shard i/n | --merge]";

export const USAGE =
  `usage: deno task study [--budget X] [--seeds ${STUDY_SEEDS}] [--tasks sudoku,maze,arc]
         [--out results/${PRESET}] [--runs runs/study] [--no-report] ${parallelFlags}
         [--backend auto|ref|cpu|cuda] [--allow-dirty] [--progress | --no-progress]
         [--micro-batches N|auto] [--recompute] [--memory-gib G]
         [--ablations [--ablation-names ${ABLATION_NAMES.join(",")}] [--report-only]]
  The reproduce pipeline at preset ${PRESET} (${STUDY.scaleNote}): Sudoku and
  Maze with trm-attn, trm-mlp-t, tr-mamba2attn, tr-mamba2mlpt; ARC with trm-attn, tr-mamba2attn;
  seeds ${STUDY_SEEDS} by default; then the study report (benchmarks/study/report.ts) into
  <out>/study/ unless --no-report. Default: one 1-thread run per core at once (--workers <cores>
  --threads-per-run 1; not with --backend cuda); measured 1 h 43 min on a 2-core AVX-512 Zen 5
  (seeds 0-2 alone: 1 h 03 min; about 3× as long on a 2-core AVX2 Zen 3: README).
  --budget X (default 1): every run's steps × X (${STUDY.steps} at X = 1; the evaluation and
  checkpoint cadence scale with them, so each run evaluates as often); data, models and optimiser
  settings stay. The other flags go to deno task reproduce (deno task reproduce --help). Verify
  checks benchmarks/reproduce/expected/baselines/cpu-study when it exists, and otherwise says so
  (--no-baseline).
  --ablations: instead of the study, its ablations (benchmarks/study/ablations.ts; all, or those
  --ablation-names lists), each a configuration patch run on ${
    ABLATION_TASKS.join(" and ")
  } (unless --tasks)
  with the models it concerns, into <out>/ablations/<name>/, then <out>/ablations/README.md
  comparing each with the study's own runs (<out>/summary.csv; run the study first), paired by
  seed; the study rows an ablation was first paired with stay in <out>/ablations/<name>/
  paired_study.csv (a rerun of that ablation renews them). Outside the default budget: about 2 h
  per seed for all of them on a 2-core Zen 3. --report-only: no runs, only that report rewritten
  from the CSVs already under <out>/ablations/ (every ablation found there).`;

/** Parsed study options: the `deno task reproduce` command line it runs, and what comes after. */
export interface StudyPlan {
  budget: number;
  report: boolean;
  /** --allow-dirty: also lets the report take rows of uncommitted code. */
  allowDirty: boolean;
  out: string;
  runs: string;
  /** The `--budget` configuration patch (null at X = 1) and the file `--config` names. */
  budgetPatch: { file: string; patch: Record<string, unknown> } | null;
  /** Arguments of `deno task reproduce` (benchmarks/reproduce/options.ts parseReproduceArgs). */
  reproduceArgs: string[];
  /** --ablations: the ablations to run instead of the study (null: the study). */
  ablations: Ablation[] | null;
  /** Whether --tasks was given (the ablations' default tasks otherwise). */
  tasksGiven: boolean;
  /** --ablations --report-only: rewrite the ablation report from existing CSVs, run nothing. */
  reportOnly: boolean;
}

/** A number as a short label ("0.5", "2", "0.333"). */
function budgetLabel(x: number): string {
  return String(Number(x.toPrecision(3)));
}

/**
 * The configuration patch of `--budget X` (null at X = 1): steps, evaluation and checkpoint
 * cadence × X (rounded, at least 1), and the scale label naming the factor.
 */
export function budgetPatch(x: number): Record<string, unknown> | null {
  if (x === 1) return null;
  const scaled = (n: number) => Math.max(1, Math.round(n * x));
  return {
    scale: `${PRESET} ×${budgetLabel(x)} steps (${STUDY.scaleNote})`,
    train: {
      steps: scaled(STUDY.steps),
      evalEvery: scaled(STUDY.evalEvery),
      checkpointEvery: scaled(STUDY.checkpointEvery),
    },
  };
}

/**
 * The study's command line (not --help: `main` answers that first) as a reproduce command line at
 * preset cpu-study; pure (the budget patch file is written by `main`). A TypeError for unknown
 * flags, a FlagValueError (RangeError) for a bad --budget; reproduce's own flags are checked by
 * parseReproduceArgs.
 */
export function planStudy(args: string[]): StudyPlan {
  const r = parseCli("study", USAGE, OPTIONS, args);
  if ("exit" in r) throw new TypeError(r.message ?? "--help: nothing to parse");
  const v = r.values as Record<string, string | boolean | undefined>;
  const budget = v.budget === undefined
    ? 1
    : numberFlag("budget", v.budget as string, { above: 0 });
  if (Math.round(STUDY.steps * budget) < 1) {
    throw new FlagValueError(`--budget: ${v.budget} leaves no training step`);
  }
  const out = ((v.out as string | undefined) ?? `results/${PRESET}`).replace(/\/+$/, "");
  const runs = ((v.runs as string | undefined) ?? "runs/study").replace(/\/+$/, "");
  const patch = budgetPatch(budget);
  const file = `${runs}/budget-${budgetLabel(budget)}.json`;
  const pass: string[] = [];
  for (const f of PASS_THROUGH) {
    const x = v[f];
    if (x === undefined || x === false) continue;
    pass.push(x === true ? `--${f}` : `--${f}=${x}`);
  }
  // One 1-thread run per core at once (unless told otherwise): the setting the preset's time was
  // measured in, and a run's numbers then do not depend on the machine's core count.
  const parallel: string[] = [];
  if (v.backend !== "cuda") {
    parallel.push(`--workers=${navigator.hardwareConcurrency || 1}`, "--threads-per-run=1");
  }
  if (v["ablation-names"] !== undefined && !v.ablations) {
    throw new TypeError("--ablation-names needs --ablations");
  }
  if (v["report-only"] && !v.ablations) throw new TypeError("--report-only needs --ablations");
  if (v["report-only"] && (v["ablation-names"] !== undefined || v["no-report"])) {
    throw new TypeError(
      "--report-only takes every ablation found under <out>/ablations: not with " +
        "--ablation-names or --no-report",
    );
  }
  const ablations = v.ablations
    ? (() => {
      try {
        return selectAblations(v["ablation-names"] as string | undefined);
      } catch (e) {
        throw new FlagValueError((e as Error).message);
      }
    })()
    : null;
  return {
    ablations,
    tasksGiven: v.tasks !== undefined,
    reportOnly: v["report-only"] === true,
    budget,
    report: !v["no-report"],
    allowDirty: v["allow-dirty"] === true,
    out,
    runs,
    budgetPatch: patch ? { file, patch } : null,
    reproduceArgs: [
      ...[
        "--preset",
        PRESET,
        "--seeds",
        STUDY_SEEDS,
        "--out",
        out,
        "--runs",
        runs,
        "--no-baseline",
      ],
      ...(patch ? ["--config", file] : []),
      ...parallel,
      ...pass, // after the defaults: a later --seeds wins (node:util parseArgs keeps the last)
    ],
  };
}

/** Where an ablation's patch, runs and tables go. */
export function ablationPaths(plan: StudyPlan, a: Ablation) {
  return {
    patch: `${plan.runs}/ablations/${a.name}.json`,
    runs: `${plan.runs}/ablations/${a.name}`,
    out: `${plan.out}/ablations/${a.name}`,
  };
}

/**
 * An ablation's reproduce command line: the study's, with its patch as --config (the budget
 * patch merged in), its models, its own runs and out folders, Sudoku + Maze unless --tasks
 * was given (node:util parseArgs keeps the last of a repeated flag), and no verify: the
 * regression baseline is the study's, another configuration, so its regressions would be the
 * ablation's effect; the ablation report compares with the study's runs instead.
 */
export function ablationArgs(plan: StudyPlan, a: Ablation): string[] {
  const p = ablationPaths(plan, a);
  return [
    ...plan.reproduceArgs,
    ...["--config", p.patch, "--models", a.models.join(","), "--out", p.out, "--runs", p.runs],
    "--skip-verify",
    ...(plan.tasksGiven ? [] : ["--tasks", ABLATION_TASKS.join(",")]),
  ];
}

/** The reproduce options of a plan (reads the budget patch file, as `--config` does). */
export function reproduceOptions(plan: StudyPlan): ReproduceOptions {
  return parseReproduceArgs(plan.reproduceArgs);
}

/** Where the study report goes: beside the reproduce tables, in their `study/` folder. */
export const reportDir = (out: string) => `${out}/study`;

/**
 * The study report (benchmarks/study/report.ts `writeStudyReport`): from the pipeline's summary
 * rows and runs, into `<out>/study/` (the reproduce README.md stays `<out>/README.md`).
 */
async function writeReport(
  res: ReproduceResult,
  plan: StudyPlan,
  command: string,
  log: (l: string) => void,
): Promise<void> {
  const out = reportDir(plan.out);
  const r = await writeStudyReport({
    summary: res.summary,
    runs: res.runs,
    out,
    wallSeconds: res.seconds,
    allowDirty: plan.allowDirty,
    command,
  });
  for (const w of r.warnings) log(`study report: ${w}`);
  log(`study: report in ${out}/README.md (${r.written.length} files)`);
}

/** --help (exit 0) and command-line mistakes (exit 2) before anything runs; then the study. */
export async function main(args: string[]): Promise<number> {
  const r = parseCli("study", USAGE, OPTIONS, args);
  if ("exit" in r) return printCliResult(r);
  const plan = await asUsage(() => planStudy(args));
  for (const dir of [plan.out, plan.runs]) assertWritable(dir);
  if (plan.reportOnly) return await ablationReport(plan, (l) => console.log(l));
  if (plan.budgetPatch) {
    await Deno.mkdir(plan.runs, { recursive: true });
    await Deno.writeTextFile(
      plan.budgetPatch.file,
      JSON.stringify(plan.budgetPatch.patch, null, 2) + "\n",
    );
  }
  if (plan.ablations) return await runAblations(plan, args);
  const opts = await asUsage(() => reproduceOptions(plan));
  dieWithParent(); // killing `deno task study` must not leave this process training
  const log = (l: string) => console.log(l);
  log(
    `study: preset ${PRESET}, budget ×${budgetLabel(plan.budget)} (${
      Math.round(STUDY.steps * plan.budget)
    } steps per run)${plan.budgetPatch ? `, patch ${plan.budgetPatch.file}` : ""}`,
  );
  const command = ["deno task study", ...args].join(" ");
  const res = await reproduce(opts, log, command);
  if (!plan.report) return res.failed ? 1 : 0;
  if (opts.shard) {
    log("study: a shard writes no tables and no report: run the study again with --merge");
  } else if (res.failed) {
    log("study: no report: a step or check failed (rerun: finished steps are skipped)");
  } else await writeReport(res, plan, command, log);
  return res.failed ? 1 : 0;
}

/** `--ablations`: each selected ablation through the pipeline, then the ablation report. */
async function runAblations(plan: StudyPlan, args: string[]): Promise<number> {
  const list = plan.ablations!;
  const prepared = [];
  for (const a of list) {
    const p = ablationPaths(plan, a);
    await Deno.mkdir(p.runs, { recursive: true });
    const patch = ablationPatch(a, plan.budgetPatch?.patch ?? null);
    await Deno.writeTextFile(p.patch, JSON.stringify(patch, null, 2) + "\n");
    prepared.push({ a, opts: await asUsage(() => parseReproduceArgs(ablationArgs(plan, a))) });
  }
  dieWithParent();
  const log = (l: string) => console.log(l);
  const command = ["deno task study", ...args].join(" ");
  let failed = 0;
  for (const [i, { a, opts }] of prepared.entries()) {
    log(`study: ablation ${i + 1}/${list.length} ${a.name} (${a.models.join(", ")}): ${a.what}`);
    // Its runs are (re)made now: the report pairs them with the study as it is now.
    await Deno.remove(`${opts.out}/${PAIRED_STUDY}`).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
    const res = await reproduce(opts, log, command);
    failed += res.failed;
  }
  const sharded = plan.reproduceArgs.some((x) => x.startsWith("--shard"));
  if (!plan.report || sharded) return failed ? 1 : 0;
  if (failed) {
    log("study: no ablation report: a step failed (rerun: finished steps are skipped)");
    return 1;
  }
  return await ablationReport(plan, log);
}

/** The ablation report from the CSVs under <out>/ablations (what --report-only does alone). */
async function ablationReport(plan: StudyPlan, log: (l: string) => void): Promise<number> {
  const r = await writeAblationReport({
    studySummary: `${plan.out}/summary.csv`,
    dir: `${plan.out}/ablations`,
    allowDirty: plan.allowDirty,
  });
  log(
    `study: ablation report in ${plan.out}/ablations/README.md (${r.rows.length} rows; ` +
      `not run: ${r.missing.join(", ") || "none"})`,
  );
  return 0;
}

if (import.meta.main) await runMain(main, { name: "study", usage: USAGE });

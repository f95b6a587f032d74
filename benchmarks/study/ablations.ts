/**
 * Ablations of the cpu-study (`deno task study --ablations`): the switches the paper's claims rest
 * on, each one configuration patch over preset cpu-study (recursion/config.ts `norm`, `stack`,
 * `mamba.bidirectional`, and T = n = 1), run by the same reproduce pipeline into
 * `<out>/ablations/<name>/`, then compared with the study's own runs of the same model, task and
 * seeds (`<out>/summary.csv`): `<out>/ablations/ablations.csv` and its README. The study rows an
 * ablation was first compared with stay beside its runs (`<name>/paired_study.csv`), so that a
 * later rerun of the study (another commit or machine) does not re-pair old ablation runs.
 *
 * Outside the default study's budget: every ablation × model × task × seed is one more run of
 * the study's length (about 2 h per seed for all of them on 2 cores).
 */
import type { ModelName } from "../../recursion/config.ts";
import { STUDY } from "../../recursion/presets.ts";
import { type Cell, csvText } from "../../engine/csv.ts";
import { readSummary } from "../reproduce/verify.ts";
import { readmeCommand } from "../reproduce/results.ts";
import { exists } from "../../tasks/io.ts";
import { REPRO_SUMMARY_COLUMNS, type SummaryRow } from "../reproduce/summary.ts";
import { guardResultsWrite, insideResults } from "../../engine/provenance.ts";
import { BOOTSTRAP_RESAMPLES, compareModels, signed } from "./compare.ts";
import { DIFFERENCE_COLUMNS, differenceRow } from "./report.ts";

export interface Ablation {
  name: string;
  /** What changes, in words. */
  what: string;
  /** The claim or question it tests. */
  tests: string;
  /** The configuration patch (merged over the preset's configuration; changes the hash). */
  patch: Record<string, unknown>;
  models: readonly ModelName[];
}

export const ABLATIONS: readonly Ablation[] = [
  {
    name: "pre-norm",
    what: "every sub-layer pre-norm, h + op(RMSNorm(h)), with a final RMSNorm before the heads",
    tests: "the paper's claim that post-norm is needed for stable unrolled recursion",
    patch: { arch: { norm: "pre" } },
    models: ["trm-attn", "tr-mamba2attn"],
  },
  {
    name: "no-recursion",
    what: "T = n = 1: one latent update and one answer update per ACT step (study: T = n = 2)",
    tests: "whether recursion matters at this scale (the floor)",
    patch: { arch: { hCycles: 1, lCycles: 1 } },
    models: ["trm-attn", "tr-mamba2attn"],
  },
  {
    name: "bidirectional",
    what: "Mamba-2 scans forward and flipped with shared weights (study: causal)",
    tests: "whether a causal scan handicaps the hybrids on 2-D grids",
    patch: { arch: { mamba: { bidirectional: "shared" } } },
    models: ["tr-mamba2attn", "tr-mamba2mlpt"],
  },
  {
    name: "layout-MXMS",
    what: "TR-mamba2mlpt stack Mamba-2, MLP-t, Mamba-2, SwiGLU (study: MMXS); same parameters",
    tests: "our guess at the unpublished TR-mamba2mlpt layout",
    patch: { arch: { stack: "MXMS" } },
    models: ["tr-mamba2mlpt"],
  },
  {
    name: "layout-XMMS",
    what: "TR-mamba2mlpt stack MLP-t, Mamba-2, Mamba-2, SwiGLU; same parameters",
    tests: "our guess at the unpublished TR-mamba2mlpt layout",
    patch: { arch: { stack: "XMMS" } },
    models: ["tr-mamba2mlpt"],
  },
  {
    name: "layout-MS-XS",
    what: "TR-mamba2mlpt as two TRM-style layers, Mamba-2 + SwiGLU then MLP-t + SwiGLU; " +
      "one more SwiGLU (more parameters)",
    tests: "our guess at the unpublished TR-mamba2mlpt layout",
    patch: { arch: { stack: "MS/XS" } },
    models: ["tr-mamba2mlpt"],
  },
];

export const ABLATION_NAMES = ABLATIONS.map((a) => a.name);
/** Tasks the ablations run on by default (ARC is at noise level at this scale). */
export const ABLATION_TASKS = ["sudoku", "maze"] as const;

/** The ablations named by a comma list ("all" or undefined: every one); RangeError on a typo. */
export function selectAblations(list: string | undefined): Ablation[] {
  if (list === undefined || list === "all") return [...ABLATIONS];
  const names = list.split(",").map((s) => s.trim()).filter((s) => s);
  const bad = names.filter((n) => !ABLATION_NAMES.includes(n));
  if (bad.length || names.length === 0) {
    throw new RangeError(
      `--ablation-names: unknown ${bad.join(", ") || "(empty)"}; one of ${
        ABLATION_NAMES.join(", ")
      }`,
    );
  }
  return ABLATIONS.filter((a) => names.includes(a.name));
}

/** Deep merge of JSON objects (b wins); for combining the budget patch with an ablation's. */
function mergeJson(
  a: Record<string, unknown>,
  b: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    const isObj = (x: unknown) => x !== null && typeof x === "object" && !Array.isArray(x);
    out[k] = isObj(cur) && isObj(v)
      ? mergeJson(cur as Record<string, unknown>, v as Record<string, unknown>)
      : v;
  }
  return out;
}

/**
 * An ablation's configuration patch over the study's (`budget`: the `--budget` patch or null):
 * its own switches, and a scale label naming it, so its runs never pass for the study's.
 */
export function ablationPatch(
  a: Ablation,
  budget: Record<string, unknown> | null,
): Record<string, unknown> {
  const base = budget ?? {};
  const scale = String(base.scale ?? `cpu-study (${STUDY.scaleNote})`)
    .replace(/^cpu-study/, `cpu-study ablation ${a.name}`);
  return mergeJson(mergeJson(base, a.patch), { scale });
}

/** The model label of an ablated run in the comparison rows: `trm-attn [pre-norm]`. */
export const ablatedLabel = (model: string, name: string) => `${model} [${name}]`;

export const ABLATION_COLUMNS = [
  "ablation",
  "params_a",
  "params_b",
  ...DIFFERENCE_COLUMNS,
] as const;
export type AblationRow = Record<typeof ABLATION_COLUMNS[number], Cell>;

/** The metrics an ablation is judged on (exact accuracy first: the tasks' headline). */
const METRICS = ["exact_accuracy", "cell_accuracy", "mean_act_steps"];

/**
 * ablations.csv rows: for each ablation, task and model it ran, the difference ablated − study
 * run of the same model, paired by seed (bootstrap over seeds), on each of METRICS. `study`: by
 * ablation name, the study rows it is paired with (its paired_study.csv). A model the study
 * lacks, or an ablation not run, gives no row.
 */
export function ablationRows(
  study: ReadonlyMap<string, readonly SummaryRow[]>,
  ablated: ReadonlyMap<string, readonly SummaryRow[]>,
  resamples = BOOTSTRAP_RESAMPLES,
): AblationRow[] {
  const out: AblationRow[] = [];
  for (const a of ABLATIONS) {
    const rows = ablated.get(a.name);
    if (!rows) continue;
    const base = study.get(a.name);
    if (!base) continue;
    const relabelled = rows.map((r) => ({ ...r, model: ablatedLabel(String(r.model), a.name) }));
    const all = [...base, ...relabelled];
    const pairs = [...new Set(rows.map((r) => `${r.task}|${r.model}`))];
    for (const p of pairs) {
      const [task, model] = p.split("|");
      const paramsOf = (m: string) =>
        all.find((r) => r.task === task && r.model === m)?.params ?? null;
      for (const metric of METRICS) {
        const c = { task, metric, k: null, a: model, b: ablatedLabel(model, a.name) };
        const r = compareModels(all, c, { resamples });
        if (!r.ok) continue;
        out.push({
          ablation: a.name,
          params_a: paramsOf(model),
          params_b: paramsOf(c.b),
          ...differenceRow(r),
        });
      }
    }
  }
  return out;
}

const pct = (x: Cell) => (typeof x === "number" ? x.toFixed(1) : "–");

/** The ablations README: what each changes, what it tests, and the exact-accuracy table. */
export function ablationReadme(rows: readonly AblationRow[], o: {
  /** Each ablation run's command line (from its own README), by ablation name; null: unknown. */
  commands: ReadonlyMap<string, string | null>;
  commits: string[];
  missing: string[];
  /** Ablations whose folder holds a verify.csv (runs made before ablations skipped verify). */
  verified?: string[];
}): string {
  // One line per distinct command (null: none recorded), naming the ablations it ran.
  const byCommand = new Map<string | null, string[]>();
  for (const a of ABLATIONS) {
    if (!o.commands.has(a.name)) continue;
    const c = o.commands.get(a.name)!;
    byCommand.set(c, [...(byCommand.get(c) ?? []), a.name]);
  }
  const commandLines = [...byCommand].map(([c, names]) =>
    `- ${names.join(", ")}: ${c === null ? "(not recorded in its README)" : `\`${c}\``}`
  );
  const lines = [
    "# cpu-study ablations",
    "",
    "Reduced CPU scale, our generated Sudoku (4×4) and Maze (5×5) data: NOT the paper's setting.",
    "Each ablation is one configuration patch over preset cpu-study, run on the study's seeds and",
    "compared with the study's own run of the same model, paired by seed: the study rows each",
    "ablation was first compared with (from `../summary.csv` when its report was first written)",
    "stay beside its runs in `<name>/paired_study.csv`, so a rerun of the study does not re-pair",
    "old ablation runs.",
    "Generated by `benchmarks/study/ablations.ts` from the CSVs beside it; do not edit by hand.",
    "",
    "Commands (each ablation's own, from its README):",
    ...(commandLines.length ? commandLines : ["- none run"]),
    "",
    `Commits (ablated runs and the study runs they are paired with): ${
      o.commits.join(", ") || "–"
    }.`,
    "",
    "| ablation | what changes | tests |",
    "|---|---|---|",
    ...ABLATIONS.map((a) => `| ${a.name} | ${a.what} | ${a.tests} |`),
    "",
    "The paper does not publish TR-mamba2mlpt's exact stack; ours (MMXS: Mamba-2, Mamba-2, MLP-t,",
    "SwiGLU) is a guess, which the layout ablations put beside its alternatives.",
    "",
    "## Exact accuracy (%), ablated − study run, paired by seed",
    "",
    `Interval: 95 % percentile bootstrap over seeds (${BOOTSTRAP_RESAMPLES} resamples) and the Student t interval;`,
    "a difference whose Student-t interval excludes 0 is marked ▲ (ablation better) or ▼ (worse)",
    "(the t interval decides, as for the study's verdicts; the bootstrap one is given beside it).",
    "",
    "| ablation | task | model | params (study → ablated) | seeds | study | ablated | difference [t95] [boot95] | |",
    "|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of rows.filter((x) => x.metric === "exact_accuracy")) {
    const lo = r.t95_lo as number | null, hi = r.t95_hi as number | null;
    const mark = lo !== null && hi !== null && (lo > 0 ? "▲" : hi < 0 ? "▼" : "");
    lines.push(
      `| ${r.ablation} | ${r.task} | ${r.a} | ${r.params_a} → ${r.params_b} | ${r.seeds} | ${
        pct(r.mean_a)
      } | ${pct(r.mean_b)} | ${signed(r.mean_diff as number, 1)} [${pct(lo)}, ${pct(hi)}] [${
        pct(r.boot95_lo)
      }, ${pct(r.boot95_hi)}] | ${mark || ""} |`,
    );
  }
  if (o.missing.length) lines.push("", "Not run: " + o.missing.join("; ") + ".");
  if (o.verified?.length) {
    lines.push(
      "",
      `${o.verified.map((n) => `\`${n}/verify.csv\``).join(", ")}: written before ablation runs ` +
        "skipped verify; it compares the ablated runs with the study's baseline, another " +
        "configuration, so its failed rows are the ablation's effect, not regressions. The " +
        "comparison above is the check.",
    );
  }
  lines.push("", "All metrics (cell accuracy, ACT steps too): `ablations.csv`.", "");
  return lines.join("\n");
}

/** The file beside an ablation's runs holding the study rows they are compared with. */
export const PAIRED_STUDY = "paired_study.csv";

/** The study's rows of the tasks and models an ablation ran (all seeds). */
export function pairedStudyRows(
  study: readonly SummaryRow[],
  ablated: readonly SummaryRow[],
): SummaryRow[] {
  const pairs = new Set(ablated.map((r) => `${r.task}|${r.model}`));
  return study.filter((r) => pairs.has(`${r.task}|${r.model}`));
}

/**
 * Writes `<dir>/ablations.csv` and `<dir>/README.md` from each ablation's `<dir>/<name>/summary.csv`
 * (those absent are listed as not run) and the study rows it is paired with: its
 * `<dir>/<name>/paired_study.csv`, written from the study's summary when absent (the `--ablations`
 * run removes it before an ablation's runs). Each ablation's command line comes from its own
 * `<dir>/<name>/README.md`. Returns the rows.
 */
export async function writeAblationReport(o: {
  studySummary: string;
  dir: string;
  allowDirty: boolean;
}): Promise<{ rows: AblationRow[]; written: string[]; missing: string[] }> {
  let study: SummaryRow[] | null = null;
  const paired = new Map<string, SummaryRow[]>();
  const snapshots: [string, SummaryRow[]][] = [];
  const ablated = new Map<string, SummaryRow[]>();
  const commands = new Map<string, string | null>();
  const missing: string[] = [], verified: string[] = [];
  for (const a of ABLATIONS) {
    try {
      ablated.set(a.name, await readSummary(`${o.dir}/${a.name}/summary.csv`));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      missing.push(a.name);
      continue;
    }
    const readme = `${o.dir}/${a.name}/README.md`;
    commands.set(
      a.name,
      await exists(readme) ? readmeCommand(await Deno.readTextFile(readme)) : null,
    );
    if (await exists(`${o.dir}/${a.name}/verify.csv`)) verified.push(a.name);
    const snapshot = `${o.dir}/${a.name}/${PAIRED_STUDY}`;
    if (await exists(snapshot)) {
      paired.set(a.name, await readSummary(snapshot));
    } else {
      study ??= await readSummary(o.studySummary);
      const rows = pairedStudyRows(study, ablated.get(a.name)!);
      paired.set(a.name, rows);
      snapshots.push([snapshot, rows]);
    }
  }
  const used = [...[...paired.values()].flat(), ...[...ablated.values()].flat()];
  const commits = [...new Set(used.map((r) => String(r.commit)))];
  const dirty = commits.filter((c) => c.includes("dirty"));
  if (dirty.length && !o.allowDirty) {
    throw new RangeError(
      `ablation report: refused: rows of uncommitted code (${dirty.join(", ")}); rerun at a ` +
        `clean commit or pass --allow-dirty`,
    );
  }
  if (insideResults(o.dir)) {
    await guardResultsWrite(o.dir, { allowDirty: o.allowDirty, what: "ablation report" });
  }
  const rows = ablationRows(paired, ablated);
  await Deno.mkdir(o.dir, { recursive: true });
  for (const [path, rows] of snapshots) {
    await Deno.writeTextFile(path, await csvText(REPRO_SUMMARY_COLUMNS, rows));
  }
  const csv = `${o.dir}/ablations.csv`, readme = `${o.dir}/README.md`;
  await Deno.writeTextFile(csv, await csvText(ABLATION_COLUMNS, rows));
  await Deno.writeTextFile(readme, ablationReadme(rows, { commands, commits, missing, verified }));
  return { rows, written: [csv, readme], missing };
}

/**
 * The published numbers in `benchmarks/reproduce/expected/reference/*.csv` (Wang & Reid 2026; the
 * TRM paper, arXiv:2510.04871, and its README; parameter counts computed from the layer formulas),
 * typed for the verify step. Every file has the same columns:
 *
 * | column | meaning |
 * | --- | --- |
 * | id | unique key across all files |
 * | paper | `wang-reid-2026` (hybrid paper), `jolicoeur-martineau-2025` (TRM paper), `trm-readme`, `arc-prize`, `arxiv-2512.11847`, `computed` |
 * | source_tag | source keys, `;`-separated: `TRM-paper` (arXiv:2510.04871), `TRM-code:<file>` (SamsungSAILMontreal/TinyRecursiveModels), `M2-abs` (the hybrid paper's abstract), `M2-sec:<x>` (a third-party summary of it), `computed (…)` (from the layer formulas) |
 * | source_kind | `primary`, `secondary` (third-party summary, may carry errors) or `computed` |
 * | table | where in the source |
 * | task | `arc-agi-1`, `arc-agi-2`, `sudoku-extreme`, `maze-30x30-hard`, or empty |
 * | model | model name as this project uses it (`trm-attn`, `tr-mamba2attn`, …); deltas are `tr-mamba2attn-minus-trm-attn` |
 * | setting | the table's row label or configuration |
 * | metric | `pass_at_k`, `pass_at_k_delta`, `exact_accuracy`, `unique_candidates`, `vote_entropy`, `stratum_n`, `depth`, `forward_passes`, `params` |
 * | k | K of pass@K, else empty |
 * | stratum | `all`, `hard`, `easy` |
 * | value | the number; empty when the source has none (e.g. OOM) |
 * | unit | `pct`, `points`, `count`, `layers`, `millions`, `params`, `unknown` |
 * | notes | conflicts and caveats (e.g. the pass@1 discrepancy) |
 *
 * @example
 * ```ts
 * import { findReference, loadReference } from "./reference.ts";
 * const rows = await loadReference();
 * findReference(rows, { task: "arc-agi-1", model: "tr-mamba2attn", metric: "pass_at_k", k: 2 });
 * // [{ id: "m2.arc1.pass2.hybrid", value: 45.88, sourceKind: "primary", ... }]
 * ```
 */
import { readCsv } from "../../engine/csv.ts";

/** Header of every reference CSV. */
export const REFERENCE_COLUMNS = [
  "id",
  "paper",
  "source_tag",
  "source_kind",
  "table",
  "task",
  "model",
  "setting",
  "metric",
  "k",
  "stratum",
  "value",
  "unit",
  "notes",
] as const;

export const SOURCE_KINDS = ["primary", "secondary", "computed"] as const;
export const STRATA = ["all", "hard", "easy"] as const;
export const REFERENCE_METRICS = [
  "pass_at_k",
  "pass_at_k_delta",
  "exact_accuracy",
  "unique_candidates",
  "vote_entropy",
  "stratum_n",
  "depth",
  "forward_passes",
  "params",
] as const;
export const REFERENCE_UNITS = [
  "pct",
  "points",
  "count",
  "layers",
  "millions",
  "params",
  "unknown",
] as const;

/** One published (or computed) number. */
export interface ReferenceRow {
  readonly id: string;
  readonly paper: string;
  readonly sourceTags: readonly string[];
  readonly sourceKind: typeof SOURCE_KINDS[number];
  readonly table: string;
  readonly task: string;
  readonly model: string;
  readonly setting: string;
  readonly metric: typeof REFERENCE_METRICS[number];
  readonly k: number | null;
  readonly stratum: typeof STRATA[number];
  /** null when the source gives no number (e.g. OOM). */
  readonly value: number | null;
  readonly unit: typeof REFERENCE_UNITS[number];
  readonly notes: string;
  /** File and line it came from. */
  readonly where: string;
}

/** The committed folder `benchmarks/reproduce/expected/reference/`. */
export const REFERENCE_DIR = new URL("../reproduce/expected/reference/", import.meta.url).pathname;

function oneOf<T extends string>(v: string, allowed: readonly T[], where: string, col: string): T {
  if (!(allowed as readonly string[]).includes(v)) {
    throw new RangeError(
      `${where}: ${col} must be one of ${allowed.join("|")}: ${JSON.stringify(v)}`,
    );
  }
  return v as T;
}

/** Reads every `*.csv` of `dir` (sorted by name); ids must be unique across files. */
export async function loadReference(dir: string = REFERENCE_DIR): Promise<ReferenceRow[]> {
  dir = dir.replace(/\/+$/, "");
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && e.name.endsWith(".csv")) names.push(e.name);
  }
  names.sort();
  if (names.length === 0) throw new Deno.errors.NotFound(`${dir}: no reference CSV files`);
  const out: ReferenceRow[] = [];
  const seen = new Map<string, string>();
  for (const name of names) {
    const path = `${dir}/${name}`;
    for (const r of await readCsv(path, REFERENCE_COLUMNS)) {
      const where = `${path}:${r.line}`;
      if (r.id === "") throw new TypeError(`${where}: id is empty`);
      if (seen.has(r.id)) {
        throw new TypeError(`${where}: duplicate id ${r.id} (also ${seen.get(r.id)})`);
      }
      seen.set(r.id, where);
      const num = (v: string, col: string): number | null => {
        if (v === "") return null;
        const x = Number(v);
        if (!Number.isFinite(x)) {
          throw new TypeError(`${where}: ${col} is not a number: ${JSON.stringify(v)}`);
        }
        return x;
      };
      const k = num(r.k, "k");
      if (k !== null && (!Number.isInteger(k) || k < 1)) {
        throw new RangeError(`${where}: k must be a positive integer: ${r.k}`);
      }
      const metric = oneOf(r.metric, REFERENCE_METRICS, where, "metric");
      if ((metric === "pass_at_k" || metric === "pass_at_k_delta") && k === null) {
        throw new TypeError(`${where}: metric ${metric} needs k`);
      }
      out.push({
        id: r.id,
        paper: r.paper,
        sourceTags: r.source_tag.split(";").filter((s) => s !== ""),
        sourceKind: oneOf(r.source_kind, SOURCE_KINDS, where, "source_kind"),
        table: r.table,
        task: r.task,
        model: r.model,
        setting: r.setting,
        metric,
        k,
        stratum: oneOf(r.stratum, STRATA, where, "stratum"),
        value: num(r.value, "value"),
        unit: oneOf(r.unit, REFERENCE_UNITS, where, "unit"),
        notes: r.notes,
        where,
      });
    }
  }
  return out;
}

/** Rows matching every given field (`k: null` matches rows without K). */
export function findReference(
  rows: readonly ReferenceRow[],
  q: Partial<
    Pick<ReferenceRow, "paper" | "task" | "model" | "metric" | "k" | "stratum" | "sourceKind">
  >,
): ReferenceRow[] {
  return rows.filter((r) =>
    (Object.keys(q) as (keyof typeof q)[]).every((f) => q[f] === undefined || r[f] === q[f])
  );
}

/**
 * The hybrid paper's published numbers as leaderboard reference rows ("published, not re-run"),
 * read from the committed reference CSVs.
 */
import { loadReference, REFERENCE_DIR, type ReferenceRow } from "../score/reference.ts";
import { HEADLINE, type LeaderboardTask, type PublishedRow } from "./entry.ts";

const REF_TASKS: Record<string, LeaderboardTask> = {
  "arc-agi-1": "arc",
  "sudoku-extreme": "sudoku",
  "maze-30x30-hard": "maze",
};

/**
 * The hybrid paper's published headline numbers as reference rows, from the reference CSVs
 * (`benchmarks/reproduce/expected/reference/`): per task and model its headline (ARC pass@2,
 * Sudoku and Maze exact accuracy), for ARC every published pass@K point except the conflicting
 * pass@1 readings, and the published parameter count where one exists (hybrid paper, else the TRM
 * paper, else "—").
 */
export function publishedRows(ref: readonly ReferenceRow[]): PublishedRow[] {
  const out: PublishedRow[] = [];
  const hybrid = ref.filter((r) => r.paper === "wang-reid-2026" && r.stratum === "all");
  const params = (task: string, model: string): string => {
    const p = (paper: string, t: (x: string) => boolean) =>
      ref.find((r) =>
        r.paper === paper && r.metric === "params" && r.unit === "millions" &&
        r.model === model && t(r.task) && r.value !== null
      );
    const own = p("wang-reid-2026", (x) => x === task);
    if (own) return `${own.value}M`;
    const trm = p("jolicoeur-martineau-2025", (x) => x === task || x === "");
    return trm ? `${trm.value}M (TRM paper)` : "—";
  };
  for (const [refTask, task] of Object.entries(REF_TASKS)) {
    const h = HEADLINE[task];
    const heads = hybrid.filter((r) =>
      r.task === refTask && r.metric === h.metric && r.k === h.k && r.value !== null
    );
    for (const r of heads) {
      const points = task === "arc"
        ? hybrid.filter((q) =>
          q.task === refTask && q.model === r.model && q.metric === "pass_at_k" &&
          q.value !== null && q.k !== null && !/^(CONFLICT|UNVERIFIED)/.test(q.notes)
        ).map((q) => ({ k: q.k!, value: q.value! })).sort((a, b) => a.k - b.k)
        : [];
      out.push({
        task,
        model: r.model,
        params: params(refTask, r.model),
        value: r.value!,
        passAtK: points,
        source: `Wang & Reid 2026, ${r.table} (${r.sourceKind} source)` +
          (r.notes ? `; ${r.notes.split(/[.;]/)[0].trim()}` : ""),
      });
    }
  }
  return out;
}

/** `publishedRows` of the committed reference CSVs. */
export async function loadPublished(dir: string = REFERENCE_DIR): Promise<PublishedRow[]> {
  return publishedRows(await loadReference(dir));
}

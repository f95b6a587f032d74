/**
 * Coverage diagnostics of ARC voting (the hybrid paper's analysis, Wang & Reid 2026):
 *
 * - per test input: distinct candidates, vote entropy of the vote distribution over distinct
 *   candidates (H = −Σ p ln p with p = votes / total votes; reported in nats and in bits, since
 *   the paper does not state its unit), the correct-vote share (votes for the true output / all
 *   votes; 0 without votes) and the rank of the true output;
 * - summary means over test inputs that received votes (the paper's "unique candidates per
 *   puzzle" 339.5 vs 266.6 and entropy 5.39 vs 4.56 are read as such means);
 * - difficulty-stratified pass@K across models: a test input's difficulty is its correct-vote
 *   share averaged over the compared models; hard < 15 %, easy ≥ 15 %. Within a stratum pass@K is
 *   the fraction of its test inputs whose true output ranks within the top K (per test input, not
 *   per task: the paper's N = 246 + 173 = 419 counts test inputs).
 *
 * @example
 * ```ts
 * import { stratifiedPassAtK, testInputDiagnostics } from "./diagnostics.ts";
 * const rows = score.testInputs.map(testInputDiagnostics); // score from ArcVoter.result()
 * const strata = stratifiedPassAtK([{ model: "a", inputs: rowsA }, { model: "b", inputs: rowsB }]);
 * ```
 */
import { PASS_KS, type TestInputResult } from "./arc.ts";

/** Split between hard and easy test inputs (mean correct-vote share). */
export const DIFFICULTY_THRESHOLD = 0.15;

/** Diagnostics of one test input. */
export interface TestInputDiagnostics {
  readonly taskId: string;
  readonly testIndex: number;
  readonly nVotes: number;
  readonly distinctCandidates: number;
  readonly entropyNats: number;
  readonly entropyBits: number;
  readonly correctVotes: number;
  /** correctVotes / nVotes; 0 when there are no votes. */
  readonly correctVoteShare: number;
  /** 1-based rank of the true output; 0 when it is not a candidate. */
  readonly correctRank: number;
  /** Votes of the top candidate (0 without votes). */
  readonly top1Votes: number;
  /** Mean sigmoid(q_halt) of the top candidate (NaN without votes). */
  readonly top1MeanQ: number;
}

/** Shannon entropy (nats) of a distribution given by counts. */
export function entropyNats(counts: readonly number[]): number {
  let total = 0;
  for (const c of counts) total += c;
  if (total === 0) return 0;
  let h = 0;
  for (const c of counts) if (c > 0) h -= (c / total) * Math.log(c / total);
  return h === 0 ? 0 : h; // no −0
}

/** Diagnostics of one scored test input. */
export function testInputDiagnostics(r: TestInputResult): TestInputDiagnostics {
  const h = entropyNats(r.candidates.map((c) => c.votes));
  const top = r.candidates[0];
  return {
    taskId: r.taskId,
    testIndex: r.testIndex,
    nVotes: r.nVotes,
    distinctCandidates: r.candidates.length,
    entropyNats: h,
    entropyBits: h / Math.LN2,
    correctVotes: r.correctVotes,
    correctVoteShare: r.nVotes > 0 ? r.correctVotes / r.nVotes : 0,
    correctRank: r.correctRank,
    top1Votes: top ? top.votes : 0,
    top1MeanQ: top ? top.meanQ : NaN,
  };
}

/** Means over the test inputs that received at least one vote. */
export interface DiagnosticsSummary {
  readonly nTestInputs: number;
  readonly nWithVotes: number;
  readonly meanDistinctCandidates: number;
  readonly meanEntropyNats: number;
  readonly meanEntropyBits: number;
  readonly meanCorrectVoteShare: number;
}

/** Summary means (over test inputs with votes; NaN when none has votes). */
export function summarizeDiagnostics(rows: readonly TestInputDiagnostics[]): DiagnosticsSummary {
  const voted = rows.filter((r) => r.nVotes > 0);
  const mean = (f: (r: TestInputDiagnostics) => number) =>
    voted.length === 0 ? NaN : voted.reduce((s, r) => s + f(r), 0) / voted.length;
  return {
    nTestInputs: rows.length,
    nWithVotes: voted.length,
    meanDistinctCandidates: mean((r) => r.distinctCandidates),
    meanEntropyNats: mean((r) => r.entropyNats),
    meanEntropyBits: mean((r) => r.entropyBits),
    meanCorrectVoteShare: mean((r) => r.correctVoteShare),
  };
}

/** What stratification needs per test input (a subset of `TestInputDiagnostics`). */
export interface StratumInput {
  readonly taskId: string;
  readonly testIndex: number;
  readonly correctVoteShare: number;
  readonly correctRank: number;
}

/** One model's vote table for stratification. */
export interface ModelVotes {
  readonly model: string;
  readonly inputs: readonly StratumInput[];
}

export type Stratum = "hard" | "easy";

/** pass@K of one model on one stratum. */
export interface StratumRow {
  readonly stratum: Stratum;
  readonly model: string;
  readonly k: number;
  /** Test inputs in the stratum. */
  readonly n: number;
  /** Fraction of the stratum's test inputs solved within the top K (NaN when n = 0). */
  readonly passAtK: number;
}

/** Difficulty of one test input. */
export interface Difficulty {
  readonly taskId: string;
  readonly testIndex: number;
  readonly meanCorrectVoteShare: number;
  readonly stratum: Stratum;
}

/**
 * Difficulty-stratified pass@K. Every model must cover the same test inputs (the first model's
 * set, in its order); a missing or extra one is a RangeError naming it.
 */
export function stratifiedPassAtK(
  models: readonly ModelVotes[],
  ks: readonly number[] = PASS_KS,
  threshold = DIFFICULTY_THRESHOLD,
): { difficulty: Difficulty[]; rows: StratumRow[] } {
  if (models.length === 0) throw new RangeError("stratifiedPassAtK: no models given");
  const key = (r: StratumInput) => `${r.taskId}#${r.testIndex}`;
  const tables = models.map((m) => {
    const map = new Map<string, StratumInput>();
    for (const r of m.inputs) {
      if (map.has(key(r))) {
        throw new RangeError(
          `stratifiedPassAtK: model ${m.model}: test input ${r.taskId}[${r.testIndex}] listed twice`,
        );
      }
      map.set(key(r), r);
    }
    return map;
  });
  const base = models[0].inputs;
  models.forEach((m, i) => {
    if (tables[i].size !== base.length) {
      const extra = m.inputs.find((r) => !tables[0].has(key(r)));
      throw new RangeError(
        `stratifiedPassAtK: model ${m.model} has ${tables[i].size} test inputs, ` +
          `model ${models[0].model} has ${base.length}` +
          (extra ? `: e.g. ${extra.taskId}[${extra.testIndex}] only in ${m.model}` : ""),
      );
    }
    for (const r of base) {
      if (!tables[i].has(key(r))) {
        throw new RangeError(
          `stratifiedPassAtK: model ${m.model} lacks test input ${r.taskId}[${r.testIndex}]`,
        );
      }
    }
  });
  const difficulty: Difficulty[] = base.map((r) => {
    const share = tables.reduce((s, t) => s + t.get(key(r))!.correctVoteShare, 0) / models.length;
    return {
      taskId: r.taskId,
      testIndex: r.testIndex,
      meanCorrectVoteShare: share,
      stratum: share < threshold ? "hard" : "easy",
    };
  });
  const rows: StratumRow[] = [];
  for (const stratum of ["hard", "easy"] as const) {
    const members = difficulty.filter((d) => d.stratum === stratum);
    models.forEach((m, i) => {
      for (const k of ks) {
        const solved = members.filter((d) => {
          const rank = tables[i].get(`${d.taskId}#${d.testIndex}`)!.correctRank;
          return rank > 0 && rank <= k;
        }).length;
        rows.push({
          stratum,
          model: m.model,
          k,
          n: members.length,
          passAtK: members.length === 0 ? NaN : solved / members.length,
        });
      }
    });
  }
  return { difficulty, rows };
}

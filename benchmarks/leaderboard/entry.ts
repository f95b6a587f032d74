/**
 * A leaderboard entry as the database stores it and the page shows it: one submission bundle
 * (benchmarks/leaderboard/bundle.ts) after `submit` verified it. Every number here was recomputed
 * at submission (scores from the predictions against the task data, the parameter count from the
 * model the configuration builds, the configuration hash from the configuration); nothing is
 * taken from the bundle's own claims.
 *
 * One entry = one configuration (all but the seed) of one model on one task at one scale preset,
 * with one or more seeds; the page shows the seeds' mean and, with several seeds, an interval.
 */

/** The tasks an entry can be on. */
export type LeaderboardTask = "arc" | "sudoku" | "maze";

/** The headline metric each task's entries are ranked by (higher is better). */
export const HEADLINE: Record<
  LeaderboardTask,
  { metric: string; k: number | null; label: string }
> = {
  arc: { metric: "pass_at_k", k: 2, label: "ARC pass@2 (%)" },
  sudoku: { metric: "exact_accuracy", k: null, label: "exact accuracy (%)" },
  maze: { metric: "exact_accuracy", k: null, label: "exact accuracy (%)" },
};

/** One seed's recomputed scores. */
export interface EntrySeed {
  seed: number;
  /**
   * Recomputed metrics, percent: "exact_accuracy" and "cell_accuracy" (Sudoku, Maze); for ARC
   * "pass_at_k" is in `passAtK` and the headline is passAtK at k = 2.
   */
  metrics: Record<string, number>;
  /** ARC: pass@K (percent) for every K scored, ascending K; empty for Sudoku and Maze. */
  passAtK: { k: number; value: number }[];
  /** The run's configuration hash (with this seed). */
  configHash: string;
}

export interface Entry {
  /** Database id (assigned at submission). */
  id: number;
  /** Who or what submitted it (free text from the bundle, shown as given). */
  name: string;
  task: LeaderboardTask;
  /** Scale preset (e.g. "cpu-mini", "cpu-study", "paper"): entries rank only within one. */
  preset: string;
  /** The run's scale label as recorded (e.g. "cpu-mini (reduced; NOT the paper's setting)"). */
  scale: string;
  model: string;
  /** Trainable parameters, recounted by building the model from the configuration. */
  params: number;
  backend: string;
  dtype: string;
  device: string;
  /** Clean commit (12 hex digits or more) the runs were made at. */
  commit: string;
  /** Hash of the configuration without its seed (the same for every seed of the entry). */
  configKey: string;
  seeds: EntrySeed[];
  /** ISO time the entry was accepted. */
  submittedAt: string;
  /** sha256 of the bundle file as submitted. */
  bundleSha256: string;
  /**
   * Content hash of the dataset regenerated at submission from the configuration (equal to the
   * one the runs recorded); absent in databases older than schema v2.
   */
  datasetHash?: string;
}

/**
 * The paper's published numbers, shown as reference rows ("published, not re-run"); never ranked
 * as entries and never mixed with reduced-scale presets.
 */
export interface PublishedRow {
  task: LeaderboardTask;
  model: string;
  params: string;
  /** Headline value, percent. */
  value: number;
  /** ARC: published pass@K points, ascending K. */
  passAtK: { k: number; value: number }[];
  source: string;
}

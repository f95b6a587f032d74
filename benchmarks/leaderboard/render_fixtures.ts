/**
 * Synthetic leaderboard rows shared by the render tests (render_test.ts, render_browser_test.ts).
 */
import type { Entry, EntrySeed, LeaderboardTask, PublishedRow } from "./entry.ts";

let nextId = 1;

/** A synthetic entry: one seed per headline value (ARC: pass@K curve scaled to it). */
export function sampleEntry(
  o: Partial<Entry> & { task: LeaderboardTask; values: number[]; name: string },
): Entry {
  const id = o.id ?? nextId++;
  const seeds: EntrySeed[] = o.values.map((v, i): EntrySeed => ({
    seed: i,
    metrics: o.task === "arc"
      ? {} as Record<string, number>
      : { exact_accuracy: v, cell_accuracy: Math.min(100, v + 20) },
    passAtK: o.task === "arc"
      ? [1, 2, 5, 10, 100, 1000].map((k) => ({ k, value: Math.min(100, v * (1 + Math.log10(k))) }))
        .map((p) => (p.k === 2 ? { k: 2, value: v } : p))
      : [],
    configHash: `hash-${id}-${i}`,
  }));
  return {
    id,
    name: o.name,
    task: o.task,
    preset: o.preset ?? "cpu-mini",
    scale: o.scale ?? `${o.preset ?? "cpu-mini"} (reduced; NOT the paper's setting)`,
    model: o.model ?? "trm-attn",
    params: o.params ?? 131970,
    backend: o.backend ?? "cpu",
    dtype: o.dtype ?? "f32",
    device: o.device ?? "2-core EPYC",
    commit: o.commit ?? "0123456789abcdef0123",
    configKey: o.configKey ?? `key-${id}`,
    seeds,
    submittedAt: o.submittedAt ?? "2026-03-01T10:00:00Z",
    bundleSha256: o.bundleSha256 ?? "f".repeat(64),
  };
}

/** A few of the paper's published rows (as the reference CSVs give them). */
export const SAMPLE_PUBLISHED: PublishedRow[] = [
  {
    task: "arc",
    model: "trm-attn",
    params: "6.83M",
    value: 43.88,
    passAtK: [{ k: 2, value: 43.88 }, { k: 100, value: 60.5 }],
    source: "Wang & Reid 2026",
  },
  {
    task: "arc",
    model: "tr-mamba2attn",
    params: "6.86M",
    value: 45.88,
    passAtK: [{ k: 2, value: 45.88 }, { k: 100, value: 65.25 }],
    source: "Wang & Reid 2026",
  },
  {
    task: "sudoku",
    model: "trm-mlp-t",
    params: "5M",
    value: 87.4,
    passAtK: [],
    source: "Wang & Reid 2026",
  },
];

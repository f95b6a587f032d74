/**
 * `prepare maze`: from the official CSVs (local `--source DIR` with train.csv/test.csv, or
 * downloaded) or from our generator, then build and write.
 */
import { Rng } from "../../engine/rng.ts";
import type { DatasetMetadata, SourceRecord } from "../dataset.ts";
import { downloadCsvs, localCsvSources } from "../download.ts";
import { ContentHash, progressBar } from "../io.ts";
import { type MazeItem, writeMaze } from "./build.ts";
import { defaultMinSteps, generateMazes } from "./generate.ts";
import { readMazeCsv } from "./load.ts";
import { countShortestPaths, mazeDihedralKey, mazeToString, WALL } from "./maze.ts";

/** Options of `prepareMaze`. */
export interface PrepareMazeOptions {
  source: string | null;
  download: boolean;
  cacheDir: string;
  mirror?: string;
  size: number;
  train: number;
  test: number;
  /** Paths longer than this many steps; null = default for the size (110 at 30×30). */
  minSteps: number | null;
  /** 8 dihedral versions per training maze. */
  aug: boolean;
  seed: number;
  out: string;
  force: boolean;
  progress: boolean;
}

function stats(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : 0);
  return { min: s[0] ?? 0, median: q(0.5), p90: q(0.9), max: s[s.length - 1] ?? 0 };
}

function describe(items: readonly MazeItem[], n: number, steps: number[]) {
  return {
    count: items.length,
    steps: stats(steps),
    wallDensity: stats(
      items.map((m) => m.question.reduce((a, v) => a + (v === WALL ? 1 : 0), 0) / (n * n)),
    ),
    shortestPaths: stats(items.map((m) => countShortestPaths(m.question, n))),
  };
}

/** Builds and writes a prepared Maze dataset. */
export async function prepareMaze(o: PrepareMazeOptions): Promise<DatasetMetadata> {
  const rng = new Rng(o.seed);
  const sources: SourceRecord[] = [];
  let train: MazeItem[], test: MazeItem[], n = o.size;
  let report: Record<string, unknown>;
  let dir = o.source;
  if (dir === null && o.download) {
    dir = await downloadCsvs("maze", o, sources);
  }
  if (dir !== null) {
    const tr = await readMazeCsv(`${dir}/train.csv`), te = await readMazeCsv(`${dir}/test.csv`);
    if (tr.side !== te.side) {
      throw new RangeError(`${dir}: train and test sides differ: ${tr.side}, ${te.side}`);
    }
    n = tr.side;
    train = tr.rows, test = te.rows;
    if (o.source !== null) sources.push(...await localCsvSources(dir));
    const keys = new Set(tr.rows.map((m) => mazeDihedralKey(m.question, n)));
    report = {
      train: describe(train, n, tr.rows.map((m) => m.steps)),
      test: describe(test, n, te.rows.map((m) => m.steps)),
      testInTrainUnderDihedral: te.rows.filter((m) =>
        keys.has(mazeDihedralKey(m.question, n))
      ).length,
    };
  } else {
    const minSteps = o.minSteps ?? defaultMinSteps(n);
    const gen = (count: number, label: string, exclude?: Set<string>) => {
      const bar = progressBar(`maze ${label}`, count, o.progress);
      const t0 = performance.now();
      const r = generateMazes(
        { n, count, minSteps, exclude, onMaze: () => bar.tick() },
        rng.fork(`maze/${label}`),
      );
      bar.stop();
      return { ...r, ms: performance.now() - t0 };
    };
    const tr = gen(o.train, "train");
    const te = gen(o.test, "test", new Set(tr.mazes.map((m) => m.key)));
    const item = (m: (typeof tr.mazes)[number]): MazeItem => ({
      source: "generated",
      question: m.question,
      answer: m.answer,
      rating: m.steps,
    });
    train = tr.mazes.map(item), test = te.mazes.map(item);
    const hash = new ContentHash();
    for (const m of [...train, ...test]) {
      hash.add("maze", mazeToString(m.question) + mazeToString(m.answer));
    }
    sources.push({ kind: "generated", location: "tasks/maze/generate.ts", sha256: hash.hex() });
    report = {
      generator: {
        minStepsExclusive: minSteps,
        lengthUnit: "steps (moves); o cells = steps - 1",
        wallDensityDrawn: [0.3, 0.5],
      },
      generationMs: { train: Math.round(tr.ms), test: Math.round(te.ms) },
      attempts: { train: tr.attempts, test: te.attempts },
      train: describe(train, n, tr.mazes.map((m) => m.steps)),
      test: describe(test, n, te.mazes.map((m) => m.steps)),
      testInTrainUnderDihedral: 0,
    };
  }
  return await writeMaze(o.out, {
    n,
    train,
    test,
    aug: o.aug,
    seed: o.seed,
    sources,
    options: { ...o, progress: undefined },
    report,
    writeCsv: dir === null,
  }, { force: o.force });
}

/**
 * `prepare arc`: load sources (local folders, or the pinned archives downloaded into a cache),
 * build, write, and return the metadata.
 */
import type { DatasetMetadata, SourceRecord } from "../dataset.ts";
import { ARC_ARCHIVES, fetchArchive } from "../download.ts";
import { type ArcBuildOptions, buildArc, writeArc } from "./build.ts";
import { ARC_CANVAS } from "./encode.ts";
import { type ArcTask, loadArcSource } from "./load.ts";

/** Options of `prepareArc`. */
export interface PrepareArcOptions {
  /** Local source folders; empty = download the pinned archives. */
  sources: string[];
  out: string;
  cacheDir: string;
  mirror?: string;
  seed: number;
  maxAug: number;
  retryFactor: number;
  /** Subsets in order; null = every subset found (training, evaluation, concept first). */
  subsets: string[] | null;
  testSubsets: string[];
  tasksPerSubset: number | null;
  force: boolean;
  progress: boolean;
  /** Canvas side N, 1..30 (default 30): tasks with a grid larger than N×N are left out. */
  canvas?: number;
  /** Where the count of tasks left out for the canvas goes (default console.log). */
  log?: (line: string) => void;
}

const ORDER = ["training", "evaluation", "concept"];

/** Builds and writes a prepared ARC dataset. */
export async function prepareArc(o: PrepareArcOptions): Promise<DatasetMetadata> {
  const all = new Map<string, ArcTask[]>();
  const records: SourceRecord[] = [];
  const add = (subsets: Map<string, ArcTask[]>, where: string) => {
    for (const [name, tasks] of subsets) {
      if (all.has(name)) {
        throw new RangeError(`arc: subset ${name} appears in two sources (${where})`);
      }
      all.set(name, tasks);
    }
  };
  if (o.sources.length > 0) {
    for (const dir of o.sources) {
      const s = await loadArcSource(dir);
      add(s.subsets, dir);
      records.push({ kind: "local", location: dir, sha256: s.sha256 });
    }
  } else {
    for (const spec of ARC_ARCHIVES) {
      const got = await fetchArchive(spec, o.cacheDir, { progress: o.progress, mirror: o.mirror });
      const s = await loadArcSource(got.dir);
      add(s.subsets, got.url);
      records.push({ kind: "download", location: got.url, sha256: got.sha256 });
    }
  }
  const found = [...all.keys()];
  const subsets = o.subsets ??
    [...ORDER.filter((s) => all.has(s)), ...found.filter((s) => !ORDER.includes(s)).sort()];
  const options: ArcBuildOptions = {
    seed: o.seed,
    maxAug: o.maxAug,
    retryFactor: o.retryFactor,
    subsets,
    testSubsets: o.testSubsets,
    tasksPerSubset: o.tasksPerSubset,
    progress: o.progress,
    ...(o.canvas === undefined ? {} : { canvas: o.canvas }),
  };
  const build = buildArc(all, options);
  if (build.canvas !== ARC_CANVAS) {
    const log = o.log ?? console.log;
    for (const name of subsets) {
      log(
        `arc: canvas ${build.canvas}x${build.canvas}: left out ${build.leftOut[name]} of ` +
          `${build.available[name]} ${name} tasks with a grid larger than ` +
          `${build.canvas}x${build.canvas}`,
      );
    }
  }
  return await writeArc(build, o.out, records, { force: o.force });
}

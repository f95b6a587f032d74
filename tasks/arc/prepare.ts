/**
 * `prepare arc`: load sources (local folders; by default the copies shipped in `tasks/arc/data`;
 * with `download`, the pinned upstream archives fetched into a cache), build, write, and return
 * the metadata.
 */
import type { DatasetMetadata, SourceRecord } from "../dataset.ts";
import { ARC_ARCHIVES, fetchArchive } from "../download.ts";
import { type ArcBuildOptions, buildArc, writeArc } from "./build.ts";
import { shippedArcSources } from "./data.ts";
import { ARC_CANVAS } from "./encode.ts";
import { type ArcTask, loadArcSource } from "./load.ts";

/** Options of `prepareArc`. */
export interface PrepareArcOptions {
  /**
   * Local source folders; empty = the shipped ARC-AGI-1 and ConceptARC (`tasks/arc/data`), or
   * with `download` the pinned archives.
   */
  sources: string[];
  /** Download the pinned ARC-AGI and ConceptARC archives into `cacheDir` (excludes `sources`). */
  download?: boolean;
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
  /**
   * Only these task ids: only their files are read (and in the source checksums) and built; each
   * must be found. Null or absent = every task.
   */
  taskIds?: string[] | null;
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
  if (o.download && o.sources.length > 0) {
    throw new RangeError("arc: --source and --download exclude each other");
  }
  const ids = o.taskIds ? [...new Set(o.taskIds)].sort() : null;
  if (ids && ids.length === 0) throw new RangeError("arc: --task-ids: no task id given");
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
  if (o.download) {
    for (const spec of ARC_ARCHIVES) {
      const got = await fetchArchive(spec, o.cacheDir, { progress: o.progress, mirror: o.mirror });
      const s = await loadArcSource(got.dir, { taskIds: ids });
      add(s.subsets, got.url);
      records.push({ kind: "download", location: got.url, sha256: got.sha256 });
    }
  } else {
    for (const dir of o.sources.length > 0 ? o.sources : shippedArcSources()) {
      const s = await loadArcSource(dir, { taskIds: ids });
      add(s.subsets, dir);
      records.push({ kind: "local", location: dir, sha256: s.sha256 });
    }
  }
  if (ids) {
    const have = new Set([...all.values()].flatMap((ts) => ts.map((t) => t.id)));
    const missing = ids.filter((id) => !have.has(id));
    if (missing.length > 0) {
      throw new RangeError(`arc: --task-ids: not found in the sources: ${missing.join(", ")}`);
    }
  }
  // With --task-ids, subsets none of whose tasks was picked are not built by default.
  const found = [...all.keys()].filter((s) => ids === null || all.get(s)!.length > 0);
  const subsets = o.subsets ??
    [...ORDER.filter((s) => found.includes(s)), ...found.filter((s) => !ORDER.includes(s)).sort()];
  const options: ArcBuildOptions = {
    seed: o.seed,
    maxAug: o.maxAug,
    retryFactor: o.retryFactor,
    subsets,
    testSubsets: o.testSubsets,
    tasksPerSubset: o.tasksPerSubset,
    ...(ids ? { taskIds: ids } : {}),
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

/**
 * Submission bundles: one zip archive (npm fflate) holding a finished run's evidence — never its
 * checkpoints — so that `submit` can recompute everything it claims.
 *
 *   bundle.json                    what the bundle is (BundleInfo): task, model, preset, seeds,
 *                                  stated provenance, the name to show
 *   SHA256SUMS                     sha256 of every other file (`sha256sum` format, sorted)
 *   seed-<s>/config.json           the run record (train/config.json: resolved configuration, its
 *                                  hash, commit, backend, machine, dataset, parameter count)
 *   seed-<s>/config.resume-<n>.json  the records of resumed parts, when there are any
 *   seed-<s>/predictions/<file>    the prediction files the scores were computed from, by the
 *                                  names the score files give them (pred.jsonl, step-<N>.jsonl)
 *   seed-<s>/score/<file>          the run's reported scores (accuracy.csv; ARC pass_at_k.csv,
 *                                  diagnostics.csv, diagnostics_summary.csv, submission.json)
 *
 * `packRun` accepts a reproduce seed folder (`<runs>/<task>/<model>/seed-<s>`), a folder of such
 * seed folders (all seeds of one model on one task: one bundle, one entry), or a
 * `deno task train --out DIR` folder that was trained with `--dump-predictions` and scored into
 * `DIR/score` by `deno task score`. The prediction files packed are exactly those the score files
 * name (`predictions_sha256`), checked by hash. Packing is deterministic: the same run and name
 * give the same bytes.
 */
import { unzipSync, zipSync } from "fflate";
import { backendLabel, deviceLabel, type TrainRecord } from "../reproduce/summary.ts";
import { sha256Hex } from "../../tasks/io.ts";
import { parseCsv } from "../../engine/csv.ts";
import { ACCURACY_COLUMNS, PASS_AT_K_COLUMNS } from "../score/tables.ts";
import type { LeaderboardTask } from "./entry.ts";

export const BUNDLE_FORMAT = "trm-leaderboard-bundle/1";
export const BUNDLE_JSON = "bundle.json";
export const MANIFEST = "SHA256SUMS";
/** Largest total unpacked size accepted (a zip bomb is refused before it is inflated). */
export const MAX_UNPACKED_BYTES = 2 ** 31;

/**
 * A submission refused: `field` names what failed (a bundle path, a CSV column, a config key),
 * `reason` says how. `message` is the one line the CLI prints.
 */
export class Refused extends Error {
  override name = "Refused";
  constructor(readonly field: string, readonly reason: string) {
    super(`${field}: ${reason}`);
  }
}

/** How a seed's ARC votes were counted: one prediction file, or pooled over several. */
export type Pooling = "single" | "pooled";

/** One seed of a bundle. */
export interface BundleSeed {
  seed: number;
  /** Its folder in the bundle (`seed-<s>`). */
  folder: string;
  configHash: string;
  /** Prediction file names under `<folder>/predictions/`, in scoring (vote) order. */
  predictions: string[];
  pooling: Pooling;
}

/** Provenance as the bundle states it (submit recomputes it from the run records). */
export interface StatedProvenance {
  commit: string;
  backend: string;
  dtype: string;
  device: string;
}

/** `bundle.json`. */
export interface BundleInfo {
  format: typeof BUNDLE_FORMAT;
  name: string;
  task: LeaderboardTask;
  model: string;
  preset: string;
  scale: string;
  provenance: StatedProvenance;
  seeds: BundleSeed[];
  /** The folder packed (informative). */
  packedFrom: string;
}

/** The run record fields the bundle reads (recursion/run/record.ts writes them). */
export type RunRecord = TrainRecord & {
  config: {
    task: string;
    model: string;
    preset: string;
    scale: string;
    seed: number;
    arch: { dtype?: string };
  };
  evalEvery?: number;
};

/** The forward dtype of a run (arch.dtype; absent = f32). */
export function dtypeOf(rec: RunRecord): string {
  return rec.config.arch?.dtype ?? "f32";
}

/** The provenance labels of a run record (the reproduce summary's backend and device labels). */
export function provenanceOf(rec: RunRecord): StatedProvenance {
  return {
    commit: String(rec.commit ?? ""),
    backend: backendLabel(rec.backend),
    dtype: dtypeOf(rec),
    device: deviceLabel(rec.machine),
  };
}

// ----------------------------------------------------------------------------- zip

/** `sha256sum`-format lines for `files` (sorted by path). */
export function manifestText(files: ReadonlyMap<string, Uint8Array>): string {
  return [...files.keys()].filter((p) => p !== MANIFEST).sort()
    .map((p) => `${sha256Hex(files.get(p)!)}  ${p}\n`).join("");
}

/** A fixed time for every archive member, so that packing is reproducible. */
const ZIP_MTIME = new Date(2000, 0, 1);

/** The archive of `files` plus their SHA256SUMS (replaced when present). */
export function zipBundle(files: ReadonlyMap<string, Uint8Array>): Uint8Array {
  const all = new Map(files);
  all.set(MANIFEST, new TextEncoder().encode(manifestText(all)));
  const entries: Record<string, [Uint8Array, { mtime: Date; level: 6 }]> = {};
  for (const p of [...all.keys()].sort()) {
    entries[p] = [all.get(p)!, { mtime: ZIP_MTIME, level: 6 }];
  }
  return zipSync(entries);
}

const SAFE_PATH = /^[A-Za-z0-9_][A-Za-z0-9._-]*(\/[A-Za-z0-9_][A-Za-z0-9._-]*)*$/;

/**
 * The files of a bundle, after checking that every file is listed in SHA256SUMS with its hash
 * and every listed file is there (a Refused names the first that is not).
 */
export function readBundle(bytes: Uint8Array): Map<string, Uint8Array> {
  let total = 0;
  let raw: Record<string, Uint8Array>;
  try {
    raw = unzipSync(bytes, {
      filter: (f) => {
        total += f.originalSize;
        if (total > MAX_UNPACKED_BYTES) {
          throw new Refused("bundle", `unpacks to more than ${MAX_UNPACKED_BYTES} bytes`);
        }
        return true;
      },
    });
  } catch (e) {
    if (e instanceof Refused) throw e;
    throw new Refused("bundle", `not a readable zip archive: ${(e as Error).message}`);
  }
  const files = new Map<string, Uint8Array>();
  for (const [name, data] of Object.entries(raw)) {
    if (name.endsWith("/")) continue; // a folder entry
    if (!SAFE_PATH.test(name) || name.split("/").includes("..")) {
      throw new Refused(name, "unsafe or unexpected path in the archive");
    }
    files.set(name, data);
  }
  const manifest = files.get(MANIFEST);
  if (!manifest) throw new Refused(MANIFEST, "missing: the bundle has no checksums manifest");
  const listed = new Map<string, string>();
  new TextDecoder().decode(manifest).split("\n").forEach((line, i) => {
    if (line === "") return;
    const m = /^([0-9a-f]{64}) {2}(\S+)$/.exec(line);
    if (!m) throw new Refused(`${MANIFEST}:${i + 1}`, `not a "<sha256>  <path>" line`);
    if (listed.has(m[2])) throw new Refused(`${MANIFEST}:${i + 1}`, `${m[2]} listed twice`);
    listed.set(m[2], m[1]);
  });
  for (const name of [...files.keys()].sort()) {
    if (name === MANIFEST) continue;
    const want = listed.get(name);
    if (!want) throw new Refused(name, `not listed in ${MANIFEST}`);
    const got = sha256Hex(files.get(name)!);
    if (got !== want) {
      throw new Refused(
        name,
        `checksum mismatch: ${MANIFEST} says ${want.slice(0, 16)}…, the file has ` +
          `${got.slice(0, 16)}…`,
      );
    }
  }
  for (const name of listed.keys()) {
    if (!files.has(name)) throw new Refused(name, `listed in ${MANIFEST} but not in the bundle`);
  }
  return files;
}

// ----------------------------------------------------------------------------- pack

/** One seed's folders: the reproduce seed folder (or train folder) and its training folder. */
interface SeedDirs {
  dir: string;
  trainDir: string;
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await Deno.stat(p)).isFile;
  } catch {
    return false;
  }
}

/** The seed runs of `run` (see the module comment), or an Error saying what RUN is not. */
export async function seedRuns(run: string): Promise<SeedDirs[]> {
  run = run.replace(/\/+$/, "");
  if (await isFile(`${run}/train/config.json`)) return [{ dir: run, trainDir: `${run}/train` }];
  if (await isFile(`${run}/config.json`)) return [{ dir: run, trainDir: run }];
  const found: SeedDirs[] = [];
  try {
    for await (const e of Deno.readDir(run)) {
      if (e.isDirectory && /^seed-\d+$/.test(e.name)) {
        const d = `${run}/${e.name}`;
        if (await isFile(`${d}/train/config.json`)) found.push({ dir: d, trainDir: `${d}/train` });
        else if (await isFile(`${d}/config.json`)) found.push({ dir: d, trainDir: d });
      }
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`${run}: no such folder`);
    throw e;
  }
  if (found.length === 0) {
    throw new Error(
      `${run}: not a run folder (no train/config.json, config.json or seed-<s>/ folders with one)`,
    );
  }
  return found.sort((a, b) => a.dir.localeCompare(b.dir, "en", { numeric: true }));
}

/** Score files packed per task (the first is required: it holds the headline claim). */
export const SCORE_FILES: Record<LeaderboardTask, string[]> = {
  arc: ["pass_at_k.csv", "diagnostics.csv", "diagnostics_summary.csv", "submission.json"],
  sudoku: ["accuracy.csv"],
  maze: ["accuracy.csv"],
};

/** `name:sha;name:sha` (a score file's predictions_sha256 column) as pairs. */
export function parsePredictionHashes(text: string): { name: string; sha256: string }[] {
  return text.split(";").filter((s) => s !== "").map((part) => {
    const m = /^([^:;/]+):([0-9a-f]{64})$/.exec(part);
    if (!m) throw new TypeError(`predictions_sha256: not "<file>:<sha256>": ${part}`);
    return { name: m[1], sha256: m[2] };
  });
}

/** The columns of each task's headline score file. */
export const CLAIM_COLUMNS: Record<LeaderboardTask, readonly string[]> = {
  arc: PASS_AT_K_COLUMNS,
  sudoku: ACCURACY_COLUMNS,
  maze: ACCURACY_COLUMNS,
};

/** The predictions_sha256 cell of a score CSV (every row holds the same). */
function predictionsCell(csv: string, task: LeaderboardTask, where: string): string {
  const rows = parseCsv(csv, CLAIM_COLUMNS[task], where);
  if (rows.length === 0) throw new Error(`${where}: no rows`);
  return rows[0].predictions_sha256;
}

async function packSeed(
  s: SeedDirs,
  files: Map<string, Uint8Array>,
): Promise<{ rec: RunRecord; seed: BundleSeed }> {
  const rec = JSON.parse(await Deno.readTextFile(`${s.trainDir}/config.json`)) as RunRecord;
  const task = rec.config?.task as LeaderboardTask;
  if (!(task in SCORE_FILES)) throw new Error(`${s.trainDir}/config.json: unknown task ${task}`);
  const folder = `seed-${rec.config.seed}`;
  if ([...files.keys()].some((p) => p.startsWith(`${folder}/`))) {
    throw new Error(`${s.dir}: seed ${rec.config.seed} appears twice`);
  }
  const add = async (rel: string, path: string) =>
    files.set(`${folder}/${rel}`, await Deno.readFile(path));
  await add("config.json", `${s.trainDir}/config.json`);
  for await (const e of Deno.readDir(s.trainDir)) {
    if (e.isFile && /^config\.resume-\d+\.json$/.test(e.name)) {
      await add(e.name, `${s.trainDir}/${e.name}`);
    }
  }
  const [claim, ...optional] = SCORE_FILES[task];
  const scoreDir = `${s.dir}/score`;
  if (!await isFile(`${scoreDir}/${claim}`)) {
    throw new Error(
      `${scoreDir}/${claim}: missing — the run has no scores to claim; score its predictions ` +
        `first (deno task score ${task} --predictions … --out ${scoreDir})`,
    );
  }
  for (const f of [claim, ...optional]) {
    if (await isFile(`${scoreDir}/${f}`)) await add(`score/${f}`, `${scoreDir}/${f}`);
  }
  // The prediction files the score names, found beside the run and checked by hash.
  const named = parsePredictionHashes(
    predictionsCell(
      await Deno.readTextFile(`${scoreDir}/${claim}`),
      task,
      `${scoreDir}/${claim}`,
    ),
  );
  const predictions: string[] = [];
  for (const { name, sha256 } of named) {
    const candidates = [`${s.dir}/${name}`, `${s.trainDir}/predictions/${name}`];
    let found = false;
    for (const c of candidates) {
      if (!await isFile(c)) continue;
      const bytes = await Deno.readFile(c);
      if (sha256Hex(bytes) !== sha256) {
        throw new Error(
          `${c} is not the file ${scoreDir}/${claim} was computed from (sha256 differs): rescore`,
        );
      }
      files.set(`${folder}/predictions/${name}`, bytes);
      predictions.push(name);
      found = true;
      break;
    }
    if (!found) {
      throw new Error(`${scoreDir}/${claim} names ${name}, found in none of ${candidates}`);
    }
  }
  return {
    rec,
    seed: {
      seed: rec.config.seed,
      folder,
      configHash: rec.configHash,
      predictions,
      pooling: predictions.length > 1 ? "pooled" : "single",
    },
  };
}

/**
 * Packs the run folder `run` (a seed folder, a folder of seed folders, or a train folder) into a
 * bundle. Throws an Error naming the folder when it is not a finished, scored run of one model
 * on one task at one preset.
 */
export async function packRun(
  run: string,
  opts: { name?: string } = {},
): Promise<{ bytes: Uint8Array; info: BundleInfo }> {
  const files = new Map<string, Uint8Array>();
  const seeds: BundleSeed[] = [];
  let first: RunRecord | null = null;
  for (const s of await seedRuns(run)) {
    const { rec, seed } = await packSeed(s, files);
    if (first) {
      for (const k of ["task", "model", "preset"] as const) {
        if (rec.config[k] !== first.config[k]) {
          throw new Error(
            `${s.dir}: ${k} ${rec.config[k]}, another seed has ${
              first.config[k]
            }: a bundle holds ` +
              `one model on one task at one preset`,
          );
        }
      }
    }
    first ??= rec;
    seeds.push(seed);
  }
  seeds.sort((a, b) => a.seed - b.seed);
  const c = first!.config;
  const info: BundleInfo = {
    format: BUNDLE_FORMAT,
    name: opts.name ?? `${c.model} (${c.preset}, seed${seeds.length > 1 ? "s" : ""} ` +
        `${seeds.map((s) => s.seed).join(", ")})`,
    task: c.task as LeaderboardTask,
    model: c.model,
    preset: c.preset,
    scale: c.scale,
    provenance: provenanceOf(first!),
    seeds,
    packedFrom: run.replace(/\/+$/, ""),
  };
  files.set(BUNDLE_JSON, new TextEncoder().encode(JSON.stringify(info, null, 2) + "\n"));
  return { bytes: zipBundle(files), info };
}

/**
 * Dataset preparation CLI.
 *
 *   deno task prepare arc    [--source DIR... | --download] [--max-aug 1000] [--tasks N]
 *                            [--task-ids a,b,c] [--subsets a,b,c] [--test-set evaluation]
 *                            [--canvas 30] [--mirror URL] [--cache DIR]
 *   deno task prepare sudoku [--source DIR | --download] [--size 9|6|4] [--train 1000]
 *                            [--test N] [--aug 1000] [--hard-min-rating R] [--check-unique]
 *   deno task prepare maze   [--source DIR | --download] [--size 30] [--train 1000] [--test 1000]
 *                            [--min-steps 110] [--aug 1|8]
 *   common: [--out DIR] [--seed 42] [--force] [--progress | --no-progress]
 *
 * Outputs go to `.cache/datasets/<name>` by default; each folder has a `metadata.json` (counts,
 * seed, sources with checksums, content hash, report). A summary is printed at the end.
 */
import {
  assertWritable,
  dieWithParent,
  FlagValueError,
  parseCli,
  printCliResult,
  runMain,
  UsageError,
} from "../engine/cli.ts";
import type { DatasetMetadata } from "./dataset.ts";
import { exists, progressWanted } from "./io.ts";
import { siblingLockPath, withLock } from "./lock.ts";
import { prepareArc } from "./arc/prepare.ts";
import { ARC_CANVAS, checkCanvas } from "./arc/encode.ts";
import { prepareSudoku } from "./sudoku/prepare.ts";
import { prepareMaze } from "./maze/prepare.ts";

const USAGE = `usage: deno task prepare <arc|sudoku|maze> [options]

arc:    --source DIR (repeatable; ARC repo layout, ConceptARC corpus/, Kaggle *_challenges.json,
        or a folder of task files) | --download (the pinned ARC-AGI and ConceptARC archives, with
        --mirror URL  --cache DIR (.cache/downloads)) | (default) the ARC-AGI-1 and ConceptARC
        copies shipped in tasks/arc/data
        --max-aug M (1000)  --tasks N (per subset, seeded sample)  --subsets training,evaluation,concept
        --task-ids a,b,c (only these tasks, before --tasks)  --test-set evaluation  --retry-factor 5
        --canvas N (30; 1..30: N×N canvas, N² tokens; tasks with a grid larger than N×N are
        left out before the --tasks sample)
sudoku: --source DIR (train.csv, test.csv) | --download | (default) generate
        --size 9|6|4  --train 1000  --test N (generated: 1000; CSV: all rows)  --aug 1000
        --hard-min-rating R  --check-unique
maze:   --source DIR | --download | (default) generate
        --size 30  --train 1000  --test 1000  --min-steps 110 (paths longer than this, in steps)  --aug 1|8 (dihedral versions)
common: --out DIR  --seed 42  --force  --progress | --no-progress`;

const KINDS = ["arc", "sudoku", "maze"];

/**
 * The usage of `prepare KIND` (its section of USAGE and the common flags), or the whole usage when
 * `args` names no kind. The kind is the first argument that is one, so that `prepare arc --help`
 * shows the arc flags.
 */
export function usageFor(args: string[]): string {
  const kind = args.find((a) => KINDS.includes(a));
  if (!kind) return USAGE;
  const lines = USAGE.split("\n");
  const section = (name: string) => {
    const start = lines.findIndex((l) => l.startsWith(`${name}:`));
    let end = start + 1;
    while (end < lines.length && lines[end] !== "" && !/^\w+:/.test(lines[end])) end++;
    return lines.slice(start, end);
  };
  return [`usage: deno task prepare ${kind} [options]`, "", ...section(kind), ...section("common")]
    .join("\n");
}

/** The flags of `deno task prepare` (plus --help, engine/cli.ts). */
const OPTIONS = {
  source: { type: "string", multiple: true },
  out: { type: "string" },
  seed: { type: "string" },
  force: { type: "boolean" },
  progress: { type: "boolean" },
  "no-progress": { type: "boolean" },
  cache: { type: "string" },
  mirror: { type: "string" },
  download: { type: "boolean" },
  "max-aug": { type: "string" },
  "retry-factor": { type: "string" },
  tasks: { type: "string" },
  "task-ids": { type: "string" },
  subsets: { type: "string" },
  "test-set": { type: "string" },
  canvas: { type: "string" },
  size: { type: "string" },
  train: { type: "string" },
  test: { type: "string" },
  aug: { type: "string" },
  "hard-min-rating": { type: "string" },
  "check-unique": { type: "boolean" },
  "min-steps": { type: "string" },
} as const;

function int(v: string | undefined, name: string, fallback: number | null): number | null {
  if (v === undefined) return fallback;
  const x = Number(v);
  if (v.trim() === "" || !Number.isInteger(x) || x < 0) {
    throw new FlagValueError(`--${name}: expected a non-negative integer: ${v}`);
  }
  return x;
}

/**
 * Runs a builder holding the lock of its output folder (`<out>.trm.lock`, tasks/lock.ts: a second
 * prepare of the same folder is refused), after removing the temporary folders that a killed
 * prepare of it left (`<out>.tmp-<pid>-<t>`, `<out>.old.tmp-<pid>-<t>`).
 */
async function locked<O extends { out: string }>(
  build: (o: O) => Promise<DatasetMetadata>,
  o: O,
): Promise<DatasetMetadata> {
  const out = o.out.replace(/\/+$/, "");
  const slash = out.lastIndexOf("/");
  const parent = slash > 0 ? out.slice(0, slash) : slash === 0 ? "/" : ".";
  const base = out.slice(slash + 1);
  // The lock lives beside the output; folders created for it go again if the builder fails (it
  // may refuse its settings, and leaves nothing behind then).
  const created: string[] = [];
  for (let d = parent; d !== "/" && d !== "." && !await exists(d);) {
    created.push(d);
    const up = d.lastIndexOf("/");
    d = up > 0 ? d.slice(0, up) : up === 0 ? "/" : ".";
  }
  try {
    await Deno.mkdir(parent, { recursive: true });
  } catch {
    return await build(o); // the folder cannot be made: the builder says why
  }
  try {
    return await withLock(siblingLockPath(out), `dataset output ${out}`, async () => {
      for (const e of Deno.readDirSync(parent)) {
        const m = /^\.(?:old\.)?tmp-(\d+)-[0-9a-z]+$/.exec(e.name.slice(base.length));
        if (!e.name.startsWith(base) || !m || Number(m[1]) === Deno.pid) continue;
        console.warn(`note: removing ${parent}/${e.name}, left by an interrupted prepare`);
        await Deno.remove(`${parent}/${e.name}`, { recursive: true }).catch(() => {});
      }
      return await build(o);
    });
  } catch (e) {
    for (const d of created) await Deno.remove(d).catch(() => {}); // only while empty
    throw e;
  }
}

/**
 * Runs the CLI on `args`; returns the metadata written. Command-line mistakes throw before anything
 * is written: a UsageError (a TypeError; --help too) or a RangeError (a FlagValueError for a flag's
 * value).
 */
export async function main(args: string[]): Promise<DatasetMetadata> {
  const r = parseCli("prepare", usageFor(args), OPTIONS, args, { positionals: true });
  if ("exit" in r) throw new UsageError(r.message ?? "--help: nothing to prepare");
  const { values, positionals } = r;
  const kind = positionals[0];
  if (positionals.length !== 1 || !KINDS.includes(kind)) {
    throw new UsageError(
      `expected one of arc, sudoku, maze${
        positionals.length ? `, got ${positionals.join(" ")}` : ""
      }`,
    );
  }
  const seed = int(values.seed, "seed", 42)!;
  const progress = progressWanted(values["no-progress"] ? false : values.progress);
  const cacheDir = values.cache ?? ".cache/downloads";
  const sources = values.source ?? [];
  const force = values.force ?? false;
  if (kind !== "arc" && values.canvas !== undefined) {
    throw new FlagValueError(`--canvas: applies to arc only (${kind} has --size)`);
  }
  if (kind !== "arc" && values["task-ids"] !== undefined) {
    throw new FlagValueError(`--task-ids: applies to arc only`);
  }
  if (kind === "arc") {
    if (!values.download && (values.mirror !== undefined || values.cache !== undefined)) {
      throw new FlagValueError(`--mirror and --cache: apply to arc --download only`);
    }
    const taskIds = values["task-ids"]?.split(",").map((s) => s.trim()).filter((s) => s !== "");
    const maxAug = int(values["max-aug"], "max-aug", 1000)!;
    const tasks = int(values.tasks, "tasks", null);
    const canvas = checkCanvas(int(values.canvas, "canvas", ARC_CANVAS)!, "--canvas");
    const subsets = values.subsets ? values.subsets.split(",").map((s) => s.trim()) : null;
    const name = `arc${subsets ? "-" + subsets.join("-") : "1concept"}${
      tasks !== null ? `-${tasks}tasks` : ""
    }${taskIds ? `-${taskIds.length}ids` : ""}${
      canvas !== ARC_CANVAS ? `-canvas${canvas}` : ""
    }-aug-${maxAug}`;
    return await locked(prepareArc, {
      sources,
      download: values.download ?? false,
      out: values.out ?? `.cache/datasets/${name}`,
      cacheDir,
      mirror: values.mirror,
      seed,
      maxAug,
      retryFactor: int(values["retry-factor"], "retry-factor", 5)!,
      subsets,
      testSubsets: (values["test-set"] ?? "evaluation").split(",").map((s) => s.trim()),
      tasksPerSubset: tasks,
      taskIds: taskIds ?? null,
      force,
      progress,
      ...(canvas !== ARC_CANVAS ? { canvas } : {}),
    });
  }
  if (sources.length > 1) throw new FlagValueError(`--source: ${kind} takes one folder`);
  const source = sources[0] ?? null;
  if (source !== null && values.download) {
    throw new FlagValueError(`--source and --download exclude each other`);
  }
  const size = int(values.size, "size", kind === "sudoku" ? 9 : 30)!;
  const train = int(values.train, "train", 1000)!;
  const origin = source !== null ? "csv" : values.download ? "official" : "gen";
  const common = {
    source,
    download: values.download ?? false,
    cacheDir,
    mirror: values.mirror,
    size,
    train,
  };
  if (kind === "sudoku") {
    const aug = int(values.aug, "aug", 1000)!;
    const test = int(values.test, "test", source !== null || values.download ? null : 1000);
    return await locked(prepareSudoku, {
      ...common,
      test,
      aug,
      seed,
      hardMinRating: int(values["hard-min-rating"], "hard-min-rating", null) ?? undefined,
      checkUnique: values["check-unique"] ?? false,
      out: values.out ?? `.cache/datasets/sudoku${size}-${origin}-${train}-aug-${aug}`,
      force,
      progress,
    });
  }
  const versions = int(values.aug, "aug", 1);
  if (versions !== 1 && versions !== 8) {
    throw new FlagValueError(
      `--aug: maze versions per training maze must be 1 or 8 (dihedral): ${values.aug}`,
    );
  }
  return await locked(prepareMaze, {
    ...common,
    test: int(values.test, "test", 1000)!,
    minSteps: int(values["min-steps"], "min-steps", null),
    aug: versions === 8,
    seed,
    out: values.out ??
      `.cache/datasets/maze${size}-${origin}-${train}${versions === 8 ? "-aug8" : ""}`,
    force,
    progress,
  });
}

/** One-screen summary of a prepared dataset. */
export function summary(m: DatasetMetadata, out: string): string {
  const lines = [
    `prepared ${m.kind} dataset ${m.name} -> ${out}`,
    `  seq_len ${m.seqLen}, vocab ${m.vocabSize}, puzzle identifiers ${m.numPuzzleIdentifiers}, seed ${m.seed}`,
    `  train: ${m.splits.train.groups} groups, ${m.splits.train.puzzles} puzzles, ${m.splits.train.examples} examples`,
    `  test:  ${m.splits.test.groups} groups, ${m.splits.test.puzzles} puzzles, ${m.splits.test.examples} examples`,
    `  content hash ${m.contentHash}`,
    ...m.sources.map((s) => `  source (${s.kind}) ${s.location} sha256 ${s.sha256}`),
    `  report: ${JSON.stringify(m.report, null, 2).replaceAll("\n", "\n  ")}`,
  ];
  return lines.join("\n");
}

/**
 * `deno task prepare`: --help (exit 0; `prepare KIND --help`: KIND's flags) and command-line
 * mistakes (exit 2: one line and the usage) before anything is written; then prepares and prints
 * the summary. Exit 1 when preparing fails.
 */
export async function cli(args: string[]): Promise<number> {
  const r = parseCli("prepare", usageFor(args), OPTIONS, args, { positionals: true });
  if ("exit" in r) return printCliResult(r);
  if (r.values.out !== undefined) assertWritable(r.values.out);
  dieWithParent(); // killing `deno task prepare` must not leave this process writing
  const m = await main(args);
  console.log(summary(m, r.values.out ?? "(default folder under .cache/datasets)"));
  return 0;
}

if (import.meta.main) await runMain(cli, { name: "prepare", usage: usageFor(Deno.args) });

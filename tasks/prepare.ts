/**
 * Dataset preparation CLI.
 *
 *   deno task prepare arc    [--source DIR]... [--max-aug 1000] [--tasks N] [--subsets a,b,c]
 *                            [--test-set evaluation] [--canvas 30] [--mirror URL] [--cache DIR]
 *   deno task prepare sudoku [--source DIR | --download] [--size 9|6|4] [--train 1000]
 *                            [--test N] [--aug 1000] [--hard-min-rating R] [--check-unique]
 *   deno task prepare maze   [--source DIR | --download] [--size 30] [--train 1000] [--test 1000]
 *                            [--min-steps 110] [--aug 1|8]
 *   common: [--out DIR] [--seed 42] [--force] [--progress | --no-progress]
 *
 * Outputs go to `.cache/datasets/<name>` by default; each folder has a `metadata.json` (counts,
 * seed, sources with checksums, content hash, report). A summary is printed at the end.
 */
import { parseArgs } from "node:util";
import type { DatasetMetadata } from "./dataset.ts";
import { progressWanted } from "./io.ts";
import { prepareArc } from "./arc/prepare.ts";
import { ARC_CANVAS, checkCanvas } from "./arc/encode.ts";
import { prepareSudoku } from "./sudoku/prepare.ts";
import { prepareMaze } from "./maze/prepare.ts";

const USAGE = `usage: deno task prepare <arc|sudoku|maze> [options]

arc:    --source DIR (repeatable; ARC repo layout, ConceptARC corpus/, Kaggle *_challenges.json,
        or a folder of task files; default: download the pinned ARC-AGI and ConceptARC archives)
        --max-aug M (1000)  --tasks N (per subset, seeded sample)  --subsets training,evaluation,concept
        --test-set evaluation  --retry-factor 5  --mirror URL  --cache DIR (.cache/downloads)
        --canvas N (30; 1..30: N×N canvas, N² tokens; tasks with a grid larger than N×N are
        left out before the --tasks sample)
sudoku: --source DIR (train.csv, test.csv) | --download | (default) generate
        --size 9|6|4  --train 1000  --test N (generated: 1000; CSV: all rows)  --aug 1000
        --hard-min-rating R  --check-unique
maze:   --source DIR | --download | (default) generate
        --size 30  --train 1000  --test 1000  --min-steps 110 (paths longer than this, in steps)  --aug 1|8 (dihedral versions)
common: --out DIR  --seed 42  --force  --progress | --no-progress`;

function int(v: string | undefined, name: string, fallback: number | null): number | null {
  if (v === undefined) return fallback;
  const x = Number(v);
  if (!Number.isInteger(x) || x < 0) {
    throw new RangeError(`--${name}: expected a non-negative integer: ${v}`);
  }
  return x;
}

/** Runs the CLI on `args`; returns the metadata written. */
export async function main(args: string[]): Promise<DatasetMetadata> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
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
      help: { type: "boolean" },
    },
  });
  const kind = positionals[0];
  if (values.help || positionals.length !== 1 || !["arc", "sudoku", "maze"].includes(kind)) {
    throw new TypeError(USAGE);
  }
  const seed = int(values.seed, "seed", 42)!;
  const progress = progressWanted(values["no-progress"] ? false : values.progress);
  const cacheDir = values.cache ?? ".cache/downloads";
  const sources = values.source ?? [];
  const force = values.force ?? false;
  if (kind !== "arc" && values.canvas !== undefined) {
    throw new RangeError(`--canvas: applies to arc only (${kind} has --size)`);
  }
  if (kind === "arc") {
    const maxAug = int(values["max-aug"], "max-aug", 1000)!;
    const tasks = int(values.tasks, "tasks", null);
    const canvas = checkCanvas(int(values.canvas, "canvas", ARC_CANVAS)!, "--canvas");
    const subsets = values.subsets ? values.subsets.split(",").map((s) => s.trim()) : null;
    const name = `arc${subsets ? "-" + subsets.join("-") : "1concept"}${
      tasks !== null ? `-${tasks}tasks` : ""
    }${canvas !== ARC_CANVAS ? `-canvas${canvas}` : ""}-aug-${maxAug}`;
    return await prepareArc({
      sources,
      out: values.out ?? `.cache/datasets/${name}`,
      cacheDir,
      mirror: values.mirror,
      seed,
      maxAug,
      retryFactor: int(values["retry-factor"], "retry-factor", 5)!,
      subsets,
      testSubsets: (values["test-set"] ?? "evaluation").split(",").map((s) => s.trim()),
      tasksPerSubset: tasks,
      force,
      progress,
      ...(canvas !== ARC_CANVAS ? { canvas } : {}),
    });
  }
  if (sources.length > 1) throw new RangeError(`--source: ${kind} takes one folder`);
  const source = sources[0] ?? null;
  if (source !== null && values.download) {
    throw new RangeError(`--source and --download exclude each other`);
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
    return await prepareSudoku({
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
    throw new RangeError(
      `--aug: maze versions per training maze must be 1 or 8 (dihedral): ${values.aug}`,
    );
  }
  return await prepareMaze({
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

if (import.meta.main) {
  try {
    const args = Deno.args;
    const m = await main(args);
    const outIdx = args.indexOf("--out");
    console.log(
      summary(m, outIdx >= 0 ? args[outIdx + 1] : "(default folder under .cache/datasets)"),
    );
  } catch (e) {
    console.error(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
    Deno.exit(1);
  }
}

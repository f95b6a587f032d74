/**
 * `deno task reproduce`: prepare data → parity → train → evaluate → score → tables → verify, for
 * every task, model and seed of a preset; resumable (completion markers, training checkpoints).
 * See benchmarks/reproduce/options.ts for the flags and README.md ("The two commands"). The runs
 * may be spread over local worker processes (`--workers N`) and over invocations (`--shard i/n`,
 * then `--merge`): benchmarks/reproduce/distribute.ts.
 *
 * Exit status: 0 ok; 1 a step failed (with --workers: any run, named, after the others finished),
 * --merge found a run missing, or verify found a regression / a number out of tolerance; 2 usage
 * error.
 */
import {
  assertWritable,
  asUsage,
  dieWithParent,
  parseCli,
  printCliResult,
  runMain,
} from "../../engine/cli.ts";
import { OPTIONS, parseReproduceArgs, USAGE } from "./options.ts";
import { reproduce } from "./pipeline.ts";

/** --help (exit 0) and command-line mistakes (exit 2) before anything runs; then the pipeline. */
export async function main(args: string[]): Promise<number> {
  const r = parseCli("reproduce", USAGE, OPTIONS, args);
  if ("exit" in r) return printCliResult(r);
  const opts = await asUsage(() => parseReproduceArgs(args));
  for (const dir of [opts.out, opts.runs]) assertWritable(dir);
  dieWithParent(); // killing `deno task reproduce` must not leave this process running
  const res = await reproduce(opts, undefined, ["deno task reproduce", ...args].join(" "));
  return res.failed ? 1 : 0;
}

if (import.meta.main) await runMain(main, { name: "reproduce", usage: USAGE });

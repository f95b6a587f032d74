/**
 * `deno task reproduce`: prepare data → parity → train → evaluate → score → tables → verify, for
 * every task, model and seed of a preset; resumable (completion markers, training checkpoints).
 * See benchmarks/reproduce/options.ts for the flags and README.md ("The two commands").
 *
 * Exit status: 0 ok; 1 a step failed or verify found a regression / a number out of tolerance;
 * 2 usage error.
 */
import { parseReproduceArgs, type ReproduceOptions } from "./reproduce/options.ts";
import { reproduce } from "./reproduce/pipeline.ts";

if (import.meta.main) {
  let opts: ReproduceOptions;
  try {
    opts = parseReproduceArgs(Deno.args);
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    Deno.exit(2);
  }
  try {
    const res = await reproduce(opts, undefined, ["deno task reproduce", ...Deno.args].join(" "));
    Deno.exit(res.failed ? 1 : 0);
  } catch (e) {
    console.error(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
    Deno.exit(1);
  }
}

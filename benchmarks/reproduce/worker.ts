/**
 * A worker process of `deno task reproduce --workers N` (distribute.ts starts it): reads its job
 * (distribute.ts WorkerJob: the invocation's options and one run's id) as JSON on stdin, runs the
 * steps after prepare of that run (the parent prepared its dataset), holding the run folder's lock,
 * and prints the usual progress lines. Exit status 0 when the run finished, 1 when a step failed
 * (the error on stderr), 2 for a malformed job.
 */
import { dieWithParent, runMain, UsageError } from "../../engine/cli.ts";
import type { WorkerJob } from "./distribute.ts";
import { runId } from "./distribute.ts";
import { STEP_NAMES } from "./markers.ts";
import { planRuns, runSteps } from "./pipeline.ts";

export async function main(_args: string[]): Promise<number> {
  dieWithParent();
  const text = await new Response(Deno.stdin.readable).text();
  let job: WorkerJob;
  try {
    job = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`reproduce worker: the job on stdin is not JSON: ${(e as Error).message}`);
  }
  const options = { ...job.options, workers: 1, shard: null, merge: false, progress: false };
  const r = planRuns(options).find((r) => runId(r) === job.id);
  if (!r) throw new UsageError(`reproduce worker: no run ${job.id} in the job's options`);
  const after = STEP_NAMES.filter((s) => s !== "prepare");
  await runSteps(r, options, (l) => console.log(l), { index: job.index, runs: job.runs }, after);
  return 0;
}

if (import.meta.main) await runMain(main, { name: "reproduce worker" });

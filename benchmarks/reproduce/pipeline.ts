/**
 * `deno task reproduce`, the whole pipeline: for every (task, model, seed) the steps prepare →
 * parity → train → evaluate → score (steps.ts, each skipped when its marker is current), then the
 * result tables and plots (results.ts) and verify (verify.ts). One progress line per step.
 */
import { guardResultsWrite, machineInfo } from "../provenance.ts";
import { acquireLock, folderLockPath, type Lock } from "../../tasks/lock.ts";
import { STEP_NAMES } from "./markers.ts";
import { modelsFor, type ReproduceOptions } from "./options.ts";
import { resultReadme, writeResultFiles } from "./results.ts";
import { type RunSpec, runSpec, type StepContext, STEPS } from "./steps.ts";
import { runSummaryRows, type SummaryRow } from "./summary.ts";
import { verify, type VerifyRow } from "./verify.ts";

/** Outcome of a pipeline run. */
export interface ReproduceResult {
  runs: RunSpec[];
  summary: SummaryRow[];
  verifyRows: VerifyRow[] | null;
  /** Checks out of tolerance (0 = pass). */
  failed: number;
  seconds: number;
}

/** The runs of a reproduce invocation, in execution order (task, then model, then seed). */
export function planRuns(o: ReproduceOptions): RunSpec[] {
  return o.tasks.flatMap((task) =>
    modelsFor(o, task).flatMap((model) =>
      o.seeds.map((seed) =>
        runSpec(o.preset, task, model, seed, o.backend, o.runs, o.pooling, o.configPatch)
      )
    )
  );
}

function short(info: Record<string, unknown>): string {
  const parts: string[] = [];
  const pct = (x: unknown) => (typeof x === "number" ? `${(100 * x).toFixed(1)}%` : "—");
  if (info.contentHash) parts.push(`dataset ${String(info.contentHash).slice(0, 12)}`);
  if (info.match) parts.push(`paper-size params ${info.paperParams} (${info.match})`);
  if (info.totalSteps !== undefined) {
    parts.push(`${info.steps}/${info.totalSteps} steps, ${info.trainableParams} params`);
    parts.push(`held-out exact ${pct(info.finalExactAcc)}`);
  }
  if (info.examples !== undefined) {
    parts.push(`${info.examples} predictions, exact ${pct(info.exactAcc)}`);
  }
  if (typeof info.passAt2 === "number") parts.push(`pass@2 ${info.passAt2.toFixed(1)}%`);
  if (typeof info.exactAcc === "number" && info.files) {
    parts.push(`exact ${info.exactAcc.toFixed(1)}%`);
  }
  return parts.join(", ");
}

/**
 * Runs the pipeline; `log` gets the progress lines. Holds exclusive locks on the runs folder and
 * the results folder (tasks/lock.ts) throughout: a second reproduce on either is refused.
 */
export async function reproduce(
  o: ReproduceOptions,
  log: (line: string) => void = (l) => console.log(l),
  command = `deno task reproduce --preset ${o.preset}`,
): Promise<ReproduceResult> {
  const t0 = performance.now();
  // Refuse before any work: numbers of uncommitted code never land in results/ unlabelled.
  await guardResultsWrite(o.out, { allowDirty: o.allowDirty, what: "reproduce: writing tables" });
  const folders = [...new Set([o.runs, o.out])];
  for (const d of folders) await Deno.mkdir(d, { recursive: true });
  const locks: Lock[] = [];
  try {
    for (const d of folders) {
      locks.push(acquireLock(folderLockPath(d), `reproduce folder ${d}`, { warn: log }));
    }
    return await reproduceLocked(o, log, command, t0);
  } finally {
    for (const l of locks) l.release();
  }
}

async function reproduceLocked(
  o: ReproduceOptions,
  log: (line: string) => void,
  command: string,
  t0: number,
): Promise<ReproduceResult> {
  const runs = planRuns(o);
  const m = machineInfo();
  log(`reproduce: preset ${o.preset} — ${runs[0]?.config.scale ?? ""}`);
  log(
    `  tasks ${o.tasks.join(",")}; ${runs.length} runs (${
      o.tasks.map((t) => `${t}: ${modelsFor(o, t).join(",")}`).join("; ")
    }); seeds ${o.seeds.join(",")}; backend ${o.backend}`,
  );
  log(`  results → ${o.out}; runs, checkpoints, predictions → ${o.runs}`);
  log(`  commit ${m.commit}, ${m.cpu} (${m.cores} cores), Deno ${m.deno}`);
  const total = runs.length * STEP_NAMES.length;
  let i = 0;
  for (const r of runs) {
    const ctx: StepContext = {
      log,
      progress: o.progress,
      memory: o.memory,
      memoryBytes: o.memoryBytes,
    };
    for (const step of STEP_NAMES) {
      i++;
      const what = `[${i}/${total}] ${step.padEnd(8)} ${r.task}/${r.model} seed ${r.seed}`;
      if (step === "train") log(`${what}: …`);
      const res = await STEPS[step](r, ctx);
      const took = res.marker.seconds.toFixed(1);
      log(
        res.skipped
          ? `${what}: skipped (done ${res.marker.finishedAt}, hash ${res.marker.hash.slice(0, 12)})`
          : `${what}: done in ${took} s — ${short(res.marker.info)}`,
      );
    }
  }
  const summary: SummaryRow[] = [];
  for (const r of runs) summary.push(...await runSummaryRows(r));
  const files = await writeResultFiles(runs, summary, o.out);
  log(`tables: ${files.length} files in ${o.out} (summary.csv, per-task CSVs, SVG plots)`);
  let verifyRows: VerifyRow[] | null = null;
  let failed = 0;
  if (o.verify) {
    const v = await verify(o.preset, summary, o.out, o.baselines, { noBaseline: o.noBaseline });
    for (const l of v.lines) log(l);
    verifyRows = v.rows;
    failed = v.failed;
  }
  await Deno.writeTextFile(
    `${o.out}/README.md`,
    resultReadme(o.preset, summary, verifyRows, command),
  );
  const seconds = (performance.now() - t0) / 1000;
  log(`reproduce: finished in ${(seconds / 60).toFixed(1)} min; ${o.out}/README.md`);
  return { runs, summary, verifyRows, failed, seconds };
}

/**
 * Evaluation of a run: the EMA weights on the held-out split, every ACT step (as TRM), in batches
 * sized to the memory budget; and the finiteness check every training step passes.
 */
import type { Rng } from "../../engine/rng.ts";
import { zeros } from "../../engine/tensor.ts";
import { type Batch, evalBatches, type SplitStore } from "../../tasks/dataset.ts";
import { NonFiniteError } from "../checkpoint.ts";
import { evalBatchFor, type EvalMemory, fmtBytes, isPooled } from "../memory_plan.ts";
import { type EvalBatchResult, evaluateBatch, type StepMetrics, type Trainer } from "../trainer.ts";

/** One evaluation on the test split with the EMA weights (valid rows only). */
export interface EvalResult {
  examples: number;
  exactAcc: number;
  cellAcc: number;
  meanQHalt: number;
  qHaltAcc: number;
  actSteps: number;
  /** Examples per evaluation batch (the configured size, capped by the examples and memory). */
  batchSize: number;
}

/** Stops with a NonFiniteError if the step's loss or any parameter gradient is not finite. */
export function checkFinite(tr: Trainer, m: StepMetrics): void {
  const bad: string[] = [];
  if (!Number.isFinite(m.lmLoss)) bad.push(`lm_loss = ${m.lmLoss}`);
  if (!Number.isFinite(m.qLoss)) bad.push(`q_halt_loss = ${m.qLoss}`);
  const be = tr.model.backend;
  const scratch = zeros(be, [1]);
  try {
    // One host read per parameter: the gradient's sum is finite iff no element is NaN/Inf
    // (barring overflow of the sum itself, which is worth stopping for as well).
    for (const [name, p] of Object.entries(tr.model.params)) {
      if (!p.grad) continue;
      be.sum(p.grad.size, p.grad.buf, scratch.buf);
      const s = scratch.item();
      if (!Number.isFinite(s)) bad.push(`grad of ${name} (sum ${s})`);
    }
  } finally {
    scratch.dispose();
  }
  if (bad.length) {
    throw new NonFiniteError(
      `non-finite values at step ${m.step}: ${bad.slice(0, 6).join(", ")}${
        bad.length > 6 ? ` and ${bad.length - 6} more` : ""
      }`,
    );
  }
}

/**
 * Evaluates with the EMA weights on (the first `max` examples of) a split; as in TRM, the halting
 * head is ignored and every example runs the full number of ACT steps (16 at paper scale).
 * Under a plan of M micro-batches the batches hold ⌈batchSize / M⌉ examples (a step that needs M
 * slices to fit would not fit a whole evaluation batch either), never more than are evaluated;
 * with `memory` (the run's check, recursion/memory_plan.ts checkRunMemory) no more than fit beside
 * what the run holds (the backend's cache is emptied first) — a RangeError with the numbers if not
 * even one does. Examples are independent, so the results do not depend on the batch size (bit for bit on
 * the cpu backend: recursion/trainer_test).
 */
export function evaluate(
  tr: Trainer,
  split: SplitStore,
  batchSize: number,
  max: number | null,
  rng: Rng,
  onBatch?: (batch: Batch, result: EvalBatchResult) => void,
  memory?: EvalMemory | null,
): EvalResult {
  const limit = Math.min(max ?? split.numExamples, split.numExamples);
  let size = Math.max(1, Math.min(Math.ceil(batchSize / tr.memory.microBatches), limit));
  let n = 0, exact = 0, cells = 0, cellsOk = 0, q = 0, qOk = 0, steps = 0;
  tr.withEmaWeights(() => {
    const be = tr.model.backend;
    // The training steps' cached buffers go first: the budget is for the run's tensors.
    if (isPooled(be)) be.emptyPool();
    if (memory) {
      const fit = evalBatchFor(memory, size);
      if (fit < 1) {
        throw new RangeError(
          `evaluation: not even one example fits: ${fmtBytes(memory.held)} held + ${
            fmtBytes(memory.fixed + memory.perExample)
          } for one example > the budget of ${fmtBytes(memory.budget)}`,
        );
      }
      size = fit;
    }
    for (const batch of evalBatches(split, size)) {
      if (n >= limit) break;
      const r = evaluateBatch(tr.model, batch, rng);
      onBatch?.(batch, r);
      steps = r.steps;
      for (let i = 0; i < batch.valid && n < limit; i++, n++) {
        exact += r.correct[i];
        cells += r.tokenCount[i];
        cellsOk += r.tokenCorrect[i];
        q += r.qHalt[i];
        qOk += (r.qHalt[i] >= 0 ? 1 : 0) === r.correct[i] ? 1 : 0;
      }
    }
  });
  return {
    examples: n,
    exactAcc: n ? exact / n : NaN,
    cellAcc: cells ? cellsOk / cells : NaN,
    meanQHalt: n ? q / n : NaN,
    qHaltAcc: n ? qOk / n : NaN,
    actSteps: steps,
    batchSize: size,
  };
}

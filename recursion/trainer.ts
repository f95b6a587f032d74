/**
 * Training and evaluation of a TRM model (as TRM's `pretrain.py`): one optimiser step per ACT step,
 * AdamATan2 on the trainable weights, sparse sign-SGD on the puzzle-embedding rows of the batch,
 * linear warm-up then cosine to lr_min_ratio (1.0 in TRM: constant), EMA of the weights, and
 * evaluation (16 ACT steps for every example, no halting) with the EMA weights.
 */
import { backward, noGrad, zeroGrad } from "../engine/autograd.ts";
import { AdamATan2, Ema, signSgdRows } from "../engine/optim.ts";
import type { Rng } from "../engine/rng.ts";
import { scoped } from "../engine/scope.ts";
import { type Tensor, tensor, zeros } from "../engine/tensor.ts";
import {
  type ActBatch,
  actForward,
  advanceCarry,
  type Carry,
  carrySlice,
  decideHalting,
  initialCarry,
  inModelPrecision,
  loadHalted,
  type StepOutcome,
} from "./act.ts";
import type { TrmModel } from "./model.ts";

export interface TrainHyper {
  batchSize: number;
  lr: number;
  warmupSteps: number;
  /** Cosine floor as a fraction of lr (TRM: 1.0, i.e. constant after warm-up). */
  lrMinRatio: number;
  /** Steps the cosine runs over (only matters when lrMinRatio < 1). */
  totalSteps: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  puzzleLr: number;
  puzzleWeightDecay: number;
  emaDecay: number;
}

/**
 * How a step uses memory — not the maths: a run may change these on resume (a different device).
 * Micro-batches change only the order in which gradients are summed; recomputation changes nothing.
 */
export interface MemoryPlan {
  /**
   * Split each batch into this many contiguous slices (emulated data-parallel ranks): each runs
   * forward and backward on its own with the loss divided by the whole batch, gradients (and the
   * puzzle-embedding rows' gradients, per id) are summed, then one update — TRM's multi-GPU step
   * (TRM's `pretrain.py`: loss / global batch, gradients summed by all-reduce) on one device. The
   * carry stays one; the halting draws are made in slot order after all slices, as for the whole
   * batch.
   */
  microBatches: number;
  /** Recompute each recursion call's activations in backward (recursion/act.ts ActOptions). */
  recompute: boolean;
}

export const WHOLE_BATCH: Readonly<MemoryPlan> = Object.freeze({
  microBatches: 1,
  recompute: false,
});

/** Learning-rate factor at optimiser step `step` (1-based, as TRM counts). */
export function lrFactor(h: TrainHyper, step: number): number {
  if (step < h.warmupSteps) return step / Math.max(1, h.warmupSteps);
  const span = Math.max(1, h.totalSteps - h.warmupSteps);
  const progress = Math.min(1, (step - h.warmupSteps) / span);
  return h.lrMinRatio + (1 - h.lrMinRatio) * 0.5 * (1 + Math.cos(Math.PI * progress));
}

/** Metrics of one training step; accuracy figures over the slots that halted at this step. */
export interface StepMetrics {
  step: number;
  lr: number;
  lmLoss: number;
  qLoss: number;
  halted: number;
  tokenAcc: number;
  exactAcc: number;
  qHaltAcc: number;
  meanSteps: number;
}

export class Trainer {
  readonly opt: AdamATan2;
  readonly ema: Ema;
  carry: Carry;
  step = 0;
  readonly trainable: Tensor[];

  constructor(
    readonly model: TrmModel,
    readonly hyper: TrainHyper,
    readonly rng: Rng,
    readonly memory: Readonly<MemoryPlan> = WHOLE_BATCH,
  ) {
    const m = memory.microBatches;
    if (!(Number.isInteger(m) && m >= 1 && hyper.batchSize % m === 0)) {
      throw new RangeError(
        `micro-batches must be a whole divisor of the batch ${hyper.batchSize}: ${m}`,
      );
    }
    this.trainable = Object.values(model.params);
    this.opt = new AdamATan2(this.trainable, {
      lr: hyper.lr,
      weightDecay: hyper.weightDecay,
      beta1: hyper.beta1,
      beta2: hyper.beta2,
    });
    this.ema = new Ema(this.trainable, hyper.emaDecay);
    this.carry = initialCarry(model, hyper.batchSize);
  }

  /** One ACT step on `batch` (data enters only through halted slots), backward, updates. */
  trainStep(batch: ActBatch): StepMetrics {
    const { model, hyper, carry } = this;
    this.step++;
    const factor = lrFactor(hyper, this.step);
    loadHalted(model, carry, batch);
    let metrics!: StepMetrics;
    scoped(() => {
      zeroGrad(this.trainable);
      // Forward and backward in the model's dtype (bf16: rounded weights, restored after).
      const [outcome, puzzleGrad] = inModelPrecision(model, (): [StepOutcome, Tensor | null] => {
        if (this.memory.microBatches !== 1) return this.microBatched();
        const out = actForward(model, carry, true, { recompute: this.memory.recompute });
        backward(out.total!);
        advanceCarry(model, carry, out, true, this.rng);
        return [out, out.puzzleRows.grad];
      });
      this.opt.update(hyper.lr * factor);
      if (puzzleGrad) this.updatePuzzleRows(puzzleGrad, hyper.puzzleLr * factor);
      this.ema.update();
      metrics = this.metrics(outcome, factor);
      // Kept past the scope: the new carry and the parameters' gradients.
      return [carry.zH, carry.zL, ...this.grads()];
    });
    return metrics;
  }

  /**
   * Forward and backward of each slice of the carry in turn (see MemoryPlan.microBatches); each
   * slice's new states are written back into its rows once its backward is done. Returns the
   * merged per-slot outcome and the puzzle rows' gradients [B, D] (null if none reached them).
   */
  private microBatched(): [StepOutcome, Tensor | null] {
    const { model, carry } = this, be = model.backend;
    const b = carry.steps.length, n = b / this.memory.microBatches, d = model.cfg.hidden;
    const merged: StepOutcome = {
      lmLoss: 0,
      qLoss: 0,
      qHalt: new Float32Array(b),
      correct: new Uint8Array(b),
      tokenCorrect: new Int32Array(b),
      tokenCount: new Int32Array(b),
    };
    const puzzleGrad = zeros(be, [b, d]);
    let reached = false;
    for (let start = 0; start < b; start += n) {
      const slice = carrySlice(carry, start, n);
      scoped(() => {
        const out = actForward(model, slice, true, {
          recompute: this.memory.recompute,
          lossNorm: b,
        });
        backward(out.total!);
        for (const [from, to] of [[out.zH, slice.zH], [out.zL, slice.zL]]) {
          be.copy(to.size, from.buf, to.buf);
        }
        const g = out.puzzleRows.grad;
        if (g) {
          be.copy(n * d, g.buf, be.view(puzzleGrad.buf, start * d, n * d));
          reached = true;
        }
        merged.lmLoss += out.lmLoss;
        merged.qLoss += out.qLoss;
        merged.qHalt.set(out.qHalt, start);
        merged.correct.set(out.correct, start);
        merged.tokenCorrect.set(out.tokenCorrect, start);
        merged.tokenCount.set(out.tokenCount, start);
        // Kept: the parameters' gradients (accumulated across slices).
        return this.grads();
      });
    }
    decideHalting(model, carry, merged.qHalt, true, this.rng);
    return [merged, reached ? puzzleGrad : null];
  }

  /** The trainable parameters' gradients that exist (what a step's disposal scope must keep). */
  private grads(): Tensor[] {
    return this.trainable.flatMap((p) => (p.grad ? [p.grad] : []));
  }

  /** Sparse sign-SGD on the puzzle-embedding rows of this batch, gradients summed per id. */
  private updatePuzzleRows(g: Tensor, lr: number): void {
    const be = this.model.backend, d = this.model.cfg.hidden;
    const ids = this.carry.puzzleIds;
    const unique = [...new Set(ids)].sort((a, b) => a - b);
    const index = new Map(unique.map((id, k) => [id, k]));
    const slotToRow = tensor(be, Array.from(ids, (id) => index.get(id)!), [ids.length], {
      dtype: "i32",
    });
    const summed = zeros(be, [unique.length, d]);
    be.embeddingBackward(ids.length, d, slotToRow.buf, g.buf, summed.buf);
    const uniqueT = tensor(be, unique, [unique.length], { dtype: "i32" });
    signSgdRows(
      this.model.buffers["puzzle_emb.weight"],
      uniqueT,
      summed,
      lr,
      this.hyper.puzzleWeightDecay,
    );
  }

  private metrics(out: StepOutcome, factor: number): StepMetrics {
    const c = this.carry;
    let n = 0, tok = 0, exact = 0, qAcc = 0, steps = 0;
    for (let i = 0; i < c.halted.length; i++) {
      if (!c.halted[i] || out.tokenCount[i] === 0) continue;
      n++;
      tok += out.tokenCorrect[i] / out.tokenCount[i];
      exact += out.correct[i];
      qAcc += (out.qHalt[i] >= 0 ? 1 : 0) === out.correct[i] ? 1 : 0;
      steps += c.steps[i];
    }
    const b = c.halted.length;
    return {
      step: this.step,
      lr: this.hyper.lr * factor,
      lmLoss: out.lmLoss / b,
      qLoss: out.qLoss / b,
      halted: n,
      tokenAcc: n ? tok / n : NaN,
      exactAcc: n ? exact / n : NaN,
      qHaltAcc: n ? qAcc / n : NaN,
      meanSteps: n ? steps / n : NaN,
    };
  }

  /** Runs `fn` with the EMA weights loaded, restoring the trained weights afterwards. */
  withEmaWeights<T>(fn: () => T): T {
    const be = this.model.backend;
    const saved = this.trainable.map((p) => {
      const s = zeros(be, p.shape);
      be.copy(p.size, p.buf, s.buf);
      return s;
    });
    this.trainable.forEach((p, i) => be.copy(p.size, this.ema.shadow[i].buf, p.buf));
    try {
      return fn();
    } finally {
      this.trainable.forEach((p, i) => be.copy(p.size, saved[i].buf, p.buf));
      saved.forEach((s) => s.dispose());
    }
  }
}

/** Result of evaluating one batch: predictions after the last step, per example. */
export interface EvalBatchResult {
  preds: Int32Array;
  correct: Uint8Array;
  tokenCorrect: Int32Array;
  tokenCount: Int32Array;
  qHalt: Float32Array;
  steps: number;
}

/**
 * Evaluates a batch as TRM does: a fresh carry, every slot runs exactly haltMaxSteps ACT steps
 * (Q ignored), predictions and halting logits from the final step.
 */
export function evaluateBatch(model: TrmModel, batch: ActBatch, rng: Rng): EvalBatchResult {
  return inModelPrecision(model, () =>
    noGrad(() => {
      const carry = initialCarry(model, batch.size);
      let last!: EvalBatchResult;
      for (let s = 0; s < model.cfg.haltMaxSteps; s++) {
        loadHalted(model, carry, batch);
        scoped(() => {
          const out = actForward(model, carry, false);
          advanceCarry(model, carry, out, false, rng);
          last = {
            preds: out.preds,
            correct: out.correct,
            tokenCorrect: out.tokenCorrect,
            tokenCount: out.tokenCount,
            qHalt: out.qHalt,
            steps: s + 1,
          };
          return [carry.zH, carry.zL];
        });
      }
      for (const t of [carry.zH, carry.zL]) (t.base ?? t).dispose();
      return last;
    }));
}

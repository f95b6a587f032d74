/**
 * One ACT (supervision) step of TRM with its persistent carry (as TRM's
 * `models/recursive_reasoning/trm.py` and `models/losses.py`).
 *
 * The carry holds, per batch slot, the states z_H and z_L, the step counter, the halted flag and
 * the slot's current example. At each call, halted slots are reset to H_init/L_init and take the
 * incoming batch's example at the same index; the others keep theirs. Then T−1 recursion cycles
 * run without gradient (under a disposal scope: no tape, buffers reused at once) and one with
 * gradient; the heads give logits past the prefix and the halting logit from position 0.
 */
import { noGrad } from "../engine/autograd.ts";
import { currentPrecision, withPrecision } from "../engine/bf16.ts";
import { recompute } from "../engine/recompute.ts";
import { add, scale } from "../engine/ops.ts";
import { argmax, bceWithLogits, stablemaxXent, sum } from "../engine/ops_nn.ts";
import type { Rng } from "../engine/rng.ts";
import { scoped } from "../engine/scope.ts";
import { Tensor, tensor, zeros } from "../engine/tensor.ts";
import { fmtShape } from "../engine/errors.ts";
import type { TrmModel } from "./model.ts";

/** Label value excluded from the loss. */
export const IGNORE = -100;

/** A batch of examples as the recursion consumes it (tasks/dataset.ts `Batch` fits). */
export interface ActBatch {
  readonly size: number;
  readonly inputs: Int32Array;
  readonly labels: Int32Array;
  readonly puzzleIdentifiers: Int32Array;
}

export interface Carry {
  zH: Tensor;
  zL: Tensor;
  steps: Int32Array;
  halted: Uint8Array;
  inputs: Int32Array;
  labels: Int32Array;
  puzzleIds: Int32Array;
}

/**
 * Runs `fn` (forward and backward of one step, or an evaluation) in the model's forward dtype. For
 * f32 that is `fn()`. For bf16 (ModelConfig.dtype) the weights and the H/L init states are
 * rounded to bf16 in place for the call — every use inside sees the bf16 weight, as the official
 * model casts each weight at use — and restored to their f32 master values afterwards (also on
 * throw), so the optimiser and the EMA update f32 masters with gradients that reached them as bf16
 * values; activations and their gradients are rounded as engine/autograd.ts `record` says.
 */
export function inModelPrecision<T>(model: TrmModel, fn: () => T): T {
  if (model.cfg.dtype !== "bf16") return fn();
  const be = model.backend;
  const masters = [
    ...Object.values(model.params),
    model.buffers.H_init,
    model.buffers.L_init,
  ];
  const saved = masters.map((p) => {
    const s = zeros(be, p.shape);
    be.copy(p.size, p.buf, s.buf);
    be.roundBf16(p.size, p.buf, p.buf);
    return s;
  });
  try {
    return withPrecision("bf16", fn);
  } finally {
    masters.forEach((p, i) => be.copy(p.size, saved[i].buf, p.buf));
    saved.forEach((s) => s.dispose());
  }
}

/** A fresh carry: every slot halted, so the first step loads data and resets the states. */
export function initialCarry(model: TrmModel, batchSize: number): Carry {
  const { seqLen, prefixLen, hidden } = model.cfg;
  const shape = [batchSize, seqLen + prefixLen, hidden];
  return {
    zH: zeros(model.backend, shape),
    zL: zeros(model.backend, shape),
    steps: new Int32Array(batchSize),
    halted: new Uint8Array(batchSize).fill(1),
    inputs: new Int32Array(batchSize * seqLen),
    labels: new Int32Array(batchSize * seqLen).fill(IGNORE),
    puzzleIds: new Int32Array(batchSize),
  };
}

/** Resets halted slots in place: states to the inits, steps to 0, data from `batch`. */
export function loadHalted(model: TrmModel, carry: Carry, batch: ActBatch): void {
  const be = model.backend, { seqLen, prefixLen, hidden } = model.cfg;
  const b = carry.steps.length, lp = seqLen + prefixLen, rowSize = lp * hidden;
  if (batch.size !== b || batch.inputs.length !== b * seqLen) {
    throw new TypeError(
      `act: batch of ${batch.size} × ${
        batch.inputs.length / Math.max(1, batch.size)
      } for a carry of ${b} × ${seqLen}`,
    );
  }
  for (let i = 0; i < b; i++) {
    if (!carry.halted[i]) continue;
    // Broadcast the init vector over the slot's L' rows (source stride 0).
    be.copy2d(
      lp,
      hidden,
      model.buffers.H_init.buf,
      0,
      be.view(carry.zH.buf, i * rowSize, rowSize),
      hidden,
    );
    be.copy2d(
      lp,
      hidden,
      model.buffers.L_init.buf,
      0,
      be.view(carry.zL.buf, i * rowSize, rowSize),
      hidden,
    );
    carry.steps[i] = 0;
    carry.inputs.set(batch.inputs.subarray(i * seqLen, (i + 1) * seqLen), i * seqLen);
    carry.labels.set(batch.labels.subarray(i * seqLen, (i + 1) * seqLen), i * seqLen);
    carry.puzzleIds[i] = batch.puzzleIdentifiers[i];
  }
}

/** Options of a training forward. */
export interface ActOptions {
  /**
   * Keep only each recursion call's inputs and output and recompute its activations in backward
   * (engine/recompute.ts): one extra forward of the gradient cycle for a fraction of the memory.
   */
  recompute?: boolean;
  /** The loss is divided by this (default the carry's batch; micro-batches pass the whole batch). */
  lossNorm?: number;
}

/** What a step yields per slot, and the loss sums (ActOutput, or merged micro-batches). */
export interface StepOutcome {
  lmLoss: number;
  qLoss: number;
  qHalt: Float32Array;
  correct: Uint8Array;
  tokenCorrect: Int32Array;
  tokenCount: Int32Array;
}

export interface ActOutput {
  /** (lm_loss + 0.5·q_halt_loss) / lossNorm, for backward (training only; null in evaluation). */
  total: Tensor | null;
  /** Σ_b per-sequence mean stable-max CE, and Σ_b BCE(q_halt, correct). */
  lmLoss: number;
  qLoss: number;
  logits: Tensor;
  preds: Int32Array;
  qHalt: Float32Array;
  /** Per slot: every supervised token right; correct-token and supervised-token counts. */
  correct: Uint8Array;
  tokenCorrect: Int32Array;
  tokenCount: Int32Array;
  /** The puzzle-embedding rows used ([B, D], a leaf with gradient in training). */
  puzzleRows: Tensor;
  zH: Tensor;
  zL: Tensor;
}

/**
 * Runs the recursion and the heads for the carry's current data (after `loadHalted`). With
 * `training`, the last cycle and the heads are recorded for backward.
 */
export function actForward(
  model: TrmModel,
  carry: Carry,
  training: boolean,
  opts: ActOptions = {},
): ActOutput {
  const be = model.backend, cfg = model.cfg;
  const b = carry.steps.length;
  const inputs = tensor(be, carry.inputs, [b, cfg.seqLen], { dtype: "i32" });
  const labels = tensor(be, carry.labels, [b, cfg.seqLen], { dtype: "i32" });
  const ids = tensor(be, carry.puzzleIds, [b], { dtype: "i32" });
  const table = model.buffers["puzzle_emb.weight"];
  const puzzleRows = zeros(be, [b, cfg.hidden], { requiresGrad: training });
  be.embedding(b, cfg.hidden, ids.buf, table.buf, puzzleRows.buf);
  const bf16 = currentPrecision() === "bf16";
  if (bf16) {
    // bf16 storage of what enters the recursion: the puzzle rows (a cast of the f32 table, as
    // the official sparse embedding) and the carried states (bf16 already after the first step).
    for (const t of [puzzleRows, carry.zH, carry.zL]) be.roundBf16(t.size, t.buf, t.buf);
  }

  // The recursion calls with gradient; recomputed, each keeps only its inputs and its output.
  const params = Object.values(model.params);
  const call = (f: (...xs: Tensor[]) => Tensor, xs: Tensor[]) =>
    opts.recompute ? recompute(f, xs, params) : f(...xs);
  const latent = (zL: Tensor, zH: Tensor, x: Tensor) => model.net(zL, add(zH, x));
  const high = (zH: Tensor, zL: Tensor) => model.net(zH, zL);
  const run = () => {
    const x = model.embed(inputs, puzzleRows);
    let zH = carry.zH, zL = carry.zL;
    // Without training the last cycle is no-grad as well: its calls release their intermediates
    // one by one too (evaluation holds one call's activations, not n + 1 calls').
    const noGradCycles = training ? cfg.hCycles - 1 : cfg.hCycles;
    noGrad(() => {
      for (let c = 0; c < noGradCycles; c++) {
        for (let i = 0; i < cfg.lCycles; i++) {
          zL = swap(
            zL,
            scoped(() => model.net(zL, add(zH, x))),
            carry,
          );
        }
        zH = swap(zH, scoped(() => model.net(zH, zL)), carry);
      }
    });
    if (training) {
      for (let i = 0; i < cfg.lCycles; i++) zL = call(latent, [zL, zH, x]);
      zH = call(high, [zH, zL]);
    }
    return { zH, zL, ...model.heads(zH) };
  };
  const out = training ? run() : noGrad(run);
  // The losses in f32, as the official model casts the logits to float32 for them.
  return withPrecision(
    "f32",
    () => losses(model, carry, { ...out, puzzleRows }, labels, training, opts),
  );
}

/** The heads' losses and metrics of one step (f32; see actForward). */
function losses(
  model: TrmModel,
  carry: Carry,
  out: { zH: Tensor; zL: Tensor; logits: Tensor; qHalt: Tensor; puzzleRows: Tensor },
  labels: Tensor,
  training: boolean,
  opts: ActOptions,
): ActOutput {
  const be = model.backend, cfg = model.cfg, b = carry.steps.length;
  const lmPerSeq = stablemaxXent(out.logits, labels, IGNORE);
  const lm = sum(lmPerSeq);
  // Correctness from the argmax (a host read of B·L ints per step, like TRM's metrics).
  const preds = argmax(out.logits).toArray() as Int32Array;
  const correct = new Uint8Array(b),
    tokenCorrect = new Int32Array(b),
    tokenCount = new Int32Array(b);
  for (let i = 0; i < b; i++) {
    let ok = 0, cnt = 0;
    for (let t = i * cfg.seqLen; t < (i + 1) * cfg.seqLen; t++) {
      if (carry.labels[t] === IGNORE) continue;
      cnt++;
      if (preds[t] === carry.labels[t]) ok++;
    }
    tokenCorrect[i] = ok;
    tokenCount[i] = cnt;
    correct[i] = ok === cnt ? 1 : 0; // as TRM: an all-ignored row counts as correct
  }
  const target = tensor(be, correct, [b]);
  const bce = sum(bceWithLogits(out.qHalt, target));
  const lmLoss = lm.item(), qLoss = bce.item();
  const total = training ? scale(add(lm, scale(bce, 0.5)), 1 / (opts.lossNorm ?? b)) : null;
  return {
    total,
    lmLoss,
    qLoss,
    logits: out.logits,
    preds,
    qHalt: Float32Array.from(out.qHalt.toArray()),
    correct,
    tokenCorrect,
    tokenCount,
    puzzleRows: out.puzzleRows,
    zH: out.zH,
    zL: out.zL,
  };
}

/** Disposes a no-grad intermediate state once replaced (never the carry's own tensors). */
function swap(prev: Tensor, next: Tensor, carry: Carry): Tensor {
  if (prev !== carry.zH && prev !== carry.zL) prev.dispose();
  return next;
}

/**
 * Advances the carry after a step: new states (detached), then `decideHalting`.
 */
export function advanceCarry(
  model: TrmModel,
  carry: Carry,
  out: ActOutput,
  training: boolean,
  rng: Rng,
): void {
  const b = carry.steps.length;
  const zH = out.zH.detach(), zL = out.zL.detach();
  if (zH.shape.length !== 3 || zH.shape[0] !== b) {
    throw new TypeError(`carry: ${fmtShape(zH.shape)}`);
  }
  // The old states are dead now (call this after backward): release their buffers.
  for (const t of [carry.zH, carry.zL]) (t.base ?? t).dispose();
  carry.zH = zH;
  carry.zL = zL;
  decideHalting(model, carry, out.qHalt, training, rng);
}

/**
 * Steps + 1 and the halting decision per slot — at the step limit always; in training also when
 * q_halt > 0, unless this step's exploration draw (probability p, minimum uniform in 2..max) asks
 * for more steps. Draws in slot order, so micro-batches draw as the whole batch does.
 */
export function decideHalting(
  model: TrmModel,
  carry: Carry,
  qHalt: Float32Array,
  training: boolean,
  rng: Rng,
): void {
  const { haltMaxSteps: max, haltExploration: p } = model.cfg;
  const b = carry.steps.length;
  for (let i = 0; i < b; i++) {
    const steps = ++carry.steps[i];
    let halted = steps >= max;
    if (training && max > 1) {
      halted = halted || qHalt[i] > 0;
      const minSteps = rng.uniform() < p ? 2 + rng.int(max - 1) : 0;
      halted = halted && steps >= minSteps;
    }
    carry.halted[i] = halted ? 1 : 0;
  }
}

/**
 * Slots [start, start + n) of a carry as a carry of n slots sharing its memory: the states are
 * views of the rows, the host arrays subarrays (loadHalted and decideHalting on it act on the
 * whole carry's slots).
 */
export function carrySlice(carry: Carry, start: number, n: number): Carry {
  const [b, lp, d] = carry.zH.shape;
  if (!(start >= 0 && n >= 1 && start + n <= b)) {
    throw new RangeError(`carrySlice: slots [${start}, ${start + n}) of ${b}`);
  }
  const l = carry.inputs.length / b;
  const rows = (t: Tensor) =>
    new Tensor(
      t.backend,
      t.backend.view(t.buf, start * lp * d, n * lp * d),
      [n, lp, d],
      "f32",
      false,
      t.base ?? t,
    );
  return {
    zH: rows(carry.zH),
    zL: rows(carry.zL),
    steps: carry.steps.subarray(start, start + n),
    halted: carry.halted.subarray(start, start + n),
    inputs: carry.inputs.subarray(start * l, (start + n) * l),
    labels: carry.labels.subarray(start * l, (start + n) * l),
    puzzleIds: carry.puzzleIds.subarray(start, start + n),
  };
}

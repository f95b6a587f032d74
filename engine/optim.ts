/**
 * Optimisers and weight averaging, as TRM trains (its `pretrain.py`, `models/sparse_embedding.py`
 * and `models/ema.py`): AdamATan2 on all trainable weights, sparse sign-SGD for embedding rows, and
 * an EMA shadow. Updates run as backend kernels; only scalars (lr, bias corrections) are computed
 * on the host.
 */
import { type Tensor, zeros } from "./tensor.ts";
import { fmtShape } from "./errors.ts";

export interface AdamATan2Options {
  lr: number;
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
}

/**
 * AdamATan2 (no epsilon; decoupled weight decay; β1 bias correction outside the atan2), exactly as
 * the adam-atan2 fused kernel: p ← p(1 − lr·wd); m ← m + (1−β1)(g − m); v ← v + (1−β2)(g² − v);
 * p ← p − lr/(1−β1ᵗ) · atan2(m, √v/√(1−β2ᵗ)).
 */
export class AdamATan2 {
  readonly m: Tensor[];
  readonly v: Tensor[];
  step = 0;
  lr: number;
  readonly weightDecay: number;
  readonly beta1: number;
  readonly beta2: number;

  constructor(readonly params: Tensor[], opts: AdamATan2Options) {
    this.lr = opts.lr;
    this.weightDecay = opts.weightDecay ?? 0;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.95;
    for (const p of params) {
      if (!p.requiresGrad) throw new TypeError(`AdamATan2: parameter does not require grad: ${p}`);
    }
    this.m = params.map((p) => zeros(p.backend, p.shape));
    this.v = params.map((p) => zeros(p.backend, p.shape));
  }

  /** One update with the current `.grad` of every parameter (missing grads count as zero). */
  update(lr = this.lr): void {
    this.step++;
    const bc1 = 1 - Math.pow(this.beta1, this.step), bc2 = 1 - Math.pow(this.beta2, this.step);
    this.params.forEach((p, i) => {
      const g = p.grad ?? zeros(p.backend, p.shape);
      if (g.size !== p.size) {
        throw new TypeError(
          `AdamATan2: grad ${fmtShape(g.shape)} for parameter ${fmtShape(p.shape)}`,
        );
      }
      p.backend.adamAtan2(
        p.size,
        p.buf,
        g.buf,
        this.m[i].buf,
        this.v[i].buf,
        lr,
        this.weightDecay,
        this.beta1,
        this.beta2,
        bc1,
        bc2,
      );
    });
  }
}

/**
 * Sparse sign-SGD with decoupled decay on the rows `ids` (i32, distinct) of `table` [V, D], with
 * per-row gradients `grads` [n, D].
 */
export function signSgdRows(
  table: Tensor,
  ids: Tensor,
  grads: Tensor,
  lr: number,
  weightDecay: number,
): void {
  const d = table.shape[1];
  if (table.rank !== 2 || ids.dtype !== "i32" || grads.size !== ids.size * d) {
    throw new TypeError(
      `signSgdRows: table ${fmtShape(table.shape)}, ids ${ids.dtype} ${
        fmtShape(ids.shape)
      }, grads ${fmtShape(grads.shape)}`,
    );
  }
  table.backend.signSgdRows(ids.size, d, ids.buf, grads.buf, table.buf, lr, weightDecay);
}

/** Exponential moving average of parameters: shadow ← decay·shadow + (1 − decay)·p. */
export class Ema {
  readonly shadow: Tensor[];
  constructor(readonly params: Tensor[], readonly decay = 0.999) {
    this.shadow = params.map((p) => {
      const s = zeros(p.backend, p.shape);
      p.backend.copy(p.size, p.buf, s.buf);
      return s;
    });
  }
  update(): void {
    this.params.forEach((p, i) => p.backend.ema(p.size, this.shadow[i].buf, p.buf, this.decay));
  }
}

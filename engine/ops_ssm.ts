/**
 * Differentiable Mamba-2 primitives: the causal depthwise conv1d, the SSD scan (its output and its
 * final state, as two single-output ops), a flip of the time axis and a broadcast row-vector
 * product. Their derivative rules live here and are checked by finite differences in
 * ops_ssm_test.ts; the kernels are the backend's (engine/backend.ts, "Mamba-2").
 *
 * @example
 * ```ts
 * import { createRefBackend } from "./backends/ref/mod.ts";
 * import { tensor } from "./tensor.ts";
 * import { conv1dCausal } from "./ops_ssm.ts";
 * const be = createRefBackend();
 * const x = tensor(be, [1, 2, 3], [1, 3, 1]); // [B, T, C]
 * const w = tensor(be, [0.5, 1], [1, 1, 2]); // [C, 1, K]: tap K−1 is the current token
 * const y = conv1dCausal(x, w, tensor(be, [0], [1])); // [1, 2.5, 4]
 * ```
 */
import type { SsdDims } from "./backend.ts";
import { record } from "./autograd.ts";
import { fmtShape } from "./errors.ts";
import { f32Backend } from "./ops.ts";
import { empty, type Tensor, zeros } from "./tensor.ts";

function shapeIs(op: string, name: string, t: Tensor, want: number[]): void {
  if (t.rank !== want.length || t.shape.some((d, k) => d !== want[k])) {
    throw new TypeError(`${op}: ${name} must be ${fmtShape(want)}: got ${fmtShape(t.shape)}`);
  }
}

// ------------------------------------------------------------------ conv

/**
 * Causal depthwise conv1d with bias over x [B, T, C] (channels last); w is [C, 1, K] (PyTorch's
 * layout) or [C, K], bias [C]. out[b, t, c] = bias[c] + Σ_j w[c, j]·x[b, t − K + 1 + j, c].
 * Mamba-2 applies SiLU after it (`silu` in ops.ts).
 */
export function conv1dCausal(x: Tensor, w: Tensor, bias: Tensor): Tensor {
  const { dims, be } = convArgs("conv1dCausal", x, w, bias);
  const out = empty(be, x.shape);
  be.conv1dCausal(...dims, x.buf, w.buf, bias.buf, out.buf);
  return record(out, "conv1dCausal", [x, w, bias], (g) => convBackward(x, w, bias, g));
}

/**
 * silu(conv1dCausal(x, w, bias)) — Mamba-2's conv and activation — fused for memory: the conv's
 * output is recomputed in backward rather than kept (the same kernels in the same order, so
 * bitwise the two ops).
 */
export function conv1dCausalSilu(x: Tensor, w: Tensor, bias: Tensor): Tensor {
  const { dims, be } = convArgs("conv1dCausalSilu", x, w, bias);
  const conv = () => {
    const c = empty(be, x.shape);
    be.conv1dCausal(...dims, x.buf, w.buf, bias.buf, c.buf);
    return c;
  };
  const c = conv(), out = empty(be, x.shape);
  be.unary("silu", x.size, c.buf, out.buf);
  c.dispose();
  return record(out, "conv1dCausalSilu", [x, w, bias], (g) => {
    const c = conv(), dc = empty(be, x.shape);
    be.unaryBackward("silu", x.size, c.buf, g.buf, dc.buf);
    c.dispose();
    const grads = convBackward(x, w, bias, dc);
    dc.dispose();
    return grads;
  });
}

function convArgs(op: string, x: Tensor, w: Tensor, bias: Tensor) {
  f32Backend(op, x, w, bias);
  if (x.rank !== 3) throw new TypeError(`${op}: x must be [B, T, C]: got ${fmtShape(x.shape)}`);
  const [b, t, c] = x.shape;
  const k = w.size / (c || 1);
  const wOk = (w.rank === 3 && w.shape[1] === 1) || w.rank === 2;
  if (!wOk || w.shape[0] !== c || !Number.isInteger(k) || k < 1) {
    throw new TypeError(`${op}: w must be [${c}, 1, K] or [${c}, K]: got ${fmtShape(w.shape)}`);
  }
  shapeIs(op, "bias", bias, [c]);
  return { dims: [b, t, c, k] as [number, number, number, number], be: x.backend };
}

function convBackward(x: Tensor, w: Tensor, bias: Tensor, g: Tensor): Tensor[] {
  const be = x.backend, [b, t, c] = x.shape, k = w.size / (c || 1);
  const dx = empty(be, x.shape), dw = empty(be, w.shape), db = empty(be, bias.shape);
  be.conv1dCausalBackward(b, t, c, k, x.buf, w.buf, g.buf, dx.buf, dw.buf, db.buf);
  return [dx, dw, db];
}

// ------------------------------------------------------------------ SSD scan

/** Options of `ssdScan` / `ssdFinalState`. */
export interface SsdOptions {
  /** Chunk length of a chunked backend (default 256); the result does not depend on it. */
  chunk?: number;
  /** Initial state [B, H, P, N] (default zeros); differentiable. */
  init?: Tensor | null;
}

/** Validates the scan's shapes and returns its dims and the op's inputs. */
function ssdArgs(
  op: string,
  x: Tensor,
  dt: Tensor,
  A: Tensor,
  Bm: Tensor,
  Cm: Tensor,
  D: Tensor,
  opts: SsdOptions,
): { dims: SsdDims; inputs: Tensor[] } {
  const init = opts.init ?? null;
  const inputs = init ? [x, dt, A, Bm, Cm, D, init] : [x, dt, A, Bm, Cm, D];
  f32Backend(op, ...inputs);
  if (x.rank !== 4) throw new TypeError(`${op}: x must be [B, T, H, P]: got ${fmtShape(x.shape)}`);
  if (Bm.rank !== 4) {
    throw new TypeError(`${op}: Bm must be [B, T, G, N]: got ${fmtShape(Bm.shape)}`);
  }
  const [batch, seq, heads, headDim] = x.shape, [, , groups, dState] = Bm.shape;
  shapeIs(op, "dt", dt, [batch, seq, heads]);
  shapeIs(op, "A", A, [heads]);
  shapeIs(op, "Bm", Bm, [batch, seq, groups, dState]);
  shapeIs(op, "Cm", Cm, [batch, seq, groups, dState]);
  shapeIs(op, "D", D, [heads]);
  if (init) shapeIs(op, "init", init, [batch, heads, headDim, dState]);
  const chunk = opts.chunk ?? 256;
  if (!Number.isInteger(chunk) || chunk < 1) {
    throw new RangeError(`${op}: chunk must be a positive integer: ${chunk}`);
  }
  if (groups < 1 || heads % groups !== 0) {
    throw new TypeError(`${op}: heads (${heads}) must be a multiple of groups (${groups})`);
  }
  return { dims: { batch, seq, heads, headDim, groups, dState, chunk }, inputs };
}

/**
 * Gradients of all scan inputs for the cotangents dy (of y) and dFinal (of the final state), as
 * the op's backward returns them (dInit only when there is an initial state).
 */
function ssdGrads(
  dims: SsdDims,
  inputs: Tensor[],
  dy: Tensor,
  dFinal: Tensor | null,
): Tensor[] {
  const [x, dt, A, Bm, Cm, D, init] = inputs;
  const be = x.backend;
  const g = [x, dt, A, Bm, Cm, D].map((t) => empty(be, t.shape));
  const dInit = init ? empty(be, init.shape) : null;
  be.ssdScanBackward(
    dims,
    x.buf,
    dt.buf,
    A.buf,
    Bm.buf,
    Cm.buf,
    D.buf,
    init?.buf ?? null,
    dy.buf,
    dFinal?.buf ?? null,
    g[0].buf,
    g[1].buf,
    g[2].buf,
    g[3].buf,
    g[4].buf,
    g[5].buf,
    dInit?.buf ?? null,
  );
  return dInit ? [...g, dInit] : g;
}

/** Runs the scan forward: y [B, T, H, P] and, when asked for, the final state [B, H, P, N]. */
function ssdForward(
  dims: SsdDims,
  inputs: Tensor[],
  withFinal: boolean,
): { y: Tensor; fin: Tensor | null } {
  const [x, dt, A, Bm, Cm, D, init] = inputs;
  const be = x.backend;
  const { batch, heads, headDim, dState } = dims;
  const y = empty(be, x.shape);
  const fin = withFinal ? empty(be, [batch, heads, headDim, dState]) : null;
  be.ssdScan(
    dims,
    x.buf,
    dt.buf,
    A.buf,
    Bm.buf,
    Cm.buf,
    D.buf,
    init?.buf ?? null,
    y.buf,
    fin?.buf ?? null,
  );
  return { y, fin };
}

/**
 * Mamba-2's selective scan with the D skip (Dao & Gu 2024, arXiv:2405.21060): per head, with
 * state S_t [P, N], S_t = exp(Δ_t·A)·S_{t−1} + Δ_t·x_t⊗B_t and y_t = S_t·C_t + D·x_t, S_{−1} = 0.
 * x [B, T, H, P], dt [B, T, H] (Δ after softplus), A [H] (negative), Bm and Cm [B, T, G, N],
 * D [H] → y [B, T, H, P].
 */
export function ssdScan(
  x: Tensor,
  dt: Tensor,
  A: Tensor,
  Bm: Tensor,
  Cm: Tensor,
  D: Tensor,
  opts: SsdOptions = {},
): Tensor {
  const { dims, inputs } = ssdArgs("ssdScan", x, dt, A, Bm, Cm, D, opts);
  const { y } = ssdForward(dims, inputs, false);
  return record(y, "ssdScan", inputs, (g) => ssdGrads(dims, inputs, g, null));
}

/** The final state S_{T−1} [B, H, P, N] of the same scan as `ssdScan` (differentiable). */
export function ssdFinalState(
  x: Tensor,
  dt: Tensor,
  A: Tensor,
  Bm: Tensor,
  Cm: Tensor,
  D: Tensor,
  opts: SsdOptions = {},
): Tensor {
  const { dims, inputs } = ssdArgs("ssdFinalState", x, dt, A, Bm, Cm, D, opts);
  const { y, fin } = ssdForward(dims, inputs, true);
  y.dispose();
  return record(fin!, "ssdFinalState", inputs, (g) => {
    const dy = zeros(x.backend, x.shape);
    const grads = ssdGrads(dims, inputs, dy, g);
    dy.dispose();
    return grads;
  });
}

// ------------------------------------------------------------------ helpers

/** Reverses axis 1 of x [B, L, ...] (a copy); its own backward. */
export function flipAxis1(x: Tensor): Tensor {
  if (x.rank < 2) throw new TypeError(`flipAxis1: rank < 2: ${fmtShape(x.shape)}`);
  f32Backend("flipAxis1", x);
  const be = x.backend;
  const [b, l] = x.shape;
  const inner = x.size / (b * l || 1);
  const out = empty(be, x.shape);
  if (b > 0 && inner > 0) {
    for (let t = 0; t < l; t++) {
      const src = be.view(x.buf, t * inner, x.size - t * inner);
      const dst = be.view(out.buf, (l - 1 - t) * inner, x.size - (l - 1 - t) * inner);
      be.copy2d(b, inner, src, l * inner, dst, l * inner);
    }
  }
  return record(out, "flipAxis1", [x], (g) => [flipAxis1(g)]);
}

/** x ⊙ v with v [C] broadcast over the rows of x [..., C]. */
export function mulRowVector(x: Tensor, v: Tensor): Tensor {
  f32Backend("mulRowVector", x, v);
  const c = x.rank > 0 ? x.shape[x.rank - 1] : 0;
  if (x.rank === 0 || v.size !== c) {
    throw new TypeError(
      `mulRowVector: vector ${fmtShape(v.shape)} for rows of ${c}: ${fmtShape(x.shape)}`,
    );
  }
  const be = x.backend, rows = x.size / (c || 1);
  /** v repeated over the rows (recomputed in the backward instead of kept). */
  const spread = () => {
    const t = zeros(be, x.shape);
    be.addRowVector(rows, c, t.buf, v.buf, t.buf);
    return t;
  };
  const vv = spread();
  const out = empty(be, x.shape);
  be.mul(x.size, x.buf, vv.buf, out.buf);
  vv.dispose();
  return record(out, "mulRowVector", [x, v], (g) => {
    const dx = spread();
    be.mul(x.size, g.buf, dx.buf, dx.buf);
    const gx = empty(be, x.shape);
    be.mul(x.size, g.buf, x.buf, gx.buf);
    const dv = empty(be, v.shape);
    be.sumRows(rows, c, gx.buf, dv.buf);
    gx.dispose();
    return [dx, dv];
  });
}

// ------------------------------------------------------------------ gated RMSNorm

/**
 * Mamba-2's gated RMSNorm (norm_before_gate = false), fused: v = y ⊙ silu(z) over the last axis
 * cut into `groups` groups, each normalised (eps), times weight [C]. Neither silu(z) nor v is
 * kept for backward (recomputed from y and z).
 */
export function gatedRmsnorm(
  y: Tensor,
  z: Tensor,
  weight: Tensor,
  groups: number,
  eps = 1e-5,
): Tensor {
  const op = "gatedRmsnorm";
  f32Backend(op, y, z, weight);
  shapeIs(op, "z", z, [...y.shape]);
  const c = y.shape[y.rank - 1] ?? 1;
  shapeIs(op, "weight", weight, [c]);
  if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0) {
    throw new RangeError(`${op}: groups must divide the last axis ${c}: ${groups}`);
  }
  const be = y.backend, rows = y.size / (c || 1), group = c / groups;
  const out = empty(be, y.shape), rstd = empty(be, [rows * groups]);
  be.gatedRmsnorm(rows, c, group, y.buf, z.buf, weight.buf, eps, out.buf, rstd.buf);
  record(out, op, [y, z, weight], (g) => {
    const dy = empty(be, y.shape), dz = empty(be, z.shape), dw = empty(be, weight.shape);
    be.gatedRmsnormBackward(
      rows,
      c,
      group,
      y.buf,
      z.buf,
      weight.buf,
      rstd.buf,
      g.buf,
      dy.buf,
      dz.buf,
      dw.buf,
    );
    rstd.dispose(); // internal to this node, and a graph runs backward once
    return [dy, dz, dw];
  });
  if (!out.node) rstd.dispose(); // not recorded: nothing will read it
  return out;
}

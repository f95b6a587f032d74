/**
 * Differentiable operations: each forward calls backend kernels and records its backward rule.
 * All derivative rules of the engine live in this file (and are checked by finite differences in
 * ops_test.ts). Nothing here branches on the backend.
 */
import type { Backend, UnaryOp } from "./backend.ts";
import { record } from "./autograd.ts";
import { fmtShape } from "./errors.ts";
import { empty, numel, type Tensor, zeros } from "./tensor.ts";

// ------------------------------------------------------------------ checks

function sameBackend(op: string, ...ts: Tensor[]): Backend {
  const be = ts[0].backend;
  for (const t of ts) {
    if (t.backend !== be) {
      throw new TypeError(`${op}: tensors on different backends: ${be.name} and ${t.backend.name}`);
    }
  }
  return be;
}

function needF32(op: string, ...ts: Tensor[]): void {
  for (const t of ts) {
    if (t.dtype !== "f32") throw new TypeError(`${op}: expected f32 tensor, got ${t.dtype}: ${t}`);
  }
}

/** The one backend of the f32 tensors `ts` (a TypeError naming `op` otherwise). */
export function f32Backend(op: string, ...ts: Tensor[]): Backend {
  const be = sameBackend(op, ...ts);
  needF32(op, ...ts);
  return be;
}

/** A TypeError naming `op` unless a and b have the same shape. */
export function sameShape(op: string, a: Tensor, b: Tensor): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, k) => d !== b.shape[k])) {
    throw new TypeError(`${op}: shapes differ: ${fmtShape(a.shape)} vs ${fmtShape(b.shape)}`);
  }
}

/** The length of t's last axis (a TypeError for a rank-0 tensor). */
export function last(t: Tensor): number {
  if (t.rank === 0) throw new TypeError(`expected rank ≥ 1: ${t}`);
  return t.shape[t.rank - 1];
}

/** An uninitialised f32 tensor on t's backend, for outputs a kernel overwrites entirely. */
function like(t: Tensor, shape: readonly number[] = t.shape): Tensor {
  return empty(t.backend, shape);
}

// ------------------------------------------------------------------ shape ops

/** Same data, new shape (no copy). The element count must match. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  if (numel(shape) !== x.size) {
    throw new TypeError(`reshape: ${fmtShape(x.shape)} cannot become ${fmtShape(shape)}`);
  }
  const out = x.view(shape);
  return record(out, "reshape", [x], (g) => [reshape(g, x.shape)]);
}

/** Per-batch transpose of the last two axes of a rank-3 tensor: [B, R, C] → [B, C, R]. */
export function transpose(x: Tensor): Tensor {
  needF32("transpose", x);
  if (x.rank !== 3) throw new TypeError(`transpose: expected [B, R, C], got ${fmtShape(x.shape)}`);
  const [b, r, c] = x.shape;
  const out = like(x, [b, c, r]);
  x.backend.transpose(b, r, c, x.buf, out.buf);
  return record(out, "transpose", [x], (g) => [transpose(g)]);
}

/** x[:, start:start+len, ...] along axis 1 of a rank ≥ 2 tensor (a copy). */
export function sliceAxis1(x: Tensor, start: number, len: number): Tensor {
  if (x.rank < 2) throw new TypeError(`sliceAxis1: rank < 2: ${fmtShape(x.shape)}`);
  const [b, l] = x.shape;
  if (start < 0 || len < 0 || start + len > l) {
    throw new RangeError(`sliceAxis1: [${start}, ${start + len}) outside axis of ${l}`);
  }
  const inner = x.size / (b * l || 1);
  const shape = [b, len, ...x.shape.slice(2)];
  const out = like(x, shape);
  const be = x.backend;
  if (len > 0 && b > 0) {
    be.copy2d(
      b,
      len * inner,
      be.view(x.buf, start * inner, x.size - start * inner),
      l * inner,
      out.buf,
      len * inner,
    );
  }
  return record(out, "slice", [x], (g) => {
    const gx = zeros(x.backend, x.shape);
    if (len > 0 && b > 0) {
      be.copy2d(
        b,
        len * inner,
        g.buf,
        len * inner,
        be.view(gx.buf, start * inner, x.size - start * inner),
        l * inner,
      );
    }
    return [gx];
  });
}

/** Concatenation along axis 1: [B, L1, ...] ++ [B, L2, ...] → [B, L1+L2, ...]. */
export function concatAxis1(a: Tensor, b: Tensor): Tensor {
  const be = sameBackend("concatAxis1", a, b);
  needF32("concatAxis1", a, b);
  if (
    a.rank < 2 || a.rank !== b.rank || a.shape[0] !== b.shape[0] ||
    a.shape.slice(2).some((d, k) => d !== b.shape[k + 2])
  ) {
    throw new TypeError(
      `concatAxis1: incompatible shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`,
    );
  }
  const [nb, l1] = a.shape, l2 = b.shape[1];
  const inner = numel(a.shape.slice(2));
  const l = l1 + l2;
  const out = like(a, [nb, l, ...a.shape.slice(2)]);
  if (nb > 0) {
    if (l1 > 0) be.copy2d(nb, l1 * inner, a.buf, l1 * inner, out.buf, l * inner);
    if (l2 > 0) {
      be.copy2d(
        nb,
        l2 * inner,
        b.buf,
        l2 * inner,
        be.view(out.buf, l1 * inner, out.size - l1 * inner),
        l * inner,
      );
    }
  }
  return record(out, "concat", [a, b], (g) => [sliceAxis1(g, 0, l1), sliceAxis1(g, l1, l2)]);
}

// ------------------------------------------------------------------ elementwise

/** a + b (same shape). */
export function add(a: Tensor, b: Tensor): Tensor {
  const be = sameBackend("add", a, b);
  needF32("add", a, b);
  sameShape("add", a, b);
  const out = like(a);
  be.axpby(a.size, 1, a.buf, 1, b.buf, out.buf);
  return record(out, "add", [a, b], (g) => [g, g]);
}

/** a − b (same shape). */
export function sub(a: Tensor, b: Tensor): Tensor {
  const be = sameBackend("sub", a, b);
  needF32("sub", a, b);
  sameShape("sub", a, b);
  const out = like(a);
  be.axpby(a.size, 1, a.buf, -1, b.buf, out.buf);
  return record(out, "sub", [a, b], (g) => [g, scale(g, -1)]);
}

/** s · x. */
export function scale(x: Tensor, s: number): Tensor {
  needF32("scale", x);
  const out = like(x);
  x.backend.axpby(x.size, s, x.buf, 0, x.buf, out.buf);
  return record(out, "scale", [x], (g) => [scale(g, s)]);
}

/** a ⊙ b (same shape). */
export function mul(a: Tensor, b: Tensor): Tensor {
  const be = sameBackend("mul", a, b);
  needF32("mul", a, b);
  sameShape("mul", a, b);
  const out = like(a);
  be.mul(a.size, a.buf, b.buf, out.buf);
  return record(out, "mul", [a, b], (g) => [mul(g, b.detach()), mul(g, a.detach())]);
}

/** x + v broadcast over all leading axes (v has x's last dimension). */
export function addRowVector(x: Tensor, v: Tensor): Tensor {
  const be = sameBackend("addRowVector", x, v);
  needF32("addRowVector", x, v);
  const c = last(x);
  if (v.size !== c) {
    throw new TypeError(
      `addRowVector: vector ${fmtShape(v.shape)} for rows of ${c}: ${fmtShape(x.shape)}`,
    );
  }
  const rows = x.size / c;
  const out = like(x);
  be.addRowVector(rows, c, x.buf, v.buf, out.buf);
  return record(out, "addRowVector", [x, v], (g) => {
    const gv = like(v);
    be.sumRows(rows, c, g.buf, gv.buf);
    return [g, gv];
  });
}

function unaryOp(op: UnaryOp, x: Tensor): Tensor {
  needF32(op, x);
  const out = like(x);
  x.backend.unary(op, x.size, x.buf, out.buf);
  return record(out, op, [x], (g) => {
    const gx = like(x);
    x.backend.unaryBackward(op, x.size, x.buf, g.buf, gx.buf);
    return [gx];
  });
}

/** x · σ(x). */
export const silu = (x: Tensor): Tensor => unaryOp("silu", x);
/** log(1 + eˣ), linear above 20 (PyTorch's threshold). */
export const softplus = (x: Tensor): Tensor => unaryOp("softplus", x);
/** eˣ. */
export const exp = (x: Tensor): Tensor => unaryOp("exp", x);
/** 1 / (1 + e⁻ˣ). */
export const sigmoid = (x: Tensor): Tensor => unaryOp("sigmoid", x);

/** SwiGLU on a fused [.., 2·inter] input (gate | up): silu(gate) ⊙ up → [.., inter]. */
export function swiglu(gu: Tensor): Tensor {
  needF32("swiglu", gu);
  const w = last(gu);
  if (w % 2 !== 0) throw new TypeError(`swiglu: last dim must be even: ${fmtShape(gu.shape)}`);
  const inter = w / 2, rows = gu.size / w;
  const out = like(gu, [...gu.shape.slice(0, -1), inter]);
  gu.backend.swiglu(rows, inter, gu.buf, out.buf);
  return record(out, "swiglu", [gu], (g) => {
    const d = like(gu);
    gu.backend.swigluBackward(rows, inter, gu.buf, g.buf, d.buf);
    return [d];
  });
}

// ------------------------------------------------------------------ linear algebra

/**
 * Linear layer without bias, PyTorch weight layout: y = x · Wᵀ with x [..., in], W [out, in],
 * y [..., out].
 */
export function linear(x: Tensor, w: Tensor): Tensor {
  const be = sameBackend("linear", x, w);
  needF32("linear", x, w);
  if (w.rank !== 2 || last(x) !== w.shape[1]) {
    throw new TypeError(
      `linear: input ${fmtShape(x.shape)} does not fit weight ${fmtShape(w.shape)}`,
    );
  }
  const [n, k] = w.shape, m = x.size / k;
  const out = like(x, [...x.shape.slice(0, -1), n]);
  be.gemm(false, true, m, n, k, 1, x.buf, k, w.buf, k, 0, out.buf, n, 1, 0, 0, 0);
  return record(out, "linear", [x, w], (g) => {
    let gx: Tensor | null = null, gw: Tensor | null = null;
    if (x.requiresGrad) {
      gx = like(x); // dx = g · W
      be.gemm(false, false, m, k, n, 1, g.buf, n, w.buf, k, 0, gx.buf, k, 1, 0, 0, 0);
    }
    if (w.requiresGrad) {
      gw = like(w); // dW = gᵀ · x
      be.gemm(true, false, n, k, m, 1, g.buf, n, x.buf, k, 0, gw.buf, k, 1, 0, 0, 0);
    }
    return [gx, gw];
  });
}

/**
 * Batched matrix product op(a) · op(b) on rank-3 tensors [B, ., .]; a batch of 1 broadcasts
 * (that operand is shared by all products, e.g. a weight applied along the sequence axis).
 */
export function bmm(a: Tensor, b: Tensor, transA = false, transB = false): Tensor {
  const be = sameBackend("bmm", a, b);
  needF32("bmm", a, b);
  if (a.rank !== 3 || b.rank !== 3) {
    throw new TypeError(
      `bmm: expected rank-3 operands: ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`,
    );
  }
  const [ba, ar, ac] = a.shape, [bb, br, bc] = b.shape;
  const m = transA ? ac : ar, ka = transA ? ar : ac;
  const kb = transB ? bc : br, n = transB ? br : bc;
  const batch = Math.max(ba, bb);
  if (ka !== kb || (ba !== bb && ba !== 1 && bb !== 1)) {
    throw new TypeError(
      `bmm: incompatible ${fmtShape(a.shape)}${transA ? "ᵀ" : ""} x ${fmtShape(b.shape)}${
        transB ? "ᵀ" : ""
      }`,
    );
  }
  const k = ka;
  const sA = ba === 1 ? 0 : ar * ac, sB = bb === 1 ? 0 : br * bc;
  const out = like(a, [batch, m, n]);
  be.gemm(transA, transB, m, n, k, 1, a.buf, ac, b.buf, bc, 0, out.buf, n, batch, sA, sB, m * n);
  return record(out, "bmm", [a, b], (g) => {
    let ga: Tensor | null = null, gb: Tensor | null = null;
    if (a.requiresGrad) {
      // d op(A) = G · op(B)ᵀ; stored A = transA ? (G·op(B)ᵀ)ᵀ = op(B)·Gᵀ : G·op(B)ᵀ.
      ga = like(a);
      gradOperand(be, g, b.buf, transA, transB, true, m, n, k, ac, bc, batch, sA, sB, ga);
    }
    if (b.requiresGrad) {
      gb = like(b);
      gradOperand(be, g, a.buf, transA, transB, false, m, n, k, bc, ac, batch, sB, sA, gb);
    }
    return [ga, gb];
  });
}

/** Gradient of one bmm operand; sums over the batch when that operand was broadcast. */
function gradOperand(
  be: Backend,
  g: Tensor,
  other: Tensor["buf"],
  transA: boolean,
  transB: boolean,
  forA: boolean,
  m: number,
  n: number,
  k: number,
  cols: number,
  ldOther: number,
  batch: number,
  sSelf: number,
  sOther: number,
  out: Tensor,
): void {
  // For A: dA_op = G[m×n] · op(B)ᵀ[n×k]. For B: dB_op = op(A)ᵀ[k×m] · G[m×n].
  // Each case is one gemm (or a loop accumulating over the batch for a shared operand).
  const shared = sSelf === 0 && batch > 1;
  const steps = shared ? batch : 1;
  for (let i = 0; i < steps; i++) {
    const beta = i === 0 ? 0 : 1;
    const gBuf = shared ? be.view(g.buf, i * m * n, m * n) : g.buf;
    const oBuf = shared ? be.view(other, i * sOther, other.length - i * sOther) : other;
    const nb = shared ? 1 : batch;
    const sO = shared ? 0 : sOther;
    if (forA) {
      const tA = transA, tB = transB;
      if (!tA) {
        // dA[m×k] = G · op(B)ᵀ: op(B)ᵀ stored: tB ? B[n×k] (no trans) : B[k×n] (trans)
        be.gemm(
          false,
          !tB,
          m,
          k,
          n,
          1,
          gBuf,
          n,
          oBuf,
          ldOther,
          beta,
          out.buf,
          cols,
          nb,
          m * n,
          sO,
          sSelf,
        );
      } else {
        // A stored [k×m]: dA = op(B) · Gᵀ, op(B) [k×n]
        be.gemm(
          tB,
          true,
          k,
          m,
          n,
          1,
          oBuf,
          ldOther,
          gBuf,
          n,
          beta,
          out.buf,
          cols,
          nb,
          sO,
          m * n,
          sSelf,
        );
      }
    } else {
      const tA = transA, tB = transB;
      if (!tB) {
        // dB[k×n] = op(A)ᵀ · G: op(A)ᵀ stored: tA ? A[k×m] (no trans) : A[m×k] (trans)
        be.gemm(
          !tA,
          false,
          k,
          n,
          m,
          1,
          oBuf,
          ldOther,
          gBuf,
          n,
          beta,
          out.buf,
          cols,
          nb,
          sO,
          m * n,
          sSelf,
        );
      } else {
        // B stored [n×k]: dB = Gᵀ · op(A), op(A) [m×k]
        be.gemm(
          true,
          tA,
          n,
          k,
          m,
          1,
          gBuf,
          n,
          oBuf,
          ldOther,
          beta,
          out.buf,
          cols,
          nb,
          m * n,
          sO,
          sSelf,
        );
      }
    }
  }
}

// ------------------------------------------------------------------ normalisation, softmax

/** RMSNorm over the last axis: x / √(mean(x²) + eps), times `weight` when given. */
export function rmsnorm(x: Tensor, eps = 1e-5, weight: Tensor | null = null): Tensor {
  const be = weight ? sameBackend("rmsnorm", x, weight) : x.backend;
  needF32("rmsnorm", x);
  const c = last(x), rows = x.size / c;
  if (weight && weight.size !== c) {
    throw new TypeError(`rmsnorm: weight ${fmtShape(weight.shape)} for rows of ${c}`);
  }
  const out = like(x);
  const rstd = empty(be, [rows]);
  be.rmsnorm(rows, c, x.buf, weight?.buf ?? null, eps, out.buf, rstd.buf);
  const inputs = weight ? [x, weight] : [x];
  record(out, "rmsnorm", inputs, (g) => {
    const gx = like(x);
    const gw = weight ? like(weight) : null;
    be.rmsnormBackward(
      rows,
      c,
      x.buf,
      weight?.buf ?? null,
      rstd.buf,
      g.buf,
      gx.buf,
      gw?.buf ?? null,
    );
    rstd.dispose(); // internal to this node, and a graph runs backward once
    return weight ? [gx, gw] : [gx];
  });
  if (!out.node) rstd.dispose(); // not recorded: nothing will read it
  return out;
}

/** Softmax over the last axis. */
export function softmax(x: Tensor): Tensor {
  needF32("softmax", x);
  const c = last(x), rows = x.size / c;
  const out = like(x);
  x.backend.softmax(rows, c, x.buf, out.buf);
  return record(out, "softmax", [x], (g) => {
    const gx = like(x);
    x.backend.softmaxBackward(rows, c, out.buf, g.buf, gx.buf);
    return [gx];
  });
}

// ------------------------------------------------------------------ embedding

/** table[ids] : ids i32 of any shape, table [V, D] → [...ids.shape, D]. */
export function embedding(table: Tensor, ids: Tensor): Tensor {
  const be = sameBackend("embedding", table, ids);
  needF32("embedding", table);
  if (ids.dtype !== "i32") throw new TypeError(`embedding: ids must be i32, got ${ids.dtype}`);
  if (table.rank !== 2) {
    throw new TypeError(`embedding: table must be [V, D]: ${fmtShape(table.shape)}`);
  }
  const d = table.shape[1];
  const out = like(table, [...ids.shape, d]);
  be.embedding(ids.size, d, ids.buf, table.buf, out.buf);
  return record(out, "embedding", [table, ids], (g) => {
    const gt = zeros(be, table.shape); // scatter-add accumulates
    be.embeddingBackward(ids.size, d, ids.buf, g.buf, gt.buf);
    return [gt, null];
  });
}

/** x[..., start:start+len] along the last axis (a copy); the backward scatters into zeros. */
export function sliceLastAxis(x: Tensor, start: number, len: number): Tensor {
  needF32("sliceLastAxis", x);
  const w = last(x), rows = x.size / (w || 1);
  if (!Number.isInteger(start) || !Number.isInteger(len) || start < 0 || len < 0) {
    throw new RangeError(`sliceLastAxis: bad range: start=${start}, len=${len}`);
  }
  if (start + len > w) {
    throw new RangeError(`sliceLastAxis: [${start}, ${start + len}) outside axis of ${w}`);
  }
  const be = x.backend;
  const out = like(x, [...x.shape.slice(0, -1), len]);
  const at = (buf: Tensor["buf"], n: number) => be.view(buf, start, n - start);
  if (rows > 0 && len > 0) be.copy2d(rows, len, at(x.buf, x.size), w, out.buf, len);
  return record(out, "sliceLastAxis", [x], (g) => {
    const gx = zeros(be, x.shape);
    if (rows > 0 && len > 0) be.copy2d(rows, len, g.buf, len, at(gx.buf, gx.size), w);
    return [gx];
  });
}

/**
 * Differentiable attention, losses and reductions (the rest of the derivative rules; see ops.ts).
 */
import { record } from "./autograd.ts";
import type { Buf } from "./backend.ts";
import { fmtShape } from "./errors.ts";
import { empty, type Tensor, zeros } from "./tensor.ts";

/** Rotary tables for `attention`: cos and sin, each [seq, headDim]. */
export interface RopeTables {
  cos: Tensor;
  sin: Tensor;
}

/**
 * RoPE tables, rotate-half layout: inv_freq_j = base^(−2j/headDim), j < headDim/2, angles
 * t·inv_freq repeated twice along the head (columns j and j + headDim/2 share a frequency).
 */
export function ropeTables(
  backend: Tensor["backend"],
  seq: number,
  headDim: number,
  base = 10000,
): RopeTables {
  if (headDim % 2 !== 0) throw new RangeError(`ropeTables: headDim must be even: ${headDim}`);
  const half = headDim / 2;
  const c = new Float32Array(seq * headDim), s = new Float32Array(seq * headDim);
  for (let t = 0; t < seq; t++) {
    for (let j = 0; j < half; j++) {
      // Like the reference, frequencies and angles are formed in float32.
      const inv = Math.fround(1 / Math.pow(base, (2 * j) / headDim));
      const ang = Math.fround(t * inv);
      const cv = Math.cos(ang), sv = Math.sin(ang);
      c[t * headDim + j] = c[t * headDim + j + half] = cv;
      s[t * headDim + j] = s[t * headDim + j + half] = sv;
    }
  }
  const cos = zeros(backend, [seq, headDim]), sin = zeros(backend, [seq, headDim]);
  backend.upload(cos.buf, c);
  backend.upload(sin.buf, s);
  return { cos, sin };
}

/**
 * Non-causal multi-head self-attention on a fused projection qkv [B, L, 3·H·D] (q | k | v, each
 * H heads of D), optional RoPE on q and k, scale 1/√D (default). Returns [B, L, H·D].
 */
export function attention(
  qkv: Tensor,
  heads: number,
  opts: { rope?: RopeTables | null; scale?: number } = {},
): Tensor {
  const be = qkv.backend;
  if (qkv.dtype !== "f32" || qkv.rank !== 3 || qkv.shape[2] % (3 * heads) !== 0) {
    throw new TypeError(`attention: expected f32 [B, L, 3·H·D] with H=${heads}: ${qkv}`);
  }
  const [b, l, w] = qkv.shape;
  const hd = w / (3 * heads), od = heads * hd;
  const scale = opts.scale ?? 1 / Math.sqrt(hd);
  const rope = opts.rope ?? null;
  if (rope && (rope.cos.shape[0] < l || rope.cos.shape[1] !== hd)) {
    throw new TypeError(`attention: rope tables ${fmtShape(rope.cos.shape)} for L=${l}, D=${hd}`);
  }
  // With RoPE, rotate q and k (2H heads of D, adjacent in each token) into a copy of qkv. The copy
  // is released after the forward and made again for the backward (a copy and a rotation, cheap
  // beside attention), so the graph keeps qkv alone.
  const rotated = () => {
    const s = empty(be, qkv.shape);
    be.copy(qkv.size, qkv.buf, s.buf);
    be.rope(b, l, 2 * heads, hd, s.buf, w, rope!.cos.buf, rope!.sin.buf, false, s.buf, w);
    return s;
  };
  const views = (s: Tensor) =>
    [0, od, 2 * od].map((o) => be.view(s.buf, o, s.size - o)) as [Buf, Buf, Buf];
  const src = rope ? rotated() : qkv;
  const out = empty(be, [b, l, od]);
  const lse = empty(be, [b, heads, l]);
  be.attention(b, l, heads, hd, scale, ...views(src), w, out.buf, lse.buf);
  if (src !== qkv) src.dispose();
  record(out, "attention", [qkv], (g) => {
    const src = rope ? rotated() : qkv;
    const d = empty(be, qkv.shape);
    const [dq, dk, dv] = views(d);
    be.attentionBackward(
      b,
      l,
      heads,
      hd,
      scale,
      ...views(src),
      w,
      out.buf,
      lse.buf,
      g.buf,
      dq,
      dk,
      dv,
    );
    if (rope) be.rope(b, l, 2 * heads, hd, d.buf, w, rope.cos.buf, rope.sin.buf, true, d.buf, w);
    if (src !== qkv) src.dispose();
    lse.dispose(); // internal to this node, and a graph runs backward once
    return [d];
  });
  if (!out.node) lse.dispose(); // not recorded: nothing will read it
  return out;
}

/**
 * TRM's stable-max cross-entropy: logits [B, T, V], labels i32 [B, T] (entries equal to
 * `ignoreLabel` excluded). Returns the per-sequence mean loss [B] (float64-accumulated).
 */
export function stablemaxXent(logits: Tensor, labels: Tensor, ignoreLabel = -100): Tensor {
  const be = logits.backend;
  if (logits.dtype !== "f32" || logits.rank !== 3) {
    throw new TypeError(`stablemaxXent: logits must be f32 [B, T, V]: ${logits}`);
  }
  const [b, t, v] = logits.shape;
  if (labels.dtype !== "i32" || labels.size !== b * t) {
    throw new TypeError(
      `stablemaxXent: labels must be i32 [${b}, ${t}]: got ${labels.dtype} ${
        fmtShape(labels.shape)
      }`,
    );
  }
  const loss = empty(be, [b]);
  be.stablemaxXent(b, t, v, logits.buf, labels.buf, ignoreLabel, loss.buf);
  return record(loss, "stablemaxXent", [logits, labels], (g) => {
    const d = empty(be, logits.shape);
    be.stablemaxXentBackward(b, t, v, logits.buf, labels.buf, ignoreLabel, g.buf, d.buf);
    return [d, null];
  });
}

/** Elementwise BCE with logits against a constant f32 target of the same shape. */
export function bceWithLogits(x: Tensor, target: Tensor): Tensor {
  if (x.dtype !== "f32" || target.dtype !== "f32" || x.size !== target.size) {
    throw new TypeError(`bceWithLogits: need f32 tensors of one size: ${x} and ${target}`);
  }
  const be = x.backend;
  const out = empty(be, x.shape);
  be.bceWithLogits(x.size, x.buf, target.buf, out.buf);
  return record(out, "bceWithLogits", [x], (g) => {
    const d = empty(be, x.shape);
    be.bceWithLogitsBackward(x.size, x.buf, target.buf, g.buf, d.buf);
    return [d];
  });
}

/** Σ x → [1] (float64 accumulation). */
export function sum(x: Tensor): Tensor {
  if (x.dtype !== "f32") throw new TypeError(`sum: expected f32: ${x}`);
  const be = x.backend;
  const out = zeros(be, [1]);
  be.sum(x.size, x.buf, out.buf);
  return record(out, "sum", [x], (g) => {
    // Broadcast the scalar gradient on the device: d = 0·x + g, via addRowVector with 1 column.
    const d = zeros(be, x.shape);
    be.addRowVector(x.size, 1, d.buf, g.buf, d.buf);
    return [d];
  });
}

/** mean(x) → [1]. */
export function mean(x: Tensor): Tensor {
  const s = sum(x);
  const out = zeros(x.backend, [1]);
  x.backend.axpby(1, 1 / x.size, s.buf, 0, s.buf, out.buf);
  return record(out, "mean", [s], (g) => {
    const d = zeros(x.backend, [1]);
    x.backend.axpby(1, 1 / x.size, g.buf, 0, g.buf, d.buf);
    return [d];
  });
}

/** Index of the first maximum along the last axis (i32, not differentiable). */
export function argmax(x: Tensor): Tensor {
  if (x.dtype !== "f32" || x.rank < 1) throw new TypeError(`argmax: expected f32: ${x}`);
  const c = x.shape[x.rank - 1], rows = x.size / c;
  const out = zeros(x.backend, x.shape.slice(0, -1), { dtype: "i32" });
  x.backend.argmax(rows, c, x.buf, out.buf);
  return out;
}

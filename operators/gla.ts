/**
 * Gated linear attention (GLA-style token mixer), our second token mixer beside attention. Per
 * head h (H heads, key dim dk, value dim dv) and positions t, s of the flattened sequence:
 *
 *   q, k, v, g, a = in_proj(x)                       (one fused projection D → H·(2dk + 2dv + 1))
 *   λ_t = softplus(−(a_t + decay_bias)) ≥ 0          (per head; α_t = e^{−λ_t} = σ(a_t + bias))
 *   Λ_t = Σ_{r ≤ t} λ_r                              (cumulative log-decay)
 *   D[t, s] = exp(−|Λ_t − Λ_s|)                      (= Π α_r over r ∈ (min(s,t), max(s,t)])
 *   o_t = Σ_s D[t, s] · (q̂_t · k̂_s) / √dk · v_s       (q̂, k̂: rotate-half RoPE of q, k, optional)
 *   y = out_proj(RMSNorm_per_head(o ⊙ silu(g)) ⊙ norm.weight)
 *
 * Non-causal by default, like TRM's attention: s runs over the whole sequence, the decay seen
 * from t both ways. `causal: true` keeps s ≤ t only — exactly the recurrence
 * S_t = α_t S_{t−1} + k̂_t v_tᵀ, o_t = S_tᵀ q̂_t / √dk of GLA with a scalar gate — and the
 * non-causal form is that recurrence plus the same one run right to left, the shared diagonal
 * counted once. It is computed in parallel form, O(L²) per head, with GEMMs (`bmm`) and a decay
 * mask built from the cumulative log-gates; nothing here is a new kernel.
 *
 * Differences from GLA (Yang et al. 2024) and why: the decay is one scalar per head and position
 * (GLA's is per key channel), because the per-channel parallel form needs an [L, L, dk] decay tensor
 * or GLA's chunked scan, neither of which the engine's ops give at acceptable memory; the output
 * gate and norm are Mamba-2's fused gated RMSNorm (normalise y ⊙ silu(g), groups = heads);
 * positions come from RoPE on q and k (as TRM's attention: rotate-half, base 10000, over the
 * flattened sequence, prefix first) — without it a non-causal mixer would see a set, not a grid.
 * Precision: Λ is a running sum in the compute precision (f32 on the native backends), so a decay
 * between distant positions of a long sequence (L' = 916 at paper size) carries an absolute
 * error of ~1e-7·Λ_L in its exponent.
 *
 * Parameters (PyTorch-style names): `in_proj.weight` [H·(2dk + 2dv + 1), D] (q | k | v | g | a),
 * `decay_bias` [H], `norm.weight` [H·dv], `out_proj.weight` [D, H·dv]:
 * D·H·(2dk + 3dv + 1) + H·(dv + 1) in all. Init: projections truncated LeCun normal (as TRM's
 * attention and SwiGLU), norm weight 1, decay_bias such that the initial decay rates λ of the
 * heads are log-spaced from 1/2 to 1/256 per position (ranges of ~2 to ~256 positions), as
 * RetNet-style multi-scale decays.
 *
 * @example
 * ```ts
 * import { getBackend } from "../engine/backends/mod.ts";
 * import { Rng } from "../engine/rng.ts";
 * import { createGla, glaParamCount } from "./gla.ts";
 * glaParamCount({ hidden: 512, heads: 8, keyDim: 32 }); // 1,053,192
 * const op = createGla(getBackend("ref"), new Rng(0), { hidden: 16, heads: 2 });
 * ```
 */
import type { Backend } from "../engine/backend.ts";
import {
  add,
  addRowVector,
  bmm,
  exp,
  linear,
  mul,
  reshape,
  scale,
  sliceLastAxis,
  softplus,
  sub,
  transpose,
} from "../engine/ops.ts";
import { ropeTables } from "../engine/ops_nn.ts";
import { gatedRmsnorm, mulRowVector } from "../engine/ops_ssm.ts";
import { fmtShape } from "../engine/errors.ts";
import type { Rng } from "../engine/rng.ts";
import { untracked } from "../engine/scope.ts";
import { type Tensor, tensor } from "../engine/tensor.ts";
import { noGrad } from "../engine/autograd.ts";
import type { Operator } from "./operator.ts";
import { postNorm, preNorm } from "./rmsnorm.ts";
import { lecunWeight } from "./swiglu.ts";

export interface GlaConfig {
  /** Model width D. */
  hidden: number;
  /** Heads H. */
  heads: number;
  /** Key (and query) dim per head dk (default `glaDefaultKeyDim`: dv/2, even; GLA's 0.5). */
  keyDim?: number;
  /** Value dim per head dv (default D/H: the heads' values span the width, as attention). */
  valueDim?: number;
  /** Rotary position embedding on q and k (default true; needs an even key dim). */
  rope?: boolean;
  /** RoPE base (default 10000). */
  ropeBase?: number;
  /** Causal mixing, s ≤ t only (default false: both directions, like TRM's attention). */
  causal?: boolean;
}

/** A config with every default filled in, and the fused projection's width. */
export interface GlaSizes extends Required<GlaConfig> {
  /** Output width of in_proj: H·(2dk + 2dv + 1). */
  projDim: number;
}

const KEYS = new Set([
  "kind",
  "hidden",
  "heads",
  "keyDim",
  "valueDim",
  "rope",
  "ropeBase",
  "causal",
]);

/** Default key dim for value dim dv: dv/2 (GLA's expand_k 0.5) rounded to an even number ≥ 2. */
export function glaDefaultKeyDim(valueDim: number): number {
  return 2 * Math.max(1, Math.round(valueDim / 4));
}

/** Fills in the defaults and validates (unknown keys, non-positive sizes, odd dk with RoPE). */
export function glaSizes(cfg: GlaConfig): GlaSizes {
  for (const k of Object.keys(cfg)) {
    if (!KEYS.has(k)) throw new TypeError(`gla: unknown config key: ${k}`);
  }
  const posInt = (k: string, v: unknown) => {
    if (!(Number.isInteger(v) && (v as number) >= 1)) {
      throw new RangeError(`gla: ${k} must be a positive integer: ${v}`);
    }
  };
  posInt("hidden", cfg.hidden);
  posInt("heads", cfg.heads);
  if (cfg.valueDim === undefined && cfg.hidden % cfg.heads !== 0) {
    throw new RangeError(
      `gla: hidden ${cfg.hidden} is not a multiple of heads ${cfg.heads} (or set valueDim)`,
    );
  }
  const valueDim = cfg.valueDim ?? cfg.hidden / cfg.heads;
  const s = {
    hidden: cfg.hidden,
    heads: cfg.heads,
    keyDim: cfg.keyDim ?? glaDefaultKeyDim(valueDim),
    valueDim,
    rope: cfg.rope ?? true,
    ropeBase: cfg.ropeBase ?? 10000,
    causal: cfg.causal ?? false,
  };
  posInt("keyDim", s.keyDim);
  posInt("valueDim", s.valueDim);
  if (typeof s.rope !== "boolean" || typeof s.causal !== "boolean") {
    throw new TypeError(`gla: rope and causal must be booleans: ${s.rope}, ${s.causal}`);
  }
  if (!(s.ropeBase > 0 && Number.isFinite(s.ropeBase))) {
    throw new RangeError(`gla: ropeBase must be positive: ${s.ropeBase}`);
  }
  if (s.rope && s.keyDim % 2 !== 0) {
    throw new RangeError(`gla: RoPE needs an even key dim: ${s.keyDim}`);
  }
  return { ...s, projDim: s.heads * (2 * s.keyDim + 2 * s.valueDim + 1) };
}

/** Exact parameter count: D·H·(2dk + 3dv + 1) + H·(dv + 1) (1,053,192 at D 512, H 8, dk 32). */
export function glaParamCount(cfg: GlaConfig): number {
  const s = glaSizes(cfg);
  return s.hidden * s.heads * (2 * s.keyDim + 3 * s.valueDim + 1) + s.heads * (s.valueDim + 1);
}

/**
 * Forward FLOPs on [b, l, D] (matmul-like work, 2 per multiply-add): the projections, the RoPE
 * rotations of q and k, the cumulative sum and the decay mask's two outer products, QKᵀ and
 * (decay ⊙ QKᵀ)·V.
 */
export function glaForwardFlops(cfg: GlaConfig, b: number, l: number): number {
  const s = glaSizes(cfg), t = b * l, h = s.heads, dk = s.keyDim, dv = s.valueDim;
  const proj = 2 * t * s.hidden * (s.projDim + h * dv);
  const rope = s.rope ? 4 * t * h * dk * dk : 0;
  return proj + rope + 2 * b * h * l * l * (dk + dv + 3);
}

/** Initial per-head decay rates λ_h, log-spaced from 1/2 to 1/256 (head midpoints). */
export function glaInitialDecays(heads: number): number[] {
  const lo = Math.log(1 / 2), hi = Math.log(1 / 256);
  return Array.from({ length: heads }, (_, h) => Math.exp(lo + (hi - lo) * (h + 0.5) / heads));
}

/** Epsilon of the gated RMSNorm. */
const NORM_EPS = 1e-5;
/** Added to the masked-out (future) exponents of the causal decay: exp underflows to 0. */
const MASKED = -1e30;

/** Constants of one sequence length (built once, outside any disposal scope). */
interface SeqConsts {
  /** Lower-triangular ones [1, L, L] (incl. the diagonal): Λ = tri · λ. */
  tri: Tensor;
  onesRow: Tensor;
  onesCol: Tensor;
  /** Per flattened (t, s) entry of the decay exponent: ±1 (non-causal) or 0 / MASKED (causal). */
  mask: Tensor;
  /** RoPE tables flattened to [L·dk]; q's carry the 1/√dk scale. */
  cosQ: Tensor | null;
  sinQ: Tensor | null;
  cosK: Tensor | null;
  sinK: Tensor | null;
}

/** Creates a GLA operator with freshly initialised parameters. */
export function createGla(be: Backend, rng: Rng, cfg: GlaConfig): Operator {
  const s = glaSizes(cfg);
  const { hidden: d, heads: h, keyDim: dk, valueDim: dv, causal } = s;
  const params = {
    "in_proj.weight": lecunWeight(be, rng.fork("in_proj.weight"), s.projDim, d),
    // softplus(−bias) = λ: bias = −softplus⁻¹(λ) = −ln(expm1(λ))
    "decay_bias": tensor(be, glaInitialDecays(h).map((l) => -Math.log(Math.expm1(l))), [h], {
      requiresGrad: true,
    }),
    "norm.weight": tensor(be, new Float32Array(h * dv).fill(1), [h * dv], { requiresGrad: true }),
    "out_proj.weight": lecunWeight(be, rng.fork("out_proj.weight"), d, h * dv),
  };
  const qScale = 1 / Math.sqrt(dk);

  /** rotate_half as a linear map x·Rᵀ: (x₁, x₂) → (−x₂, x₁) over the halves of dk. */
  let rot: Tensor | null = null;
  const cache = new Map<number, SeqConsts>();
  const consts = (l: number): SeqConsts => {
    const hit = cache.get(l);
    if (hit) return hit;
    // A cache: it must outlive any disposal scope the first call happens in.
    const c = untracked(() =>
      noGrad(() => {
        const tri = new Float32Array(l * l), mask = new Float32Array(l * l);
        for (let t = 0; t < l; t++) {
          for (let u = 0; u < l; u++) {
            tri[t * l + u] = u <= t ? 1 : 0;
            mask[t * l + u] = causal ? (u <= t ? 0 : MASKED) : (u <= t ? 1 : -1);
          }
        }
        const ones = new Float32Array(l).fill(1);
        let cosQ = null, sinQ = null, cosK = null, sinK = null;
        if (s.rope) {
          const tab = ropeTables(be, l, dk, s.ropeBase);
          cosK = reshape(tab.cos, [l * dk]);
          sinK = reshape(tab.sin, [l * dk]);
          cosQ = scale(cosK, qScale);
          sinQ = scale(sinK, qScale);
          if (!rot) {
            const half = dk / 2, r = new Float32Array(dk * dk);
            for (let j = 0; j < half; j++) {
              r[j * dk + j + half] = -1;
              r[(j + half) * dk + j] = 1;
            }
            rot = tensor(be, r, [dk, dk]);
          }
        }
        return {
          tri: tensor(be, tri, [1, l, l]),
          onesRow: tensor(be, ones, [1, 1, l]),
          onesCol: tensor(be, ones, [1, l, 1]),
          mask: tensor(be, mask, [l * l]),
          cosQ,
          sinQ,
          cosK,
          sinK,
        };
      })
    );
    cache.set(l, c);
    return c;
  };

  /** [B, L, H·n] → [B·H, L, n] (two transposes around a free reshape). */
  const splitHeads = (x: Tensor, n: number): Tensor => {
    const [b, l] = x.shape;
    const t = transpose(x); // [B, H·n, L]
    const out = transpose(reshape(t, [b * h, n, l]));
    t.dispose(); // read by no rule (transposes and reshapes keep nothing)
    return out;
  };
  /** [B·H, L, n] → [B, L, H·n]. */
  const mergeHeads = (x: Tensor, b: number): Tensor => {
    const [, l, n] = x.shape;
    const t = transpose(x); // [B·H, n, L]
    const out = transpose(reshape(t, [b, h * n, l]));
    t.dispose();
    return out;
  };
  /** RoPE x ⊙ cos + rotate_half(x) ⊙ sin on [B·H, L, dk], tables flattened to [L·dk]. */
  const applyRope = (x: Tensor, cos: Tensor, sin: Tensor): Tensor => {
    const [bh, l] = x.shape;
    const a = mulRowVector(reshape(x, [bh, l * dk]), cos);
    const r = linear(x, rot!);
    const b = mulRowVector(reshape(r, [bh, l * dk]), sin);
    const sum = add(a, b);
    a.dispose();
    b.dispose();
    return reshape(sum, [bh, l, dk]);
  };

  /** The decay mask D [B·H, L, L] from the decay logits a [B, L, H]. */
  const decayMask = (aRaw: Tensor, c: SeqConsts): Tensor => {
    const [b, l] = aRaw.shape, bh = b * h;
    const a = addRowVector(aRaw, params["decay_bias"]);
    const negA = scale(a, -1);
    a.dispose();
    const lam = softplus(negA); // λ ≥ 0 [B, L, H]
    const cum = bmm(c.tri, lam); // Λ [B, L, H]
    const cumT = transpose(cum); // [B, H, L]
    cum.dispose();
    const lt = bmm(reshape(cumT, [bh, l, 1]), c.onesRow); // [t, s] = Λ_t
    const ls = bmm(c.onesCol, reshape(cumT, [bh, 1, l])); // [t, s] = Λ_s
    const delta = sub(ls, lt); // Λ_s − Λ_t: ≤ 0 for s ≤ t, ≥ 0 above the diagonal
    lt.dispose();
    ls.dispose();
    const flat = reshape(delta, [bh, l * l]);
    // −|Λ_t − Λ_s| (non-causal: the sign flipped above the diagonal), or the causal exponent with
    // the future masked so that exp gives exactly 0 there
    const e = causal ? addRowVector(flat, c.mask) : mulRowVector(flat, c.mask);
    if (causal) delta.dispose(); // addRowVector keeps nothing; mulRowVector keeps its input
    return exp(reshape(e, [bh, l, l]));
  };

  const forward = (x: Tensor): Tensor => {
    if (x.rank !== 3 || x.shape[2] !== d) {
      throw new TypeError(`gla: expected input [B, L, ${d}], got ${fmtShape(x.shape)}`);
    }
    const [b, l] = x.shape;
    const c = consts(l);
    const proj = linear(x, params["in_proj.weight"]);
    const slice = (from: number, n: number) => sliceLastAxis(proj, from, n);
    const qAll = slice(0, h * dk), kAll = slice(h * dk, h * dk);
    const vAll = slice(2 * h * dk, h * dv), g = slice(2 * h * dk + h * dv, h * dv);
    const aRaw = slice(2 * h * (dk + dv), h);
    proj.dispose(); // slices keep nothing, linear keeps its input
    const heads = (t: Tensor, n: number) => {
      const out = splitHeads(t, n);
      t.dispose();
      return out;
    };
    let q = heads(qAll, dk), k = heads(kAll, dk);
    const v = heads(vAll, dv);
    if (s.rope) {
      const qr = applyRope(q, c.cosQ!, c.sinQ!), kr = applyRope(k, c.cosK!, c.sinK!);
      q = qr;
      k = kr;
    } else {
      const qs = scale(q, qScale);
      q.dispose();
      q = qs;
    }
    const decay = decayMask(aRaw, c);
    aRaw.dispose();
    const scores = bmm(q, k, false, true); // [B·H, L, L], scaled through q
    const att = mul(scores, decay);
    const o = bmm(att, v); // [B·H, L, dv]
    const merged = mergeHeads(o, b);
    o.dispose();
    const normed = gatedRmsnorm(merged, g, params["norm.weight"], h, NORM_EPS);
    return linear(normed, params["out_proj.weight"]);
  };

  return {
    kind: "gla",
    params,
    forward,
    block: (x) => postNorm(x, forward, { release: true }),
    preBlock: (x) => preNorm(x, forward),
  };
}

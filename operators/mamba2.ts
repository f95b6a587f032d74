/**
 * The Mamba-2 mixer (`Mamba2` of state-spaces/mamba, `mamba_ssm/modules/mamba2.py`): in_proj →
 * split (z | xBC | dt) → causal depthwise conv + SiLU over xBC → split (x | B | C) →
 * Δ = softplus(dt + dt_bias) → A = −exp(A_log) → SSD scan with the D skip → gated RMSNorm
 * (norm_before_gate = false, groups of Din/G, eps 1e-5, weight) → out_proj. Parameters carry
 * PyTorch's `Mamba2` state-dict names and shapes, and are initialised as its constructor does
 * (see `initParams`). No biases on the projections (the module default).
 *
 * The scan runs causally over the flattened sequence, prefix first. `bidirectional: "shared"`
 * adds a second pass of the same mixer (same weights) over the time-reversed sequence, flipped
 * back and summed with the causal pass; the parameter count is unchanged.
 *
 * @example
 * ```ts
 * import { getBackend } from "../engine/backends/mod.ts";
 * import { Rng } from "../engine/rng.ts";
 * import { createMamba2, mamba2ParamCount } from "./mamba2.ts";
 * mamba2ParamCount({ dModel: 512 }); // 1719600
 * const op = createMamba2(getBackend("ref"), new Rng(0), { dModel: 16, dState: 8, headdim: 8 });
 * ```
 */
import type { Backend } from "../engine/backend.ts";
import {
  add,
  addRowVector,
  exp,
  linear,
  reshape,
  scale,
  sliceLastAxis,
  softplus,
} from "../engine/ops.ts";
import { conv1dCausalSilu, flipAxis1, gatedRmsnorm, ssdScan } from "../engine/ops_ssm.ts";
import { fmtShape } from "../engine/errors.ts";
import type { Rng } from "../engine/rng.ts";
import { type Tensor, tensor } from "../engine/tensor.ts";
import type { Operator } from "./operator.ts";
import { postNorm, preNorm } from "./rmsnorm.ts";

export interface Mamba2Config {
  /** Model width Dm. */
  dModel: number;
  /** State size N per head (default 128). */
  dState?: number;
  /** Conv kernel width K (default 4). */
  dConv?: number;
  /** Expansion E: Din = E·Dm (default 2). */
  expand?: number;
  /** Head dimension P: H = Din/P heads (default 64). */
  headdim?: number;
  /** Groups G of B/C (and of the gated norm); H must be a multiple (default 1). */
  ngroups?: number;
  /** Chunk length Q of the chunked scan (default 256); results do not depend on it. */
  chunkSize?: number;
  /**
   * false (default): causal. "shared": also the same mixer over the time-flipped sequence,
   * flipped back and added. `true` is accepted as a synonym of "shared" (the only variant).
   */
  bidirectional?: boolean | "shared";
}

/** A config with every default filled in, and the derived sizes. */
export interface Mamba2Sizes extends Required<Mamba2Config> {
  dInner: number;
  nheads: number;
  convDim: number;
  dInProj: number;
}

const KEYS = new Set([
  "kind",
  "dModel",
  "dState",
  "dConv",
  "expand",
  "headdim",
  "ngroups",
  "chunkSize",
  "bidirectional",
]);

/**
 * Fills in the defaults, validates, and derives Din = E·Dm, H = Din/P, conv_dim = Din + 2·G·N and
 * d_in_proj = 2·Din + 2·G·N + H.
 */
export function mamba2Sizes(cfg: Mamba2Config): Mamba2Sizes {
  for (const k of Object.keys(cfg)) {
    if (!KEYS.has(k)) throw new TypeError(`mamba2: unknown config key: ${k}`);
  }
  const c = {
    dModel: cfg.dModel,
    dState: cfg.dState ?? 128,
    dConv: cfg.dConv ?? 4,
    expand: cfg.expand ?? 2,
    headdim: cfg.headdim ?? 64,
    ngroups: cfg.ngroups ?? 1,
    chunkSize: cfg.chunkSize ?? 256,
    bidirectional: cfg.bidirectional ?? false,
  };
  for (const [k, v] of Object.entries(c)) {
    if (k !== "bidirectional" && !(Number.isInteger(v) && (v as number) >= 1)) {
      throw new RangeError(`mamba2: ${k} must be a positive integer: ${v}`);
    }
  }
  if (![false, true, "shared"].includes(c.bidirectional)) {
    throw new RangeError(`mamba2: bidirectional must be false or "shared": ${c.bidirectional}`);
  }
  const dInner = c.expand * c.dModel;
  if (dInner % c.headdim !== 0) {
    throw new RangeError(`mamba2: d_inner ${dInner} is not a multiple of headdim ${c.headdim}`);
  }
  const nheads = dInner / c.headdim;
  if (nheads % c.ngroups !== 0) {
    throw new RangeError(`mamba2: nheads ${nheads} is not a multiple of ngroups ${c.ngroups}`);
  }
  const gn = c.ngroups * c.dState;
  return {
    ...c,
    dInner,
    nheads,
    convDim: dInner + 2 * gn,
    dInProj: 2 * dInner + 2 * gn + nheads,
  };
}

/**
 * Exact parameter count (module defaults: no projection biases, conv bias, D per head, norm
 * weight): Dm·(3·Din + 2·G·N + H) + (Din + 2·G·N)·(K + 1) + 3·H + Din; 1,719,600 at Dm 512,
 * E 2, P 64, N 128, G 1, K 4.
 */
export function mamba2ParamCount(cfg: Mamba2Config): number {
  const s = mamba2Sizes(cfg);
  const gn = s.ngroups * s.dState;
  return s.dModel * (3 * s.dInner + 2 * gn + s.nheads) + (s.dInner + 2 * gn) * (s.dConv + 1) +
    3 * s.nheads + s.dInner;
}

/** Δ range of the dt_bias init and its floor (upstream `dt_min`, `dt_max`, `dt_init_floor`). */
const DT_MIN = 0.001, DT_MAX = 0.1, DT_FLOOR = 1e-4;
/** Range of −A at init. */
const A_MIN = 1, A_MAX = 16;
/** Epsilon of the gated RMSNorm. */
const NORM_EPS = 1e-5;

/** Initial parameters as PyTorch's Mamba2 constructor draws them, from `rng`. */
function initParams(be: Backend, rng: Rng, s: Mamba2Sizes): Record<string, Tensor> {
  const param = (name: string, shape: number[], fill: (r: Rng, n: number) => ArrayLike<number>) => {
    const n = shape.reduce((a, b) => a * b, 1);
    return tensor(be, fill(rng.fork(name), n), shape, { requiresGrad: true });
  };
  /** Kaiming-uniform default of nn.Linear / nn.Conv1d: U(−1/√fanIn, 1/√fanIn). */
  const uniform = (bound: number) => (r: Rng, n: number) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = (2 * r.uniform() - 1) * bound;
    return a;
  };
  const constant = (v: number) => (_: Rng, n: number) => new Float32Array(n).fill(v);
  const { dModel: dm, dInner: din, nheads: h, convDim, dInProj, dConv: k } = s;
  return {
    "in_proj.weight": param("in_proj.weight", [dInProj, dm], uniform(1 / Math.sqrt(dm))),
    "conv1d.weight": param("conv1d.weight", [convDim, 1, k], uniform(1 / Math.sqrt(k))),
    "conv1d.bias": param("conv1d.bias", [convDim], uniform(1 / Math.sqrt(k))),
    // Δ0 log-uniform in [dt_min, dt_max], floored; dt_bias = softplus⁻¹(Δ0) = Δ0 + ln(−expm1(−Δ0))
    "dt_bias": param("dt_bias", [h], (r, n) =>
      Float32Array.from({ length: n }, () => {
        const lo = Math.log(DT_MIN), hi = Math.log(DT_MAX);
        const d0 = Math.max(Math.exp(r.uniform() * (hi - lo) + lo), DT_FLOOR);
        return d0 + Math.log(-Math.expm1(-d0));
      })),
    // −A uniform in [1, 16), drawn in f32 as upstream
    "A_log": param("A_log", [h], (r, n) =>
      Float32Array.from(
        { length: n },
        () => Math.log(Math.fround(A_MIN + (A_MAX - A_MIN) * r.uniform())),
      )),
    "D": param("D", [h], constant(1)),
    "norm.weight": param("norm.weight", [din], constant(1)),
    "out_proj.weight": param("out_proj.weight", [dm, din], uniform(1 / Math.sqrt(din))),
  };
}

/** Creates a Mamba-2 operator with freshly initialised parameters. */
export function createMamba2(be: Backend, rng: Rng, cfg: Mamba2Config): Operator {
  const s = mamba2Sizes(cfg);
  const params = initParams(be, rng, s);
  const { dInner: din, nheads: h, headdim: p, ngroups: g, dState: n, convDim } = s;
  const gn = g * n;

  /** The causal mixer over u [B, L, Dm]. */
  const mixer = (u: Tensor): Tensor => {
    const [b, l] = u.shape;
    // Intermediates no backward rule reads are released as soon as they are sliced or summed
    // (linear, conv1dCausalSilu and the slices keep their inputs, never their outputs), so the
    // graph holds only what its rules need — not the in_proj output or the conv's.
    const zxbcdt = linear(u, params["in_proj.weight"]);
    const z = sliceLastAxis(zxbcdt, 0, din);
    const xbcRaw = sliceLastAxis(zxbcdt, din, convDim);
    const dtRaw = sliceLastAxis(zxbcdt, din + convDim, h);
    zxbcdt.dispose();
    const xbc = conv1dCausalSilu(xbcRaw, params["conv1d.weight"], params["conv1d.bias"]);
    const x = reshape(sliceLastAxis(xbc, 0, din), [b, l, h, p]);
    const bm = reshape(sliceLastAxis(xbc, din, gn), [b, l, g, n]);
    const cm = reshape(sliceLastAxis(xbc, din + gn, gn), [b, l, g, n]);
    xbc.dispose();
    const dtBiased = addRowVector(dtRaw, params["dt_bias"]);
    dtRaw.dispose();
    const dt = softplus(dtBiased);
    const a = scale(exp(params["A_log"]), -1);
    const y = ssdScan(x, dt, a, bm, cm, params["D"], { chunk: s.chunkSize });
    // gated RMSNorm, norm_before_gate = false (the Mamba-2 default): v = y ⊙ silu(z) normalised
    // over groups of Din/G channels, times the weight (one fused op: neither silu(z) nor v is kept
    // for backward)
    const o = gatedRmsnorm(reshape(y, [b, l, din]), z, params["norm.weight"], g, NORM_EPS);
    return linear(o, params["out_proj.weight"]);
  };

  const forward = (u: Tensor): Tensor => {
    if (u.rank !== 3 || u.shape[2] !== s.dModel) {
      throw new TypeError(`mamba2: input must be [B, L, ${s.dModel}]: got ${fmtShape(u.shape)}`);
    }
    const causal = mixer(u);
    if (!s.bidirectional) return causal;
    const rev = mixer(flipAxis1(u)), back = flipAxis1(rev);
    rev.dispose(); // read by no rule (as below: out_proj, flips and add keep no outputs)
    const both = add(causal, back);
    causal.dispose();
    back.dispose();
    return both;
  };

  return {
    kind: "mamba2",
    params,
    forward,
    block: (x: Tensor) => postNorm(x, forward, { release: true }),
    preBlock: (x: Tensor) => preNorm(x, forward),
  };
}

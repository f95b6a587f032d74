/**
 * Model configuration: the four models of the paper are four operator stacks on one scaffold (TRM:
 * two blocks of attention or MLP-t + SwiGLU; hybrid, Wang & Reid 2026: one block of Mamba-2,
 * Mamba-2, attention or MLP-t, SwiGLU; all post-norm). Everything a model needs is in
 * `ModelConfig`; `operatorStack` turns it into the typed list of operator specs the scaffold
 * instantiates. Beyond the paper, `tr-gla` swaps TRM's attention for gated linear attention
 * (operators/gla.ts) at parameter parity (operators/README.md: adding an operator at parity).
 */
import type { OperatorSpec } from "../operators/mod.ts";

/** Every model: the paper's four, then the models added at parameter parity (operators/README.md). */
export const ALL_MODEL_NAMES = [
  "trm-attn",
  "trm-mlp-t",
  "tr-mamba2attn",
  "tr-mamba2mlpt",
  "tr-gla",
] as const;
export type ModelName = typeof ALL_MODEL_NAMES[number];

/**
 * The paper's four models: the ones with published counts (`deno task parity`'s table), PyTorch
 * golden steps (fixtures/trm/), and the reproduce pipeline and the study run. Training
 * (`deno task train`) takes any of `ALL_MODEL_NAMES`.
 */
export const MODEL_NAMES: readonly ModelName[] = [
  "trm-attn",
  "trm-mlp-t",
  "tr-mamba2attn",
  "tr-mamba2mlpt",
];

/** What a model is made of: its token mixer (stack letter X) and its own stack. */
interface ModelShape {
  /** The operator the letter X stands for. */
  mixer: "attention" | "mlp_t" | "gla";
  /** The model's own stack in `ModelConfig.stack` letters. */
  stack: string;
}

const MODELS: Readonly<Record<ModelName, ModelShape>> = {
  "trm-attn": { mixer: "attention", stack: "XS/XS" },
  "trm-mlp-t": { mixer: "mlp_t", stack: "XS/XS" },
  "tr-mamba2attn": { mixer: "attention", stack: "MMXS" },
  "tr-mamba2mlpt": { mixer: "mlp_t", stack: "MMXS" },
  // TRM-attn with attention swapped for GLA: two blocks of GLA + SwiGLU
  "tr-gla": { mixer: "gla", stack: "XS/XS" },
};

function modelShape(model: ModelName): ModelShape {
  if (!Object.hasOwn(MODELS, model)) {
    throw new RangeError(`unknown model: ${model} (expected one of ${ALL_MODEL_NAMES.join(", ")})`);
  }
  return MODELS[model];
}

export interface MambaSettings {
  dState: number;
  dConv: number;
  expand: number;
  headdim: number;
  ngroups: number;
  chunkSize: number;
  /** Scan direction: causal (false) or forward + flipped scan with shared weights. */
  bidirectional: false | "shared";
}

/** GLA settings of tr-gla (heads = `ModelConfig.heads`, value dim = hidden/heads, RoPE = `rope`). */
export interface GlaSettings {
  /** Key (and query) dim per head: the width the parity search sets (`GLA_PAPER`). */
  keyDim: number;
  /** Causal mixing (false: both directions, like TRM's attention). */
  causal: boolean;
}

export interface ModelConfig {
  model: ModelName;
  /** Token vocabulary (ARC 12, Sudoku 11, Maze 6). */
  vocab: number;
  /** Grid tokens L (81, 900); the sequence the operators see is L' = L + prefixLen. */
  seqLen: number;
  /** Width D (paper 512). */
  hidden: number;
  /** Attention heads (paper 8, head dim 64). */
  heads: number;
  /** SwiGLU expansion (paper 4). */
  expansion: number;
  /** Puzzle-embedding prefix positions (paper 16; only slot 0 carries the learned vector). */
  prefixLen: number;
  /** T: recursion cycles per ACT step (T−1 without gradient). */
  hCycles: number;
  /** n: latent updates per cycle (paper 6; the official ARC/Maze commands use 4). */
  lCycles: number;
  /** RoPE in attention (TRM: on). */
  rope: boolean;
  mamba: MambaSettings;
  /** GLA settings (tr-gla only; absent = the operator's defaults, key dim = value dim / 2). */
  gla?: GlaSettings;
  /** Rows of the puzzle-embedding table (ids; 0 = blank). */
  numPuzzleIds: number;
  /** ACT: maximum supervision steps (paper 16) and exploration probability (0.1). */
  haltMaxSteps: number;
  haltExploration: number;
  /**
   * Where each sub-layer normalises (ablation; absent = "post", the paper's models): "post" is
   * RMSNorm(h + op(h)); "pre" is h + op(RMSNorm(h)), with a weightless RMSNorm of z_H before the
   * output heads (the usual pre-norm final norm). No parameter changes.
   */
  norm?: "post" | "pre";
  /**
   * The operator stack as letters (ablation; absent = the model's own, `defaultStack`): one letter
   * per sub-layer, "/" between layers — X the model's token mixer (attention for *-attn models,
   * MLP-t for *-mlpt/*-mlp-t, GLA for tr-gla), M Mamba-2 (tr-mamba2* models only), S SwiGLU. The
   * paper does not publish its hybrid stack's exact layout; "MMXS" is our reading of it.
   */
  stack?: string;
  /**
   * The forward dtype (absent = "f32"): "bf16" runs the forward and backward as the official TRM's
   * `forward_dtype: bfloat16` does — weights rounded to bf16 where used, activations and their
   * gradients stored as bf16 values, GEMMs over bf16 operands accumulating in f32, losses in f32,
   * master weights and optimiser state in f32 (engine/bf16.ts lists the rounding points). No parameter changes.
   */
  dtype?: "f32" | "bf16";
}

export const NORM_MODES = ["post", "pre"] as const;
/** Forward dtypes (ModelConfig.dtype). */
export const DTYPES = ["f32", "bf16"] as const;

/** The model's own stack in `ModelConfig.stack` letters. */
export function defaultStack(model: ModelName): string {
  return modelShape(model).stack;
}

/** Checks a stack string for a model; the reason it is refused, or null when it is valid. */
export function stackError(model: ModelName, stack: string): string | null {
  const layers = stack.split("/");
  if (layers.some((l) => l.length === 0)) return `empty layer in "${stack}"`;
  const mamba = modelShape(model).stack.includes("M");
  const allowed = mamba ? /^[XMS]+$/ : /^[XS]+$/;
  const bad = layers.find((l) => !allowed.test(l));
  if (bad !== undefined) {
    return `"${stack}": layer "${bad}" may only use ${
      mamba
        ? "X, M, S"
        : `X, S (no Mamba-2 in ${model.startsWith("trm-") ? "a trm-* model" : model})`
    }`;
  }
  return null;
}

/** Mamba-2 defaults of the reference module (state-spaces/mamba `Mamba2`); they reproduce 6.86M. */
export const MAMBA_DEFAULTS: MambaSettings = {
  dState: 128,
  dConv: 4,
  expand: 2,
  headdim: 64,
  ngroups: 1,
  chunkSize: 256,
  bidirectional: false,
};

/**
 * tr-gla at paper size: 8 heads of value dim 64 (as attention), key dim 32 — the parity search's
 * choice (`deno task parity --match tr-gla`: GLA 1,053,192 + SwiGLU 2,359,296 per layer), giving
 * 6,838,290 parameters on ARC against TRM-attn's 6,829,058 (+9,232, +0.14 %; TR-mamba2attn is
 * +31,328). Key dim 32 is also GLA's own default ratio (half the value dim).
 */
export const GLA_PAPER: GlaSettings = { keyDim: 32, causal: false };

/** The paper-size configuration for a task's vocabulary and grid length. */
export function paperConfig(
  model: ModelName,
  task: { vocab: number; seqLen: number; numPuzzleIds: number; lCycles: number },
): ModelConfig {
  return {
    model,
    vocab: task.vocab,
    seqLen: task.seqLen,
    hidden: 512,
    heads: 8,
    expansion: 4,
    prefixLen: 16,
    hCycles: 3,
    lCycles: task.lCycles,
    rope: true,
    mamba: { ...MAMBA_DEFAULTS },
    ...(model === "tr-gla" ? { gla: { ...GLA_PAPER } } : {}),
    numPuzzleIds: task.numPuzzleIds,
    haltMaxSteps: 16,
    haltExploration: 0.1,
  };
}

/** The operator stack: layers × sub-layers, each sub-layer applied as RMSNorm(h + op(h)). */
export function operatorStack(cfg: ModelConfig): OperatorSpec[][] {
  const seq = cfg.seqLen + cfg.prefixLen;
  const attention: OperatorSpec = {
    kind: "attention",
    hidden: cfg.hidden,
    numHeads: cfg.heads,
    rope: cfg.rope,
    prefixLen: cfg.prefixLen,
    maxSeq: seq,
  };
  const swiglu: OperatorSpec = { kind: "swiglu", hidden: cfg.hidden, expansion: cfg.expansion };
  const mlpT: OperatorSpec = { kind: "mlp_t", seqLen: seq, expansion: cfg.expansion };
  const m = cfg.mamba;
  const mamba: OperatorSpec = {
    kind: "mamba2",
    dModel: cfg.hidden,
    dState: m.dState,
    dConv: m.dConv,
    expand: m.expand,
    headdim: m.headdim,
    ngroups: m.ngroups,
    chunkSize: m.chunkSize,
    bidirectional: m.bidirectional,
  };
  const gla: OperatorSpec = {
    kind: "gla",
    hidden: cfg.hidden,
    heads: cfg.heads,
    keyDim: cfg.gla?.keyDim,
    rope: cfg.rope,
    causal: cfg.gla?.causal ?? false,
  };
  const shape = modelShape(cfg.model);
  if (cfg.stack !== undefined) {
    const err = stackError(cfg.model, cfg.stack);
    if (err) throw new RangeError(`stack of ${cfg.model}: ${err}`);
  }
  const mixer = { attention, mlp_t: mlpT, gla }[shape.mixer];
  const byLetter: Record<string, OperatorSpec> = { X: mixer, M: mamba, S: swiglu };
  return (cfg.stack ?? shape.stack).split("/").map((layer) => [...layer].map((c) => byLetter[c]));
}

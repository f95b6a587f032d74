/**
 * Model configuration: the four models of the paper are four operator stacks on one scaffold (TRM:
 * two blocks of attention or MLP-t + SwiGLU; hybrid, Wang & Reid 2026: one block of Mamba-2,
 * Mamba-2, attention or MLP-t, SwiGLU; all post-norm). Everything a model needs is in
 * `ModelConfig`; `operatorStack` turns it into the typed list of operator specs the scaffold
 * instantiates.
 */
import type { OperatorSpec } from "../operators/mod.ts";

export const MODEL_NAMES = ["trm-attn", "trm-mlp-t", "tr-mamba2attn", "tr-mamba2mlpt"] as const;
export type ModelName = typeof MODEL_NAMES[number];

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
   * MLP-t for *-mlpt/*-mlp-t), M Mamba-2 (tr-mamba2* models only), S SwiGLU. The paper does not
   * publish its hybrid stack's exact layout; "MMXS" is our reading of it.
   */
  stack?: string;
}

export const NORM_MODES = ["post", "pre"] as const;

/** The model's own stack in `ModelConfig.stack` letters. */
export function defaultStack(model: ModelName): string {
  return model.startsWith("trm-") ? "XS/XS" : "MMXS";
}

/** Checks a stack string for a model; the reason it is refused, or null when it is valid. */
export function stackError(model: ModelName, stack: string): string | null {
  const layers = stack.split("/");
  if (layers.some((l) => l.length === 0)) return `empty layer in "${stack}"`;
  const allowed = model.startsWith("tr-mamba2") ? /^[XMS]+$/ : /^[XS]+$/;
  const bad = layers.find((l) => !allowed.test(l));
  if (bad !== undefined) {
    return `"${stack}": layer "${bad}" may only use ${
      model.startsWith("tr-mamba2") ? "X, M, S" : "X, S (no Mamba-2 in a trm-* model)"
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
  if (cfg.stack !== undefined) {
    const err = stackError(cfg.model, cfg.stack);
    if (err) throw new RangeError(`stack of ${cfg.model}: ${err}`);
    const mixer = cfg.model.endsWith("attn") ? attention : mlpT;
    const byLetter: Record<string, OperatorSpec> = { X: mixer, M: mamba, S: swiglu };
    return cfg.stack.split("/").map((layer) => [...layer].map((c) => byLetter[c]));
  }
  switch (cfg.model) {
    case "trm-attn":
      return [[attention, swiglu], [attention, swiglu]];
    case "trm-mlp-t":
      return [[mlpT, swiglu], [mlpT, swiglu]];
    case "tr-mamba2attn":
      return [[mamba, mamba, attention, swiglu]];
    case "tr-mamba2mlpt":
      return [[mamba, mamba, mlpT, swiglu]];
    default: {
      const never: never = cfg.model;
      throw new RangeError(`unknown model: ${never} (expected one of ${MODEL_NAMES.join(", ")})`);
    }
  }
}

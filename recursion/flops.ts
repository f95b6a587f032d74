/**
 * FLOP counts for benchmarks (convention: matmul-like work only, 2 FLOPs per multiply-add; a
 * backward costs 2× its forward). These define the "GEMM-bound floor" a step is compared with.
 */
import { swigluInter } from "../operators/swiglu.ts";
import type { OperatorSpec } from "../operators/mod.ts";
import { type ModelConfig, operatorStack } from "./config.ts";

/** Forward FLOPs of one operator on an input [b, l, width]. */
export function operatorForwardFlops(
  spec: OperatorSpec,
  b: number,
  l: number,
  width: number,
): number {
  const t = b * l;
  switch (spec.kind) {
    case "attention": {
      const d = spec.hidden;
      return 8 * t * d * d + 4 * b * l * l * d; // qkv + o projections; QKᵀ and PV
    }
    case "swiglu":
      return 6 * t * spec.hidden * swigluInter(spec.hidden, spec.expansion);
    case "mlp_t":
      // Mixes along the sequence (its width is l), for every one of the `width` feature columns.
      return 6 * b * width * l * swigluInter(l, spec.expansion);
    case "mamba2": {
      const d = spec.dModel, n = spec.dState ?? 128, e = spec.expand ?? 2;
      const p = spec.headdim ?? 64, g = spec.ngroups ?? 1, k = spec.dConv ?? 4;
      const din = e * d, h = din / p, proj = 2 * din + 2 * g * n + h, conv = din + 2 * g * n;
      // projections + the sequential recurrence (≈ 5·N·Din per token: state update 3 and readout
      // 2 per state element) and conv; the chunked SSD does more
      return 2 * t * d * (proj + din) + t * (5 * n * din + 2 * k * conv);
    }
  }
}

/** Forward FLOPs of one call of the model's reasoning network on a batch of b. */
export function netForwardFlops(cfg: ModelConfig, b: number): number {
  const l = cfg.seqLen + cfg.prefixLen;
  let f = 0;
  for (const layer of operatorStack(cfg)) {
    for (const spec of layer) f += operatorForwardFlops(spec, b, l, cfg.hidden);
  }
  return f;
}

/**
 * FLOPs of one training step (one ACT step): T·(n+1) network calls forward, the last n+1 of them
 * also backward (2× forward), plus the LM head forward and backward.
 */
export function trainStepFlops(cfg: ModelConfig, b: number): number {
  const calls = cfg.hCycles * (cfg.lCycles + 1), withGrad = cfg.lCycles + 1;
  const head = 2 * b * cfg.seqLen * cfg.hidden * cfg.vocab;
  return (calls + 2 * withGrad) * netForwardFlops(cfg, b) + 3 * head;
}

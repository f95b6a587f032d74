/**
 * FLOP counts for benchmarks (convention: matmul-like work only, 2 FLOPs per multiply-add; a
 * backward costs 2× its forward). These define the "GEMM-bound floor" a step is compared with.
 */
import { operatorForwardFlops } from "../operators/mod.ts";
import { type ModelConfig, operatorStack } from "./config.ts";

/** Forward FLOPs of one operator on an input [b, l, width] (each kind's formula: its registry entry). */
export { operatorForwardFlops };

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

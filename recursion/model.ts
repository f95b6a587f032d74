/**
 * The TRM scaffold (TRM's `models/recursive_reasoning/trm.py`): input embedding with the puzzle
 * prefix, the reasoning network `net` (a stack of post-norm operator sub-layers, shared by both
 * recursion levels), the LM head and the Q (halting) head. The operator stack comes from the
 * config, so the four models of the paper are four configurations of this one file.
 *
 * Parameter names (the checkpoint and the PyTorch peer use them): trainable `embed_tokens.weight`
 * [V, D], `layers.{i}.{j}.<operator param>`, `lm_head.weight` [V, D], `q_head.weight` [2, D],
 * `q_head.bias` [2]; buffers `H_init` [D], `L_init` [D], `puzzle_emb.weight` [ids, D].
 */
import type { Backend } from "../engine/backend.ts";
import { truncNormal } from "../engine/init.ts";
import {
  addRowVector,
  concatAxis1,
  embedding,
  linear,
  reshape,
  scale,
  sliceAxis1,
  sliceLastAxis,
} from "../engine/ops.ts";
import { add } from "../engine/ops.ts";
import type { Rng } from "../engine/rng.ts";
import { type Tensor, tensor, zeros } from "../engine/tensor.ts";
import {
  countParams,
  createOperator,
  type Operator,
  operatorParamCount,
  rmsNorm,
} from "../operators/mod.ts";
import { type ModelConfig, operatorStack } from "./config.ts";

export interface TrmModel {
  readonly cfg: ModelConfig;
  readonly backend: Backend;
  /** Trainable parameters by name, in a fixed order (embedding, layers, heads). */
  readonly params: Record<string, Tensor>;
  /** Non-trained state: fixed recursion inits and the sparsely trained puzzle embeddings. */
  readonly buffers: { H_init: Tensor; L_init: Tensor; "puzzle_emb.weight": Tensor };
  readonly layers: readonly (readonly Operator[])[];
  /** x [B, L'] embedding: tokens [B, L] (i32) and the batch's puzzle-embedding rows [B, D]. */
  embed(inputs: Tensor, puzzleRows: Tensor): Tensor;
  /** The reasoning network: h ← h + injection, then every sub-layer as RMSNorm(h + op(h)). */
  net(h: Tensor, injection: Tensor): Tensor;
  /** Heads on z_H: logits [B, L, V] past the prefix, q_halt and q_continue [B] from position 0. */
  heads(zH: Tensor): { logits: Tensor; qHalt: Tensor; qContinue: Tensor };
}

/** Builds a model; each module draws its initial weights from its own fork of `rng`. */
export function createTrm(be: Backend, rng: Rng, cfg: ModelConfig): TrmModel {
  const d = cfg.hidden, v = cfg.vocab;
  if (cfg.prefixLen < 1) throw new RangeError(`prefixLen must be ≥ 1: ${cfg.prefixLen}`);
  const trunc = (name: string, shape: number[], std: number, grad = true) =>
    tensor(be, truncNormal(rng.fork(name), shape[0] * (shape[1] ?? 1), std), shape, {
      requiresGrad: grad,
    });

  const params: Record<string, Tensor> = {};
  params["embed_tokens.weight"] = trunc("embed_tokens", [v, d], 1 / Math.sqrt(d));
  const layers = operatorStack(cfg).map((specs, i) =>
    specs.map((spec, j) => {
      const op = createOperator(be, rng.fork(`layers.${i}.${j}`), spec);
      for (const [k, t] of Object.entries(op.params)) params[`layers.${i}.${j}.${k}`] = t;
      return op;
    })
  );
  params["lm_head.weight"] = trunc("lm_head", [v, d], 1 / Math.sqrt(d));
  params["q_head.weight"] = zeros(be, [2, d], { requiresGrad: true });
  params["q_head.bias"] = tensor(be, [-5, -5], [2], { requiresGrad: true });

  const buffers = {
    H_init: trunc("H_init", [d], 1, false),
    L_init: trunc("L_init", [d], 1, false),
    "puzzle_emb.weight": zeros(be, [cfg.numPuzzleIds, d]),
  };
  const lPrime = cfg.seqLen + cfg.prefixLen;
  const pre = cfg.norm === "pre";

  return {
    cfg,
    backend: be,
    params,
    buffers,
    layers,
    embed(inputs, puzzleRows) {
      const b = inputs.shape[0];
      if (inputs.rank !== 2 || inputs.shape[1] !== cfg.seqLen || puzzleRows.size !== b * d) {
        throw new TypeError(
          `embed: inputs [B, ${cfg.seqLen}] and puzzle rows [B, ${d}] expected: ${inputs}, ${puzzleRows}`,
        );
      }
      const tok = embedding(params["embed_tokens.weight"], inputs);
      let prefix = reshape(puzzleRows, [b, 1, d]);
      if (cfg.prefixLen > 1) prefix = concatAxis1(prefix, zeros(be, [b, cfg.prefixLen - 1, d]));
      return scale(concatAxis1(prefix, tok), Math.sqrt(d));
    },
    net(h, injection) {
      if (h.rank !== 3 || h.shape[1] !== lPrime || h.shape[2] !== d) {
        throw new TypeError(`net: state must be [B, ${lPrime}, ${d}]: ${h}`);
      }
      let x = add(h, injection);
      for (const layer of layers) {
        for (const op of layer) x = pre ? op.preBlock(x) : op.block(x);
      }
      return x;
    },
    heads(zState) {
      // Pre-norm: z_H is the un-normalised residual stream; the heads read it through a final norm.
      const zH = pre ? rmsNorm(zState) : zState;
      const b = zH.shape[0];
      const grid = sliceAxis1(zH, cfg.prefixLen, cfg.seqLen);
      const logits = linear(grid, params["lm_head.weight"]);
      const first = reshape(sliceAxis1(zH, 0, 1), [b, d]);
      const q = addRowVector(linear(first, params["q_head.weight"]), params["q_head.bias"]);
      return {
        logits,
        qHalt: reshape(sliceLastAxis(q, 0, 1), [b]),
        qContinue: reshape(sliceLastAxis(q, 1, 1), [b]),
      };
    },
  };
}

/** Trainable parameter count (puzzle embeddings and H/L inits excluded, as the paper counts). */
export function trmParamCount(m: TrmModel): number {
  return countParams(m);
}

/** Trainable parameters of the scaffold around the stack: embedding and LM head V·D each, Q head. */
export function scaffoldParamCount(cfg: Pick<ModelConfig, "vocab" | "hidden">): number {
  return 2 * cfg.vocab * cfg.hidden + 2 * cfg.hidden + 2;
}

/**
 * Trainable parameter count of the model `cfg` describes, without building it (from the operator
 * registry's counts; equal to `trmParamCount(createTrm(…, cfg))`, tested for every model).
 */
export function modelParamCount(cfg: ModelConfig): number {
  let n = scaffoldParamCount(cfg);
  for (const layer of operatorStack(cfg)) for (const spec of layer) n += operatorParamCount(spec);
  return n;
}

/** Per-module breakdown of the trainable parameters: embedding, each sub-layer, heads. */
export function paramBreakdown(m: TrmModel): { module: string; kind: string; params: number }[] {
  const rows: { module: string; kind: string; params: number }[] = [
    { module: "embed_tokens", kind: "embedding", params: m.params["embed_tokens.weight"].size },
  ];
  m.layers.forEach((layer, i) =>
    layer.forEach((op, j) =>
      rows.push({ module: `layers.${i}.${j}`, kind: op.kind, params: countParams(op) })
    )
  );
  rows.push({ module: "lm_head", kind: "linear", params: m.params["lm_head.weight"].size });
  rows.push({
    module: "q_head",
    kind: "linear+bias",
    params: m.params["q_head.weight"].size + m.params["q_head.bias"].size,
  });
  return rows;
}

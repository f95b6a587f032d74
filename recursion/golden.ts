/**
 * One ACT step of our model on a case written by the PyTorch peer (benchmarks/peers/torch_trm.py
 * `make-case`): the same weights, batch and carry, so logits, losses, new carry and every
 * parameter gradient can be compared with PyTorch's (`golden` mode). Used by golden_test.ts on the
 * committed fixtures (fixtures/trm/), which need no PyTorch.
 */
import type { Backend } from "../engine/backend.ts";
import { backward } from "../engine/autograd.ts";
import { fromSafeTensor } from "../engine/io.ts";
import { Rng } from "../engine/rng.ts";
import type { SafeTensor } from "../engine/safetensors.ts";
import type { Tensor } from "../engine/tensor.ts";
import { actForward, type Carry, initialCarry } from "./act.ts";
import { MAMBA_DEFAULTS, MODEL_NAMES, type ModelConfig, type ModelName } from "./config.ts";
import { createTrm, type TrmModel } from "./model.ts";

/** Our model config from a case's metadata (`model`, `config` JSON with the peer's keys). */
export function caseConfig(
  metadata: Record<string, string>,
  numPuzzleIds: number,
): ModelConfig {
  const model = metadata.model as ModelName;
  if (!MODEL_NAMES.includes(model)) throw new RangeError(`case: unknown model: ${metadata.model}`);
  const c = JSON.parse(metadata.config ?? "{}");
  const m = c.mamba ?? {};
  return {
    model,
    vocab: c.vocab,
    seqLen: c.seq_len,
    hidden: c.hidden,
    heads: c.heads,
    expansion: c.expansion ?? 4,
    prefixLen: c.puzzle_emb_len ?? 16,
    hCycles: c.h_cycles,
    lCycles: c.l_cycles,
    rope: c.rope ?? true,
    mamba: {
      dState: m.d_state ?? MAMBA_DEFAULTS.dState,
      dConv: m.d_conv ?? MAMBA_DEFAULTS.dConv,
      expand: m.expand ?? MAMBA_DEFAULTS.expand,
      headdim: m.headdim ?? MAMBA_DEFAULTS.headdim,
      ngroups: m.ngroups ?? MAMBA_DEFAULTS.ngroups,
      chunkSize: m.chunk_size ?? MAMBA_DEFAULTS.chunkSize,
      bidirectional: m.bidirectional ? "shared" : false,
    },
    numPuzzleIds,
    haltMaxSteps: 16,
    haltExploration: 0.1,
  };
}

export interface GoldenResult {
  model: TrmModel;
  /** Our outputs under the peer's names (host arrays). */
  out: Record<string, Float32Array | Float64Array>;
}

/** Loads a case into a fresh model on `be`, runs one training ACT step and backward. */
export function runGoldenCase(
  be: Backend,
  tensors: Record<string, SafeTensor>,
  metadata: Record<string, string>,
): GoldenResult {
  const table = tensors["puzzle_emb.weight"];
  if (!table) throw new TypeError("case: missing tensor puzzle_emb.weight");
  const cfg = caseConfig(metadata, table.shape[0]);
  const model = createTrm(be, new Rng(0), cfg);
  const load = (name: string, dst: Tensor) => {
    const s = tensors[name];
    if (!s) throw new TypeError(`case: missing tensor ${name}`);
    if (s.shape.join() !== dst.shape.join()) {
      throw new TypeError(`case: ${name} is [${s.shape}], the model wants [${dst.shape}]`);
    }
    be.upload(dst.buf, s.data as ArrayLike<number>);
  };
  for (const [name, p] of Object.entries(model.params)) load(name, p);
  for (const [name, b] of Object.entries(model.buffers)) load(name, b);

  const int = (name: string) => Int32Array.from(fromSafeTensor(be, name, tensors[name]).toArray());
  const b = tensors.inputs.shape[0];
  const carry: Carry = initialCarry(model, b);
  load("z_H", carry.zH);
  load("z_L", carry.zL);
  carry.inputs.set(int("inputs"));
  carry.labels.set(int("labels"));
  carry.puzzleIds.set(int("puzzle_ids"));
  carry.halted.fill(0);

  const r = actForward(model, carry, true);
  backward(r.total!);
  const out: Record<string, Float32Array | Float64Array> = {
    logits: Float32Array.from(r.logits.toArray()),
    q_halt: r.qHalt,
    lm_loss: Float64Array.of(r.lmLoss),
    q_loss: Float64Array.of(r.qLoss),
    total: Float64Array.of(r.lmLoss + 0.5 * r.qLoss), // the peer reports it before the 1/B
    "new.z_H": Float32Array.from(r.zH.toArray()),
    "new.z_L": Float32Array.from(r.zL.toArray()),
    "grad.puzzle_emb_rows": Float32Array.from(r.puzzleRows.grad!.toArray()),
  };
  for (const [name, p] of Object.entries(model.params)) {
    out[`grad.${name}`] = p.grad ? Float32Array.from(p.grad.toArray()) : new Float32Array(p.size);
  }
  return { model, out };
}

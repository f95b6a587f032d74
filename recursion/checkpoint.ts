/**
 * Training checkpoints as one safetensors file: everything a run needs to continue bit-exactly.
 *
 * Tensors (names): `param/<name>` trainable weights, `ema/<name>` EMA shadow, `adam_m/<name>` and
 * `adam_v/<name>` AdamATan2 moments, `buffer/H_init`, `buffer/L_init`, `buffer/puzzle_emb.weight`,
 * and the carry `carry/zH`, `carry/zL` (f32), `carry/steps`, `carry/halted`, `carry/inputs`,
 * `carry/labels`, `carry/puzzleIds` (i32). Float data are stored as the backend holds them (F32,
 * or F64 from a float64 ref backend), so reloading is exact.
 *
 * Metadata (strings): `format`, `step` (trainer step), `adam_step`, `rng` (JSON: every Rng's
 * state), `data_position` (JSON: iterator pass and batches consumed), `config_hash`, `config`
 * (JSON, for error messages), `dataset_hash`, `commit`, `saved_at`.
 *
 * Files: `OUT/checkpoint.safetensors`, the previous one kept as `OUT/checkpoint.prev.safetensors`.
 * The new file is written completely under a temporary name first (engine/safetensors.ts), then
 * the current one becomes `prev` and the new one takes its place; `latestCheckpoint` falls back to
 * `prev` if a crash fell between the two renames.
 */
import type { Backend } from "../engine/backend.ts";
import type { RngState } from "../engine/rng.ts";
import { readSafetensors, type SafeTensor, writeSafetensors } from "../engine/safetensors.ts";
import type { Tensor } from "../engine/tensor.ts";
import { tensor } from "../engine/tensor.ts";
import { exists } from "../tasks/io.ts";
import type { StreamPosition } from "./data.ts";
import type { Trainer } from "./trainer.ts";

export const CHECKPOINT_FORMAT = "trm-checkpoint/1";
export const CHECKPOINT_FILE = "checkpoint.safetensors";
export const PREVIOUS_FILE = "checkpoint.prev.safetensors";

/** What a checkpoint records besides the trainer's tensors. */
export interface CheckpointInfo {
  configHash: string;
  /** The configuration as JSON (to name differences when a resume is refused). */
  configJson: string;
  datasetHash: string;
  dataPosition: StreamPosition;
  /** Rng states by name (at least `trainer`, the ACT exploration stream). */
  rngs: Record<string, RngState>;
  commit: string;
}

/** A checkpoint read back: host tensors and parsed metadata. */
export interface Checkpoint extends CheckpointInfo {
  path: string;
  step: number;
  adamStep: number;
  tensors: Record<string, SafeTensor>;
}

function floatEntry(t: Tensor): SafeTensor {
  const host = t.toArray();
  if (host instanceof Float64Array) return { dtype: "F64", shape: [...t.shape], data: host };
  return { dtype: "F32", shape: [...t.shape], data: Float32Array.from(host) };
}

function intEntry(a: ArrayLike<number>, shape: number[]): SafeTensor {
  return { dtype: "I32", shape, data: Int32Array.from(a) };
}

/** The trainer's full state as safetensors entries. */
export function trainerTensors(tr: Trainer): Record<string, SafeTensor> {
  const out: Record<string, SafeTensor> = {};
  const names = Object.keys(tr.model.params);
  names.forEach((name, i) => {
    out[`param/${name}`] = floatEntry(tr.model.params[name]);
    out[`ema/${name}`] = floatEntry(tr.ema.shadow[i]);
    out[`adam_m/${name}`] = floatEntry(tr.opt.m[i]);
    out[`adam_v/${name}`] = floatEntry(tr.opt.v[i]);
  });
  for (const [name, t] of Object.entries(tr.model.buffers)) out[`buffer/${name}`] = floatEntry(t);
  const c = tr.carry, b = c.steps.length, l = tr.model.cfg.seqLen;
  out["carry/zH"] = floatEntry(c.zH);
  out["carry/zL"] = floatEntry(c.zL);
  out["carry/steps"] = intEntry(c.steps, [b]);
  out["carry/halted"] = intEntry(c.halted, [b]);
  out["carry/inputs"] = intEntry(c.inputs, [b, l]);
  out["carry/labels"] = intEntry(c.labels, [b, l]);
  out["carry/puzzleIds"] = intEntry(c.puzzleIds, [b]);
  return out;
}

/** Writes `dir/checkpoint.safetensors` atomically, keeping the previous one as `prev`. */
export async function saveCheckpoint(dir: string, tr: Trainer, info: CheckpointInfo) {
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    step: String(tr.step),
    adam_step: String(tr.opt.step),
    rng: JSON.stringify(info.rngs),
    data_position: JSON.stringify(info.dataPosition),
    config_hash: info.configHash,
    config: info.configJson,
    dataset_hash: info.datasetHash,
    commit: info.commit,
    saved_at: new Date().toISOString(),
  };
  const path = `${dir}/${CHECKPOINT_FILE}`, next = `${dir}/checkpoint.next.safetensors`;
  await writeSafetensors(next, trainerTensors(tr), metadata);
  if (await exists(path)) await Deno.rename(path, `${dir}/${PREVIOUS_FILE}`);
  await Deno.rename(next, path);
  return path;
}

/** The newest complete checkpoint of `dir` (current, else previous), or null. */
export async function latestCheckpoint(dir: string): Promise<string | null> {
  for (const f of [CHECKPOINT_FILE, PREVIOUS_FILE]) {
    if (await exists(`${dir}/${f}`)) return `${dir}/${f}`;
  }
  return null;
}

function metaInt(m: Record<string, string>, key: string, path: string): number {
  const v = Number(m[key]);
  if (m[key] === undefined || !Number.isSafeInteger(v) || v < 0) {
    throw new TypeError(`${path}: metadata ${key} must be a non-negative integer: ${m[key]}`);
  }
  return v;
}

function metaJson<T>(m: Record<string, string>, key: string, path: string): T {
  try {
    return JSON.parse(m[key]) as T;
  } catch (e) {
    throw new TypeError(`${path}: metadata ${key} is not JSON: ${(e as Error).message}`);
  }
}

/** Reads a checkpoint file and checks its format. */
export async function readCheckpoint(path: string): Promise<Checkpoint> {
  const { tensors, metadata: m } = await readSafetensors(path);
  if (m.format !== CHECKPOINT_FORMAT) {
    throw new TypeError(`${path}: format must be ${CHECKPOINT_FORMAT}: ${m.format}`);
  }
  return {
    path,
    step: metaInt(m, "step", path),
    adamStep: metaInt(m, "adam_step", path),
    rngs: metaJson(m, "rng", path),
    dataPosition: metaJson(m, "data_position", path),
    configHash: m.config_hash,
    configJson: m.config,
    datasetHash: m.dataset_hash,
    commit: m.commit,
    tensors,
  };
}

/** Copies a stored tensor into `dst` after checking its shape. */
function restoreInto(be: Backend, ck: Checkpoint, name: string, dst: Tensor): void {
  const s = ck.tensors[name];
  if (!s) throw new RangeError(`${ck.path}: missing tensor ${name}`);
  if (s.shape.join(",") !== dst.shape.join(",")) {
    throw new TypeError(
      `${ck.path}: ${name} has shape [${s.shape}], the model wants [${dst.shape}]`,
    );
  }
  be.upload(dst.buf, s.data as ArrayLike<number>);
}

function hostInts(ck: Checkpoint, name: string, length: number): Int32Array {
  const s = ck.tensors[name];
  if (!s || s.dtype !== "I32" || s.data.length !== length) {
    throw new TypeError(
      `${ck.path}: ${name} must be I32 of ${length} values: ${
        s ? `${s.dtype} [${s.shape}]` : "missing"
      }`,
    );
  }
  return s.data as Int32Array;
}

/**
 * Loads a checkpoint's state into a freshly built trainer (same config): weights, buffers, EMA,
 * moments and step counters, the carry and the trainer step. The trainer's exploration Rng is
 * restored by the caller (it is constructed with `Rng.fromState(ck.rngs.trainer)`).
 */
export function restoreTrainer(tr: Trainer, ck: Checkpoint): void {
  const be = tr.model.backend;
  const names = Object.keys(tr.model.params);
  const stored = Object.keys(ck.tensors).filter((k) => k.startsWith("param/")).map((k) =>
    k.slice(6)
  );
  const extra = stored.filter((n) => !names.includes(n));
  if (extra.length) throw new RangeError(`${ck.path}: parameters the model lacks: ${extra}`);
  names.forEach((name, i) => {
    restoreInto(be, ck, `param/${name}`, tr.model.params[name]);
    restoreInto(be, ck, `ema/${name}`, tr.ema.shadow[i]);
    restoreInto(be, ck, `adam_m/${name}`, tr.opt.m[i]);
    restoreInto(be, ck, `adam_v/${name}`, tr.opt.v[i]);
  });
  for (const [name, t] of Object.entries(tr.model.buffers)) {
    restoreInto(be, ck, `buffer/${name}`, t);
  }
  const c = tr.carry, b = c.steps.length, l = tr.model.cfg.seqLen;
  const zH = ck.tensors["carry/zH"], zL = ck.tensors["carry/zL"];
  if (!zH || !zL) throw new RangeError(`${ck.path}: missing the carry states`);
  for (const [name, s] of [["carry/zH", zH], ["carry/zL", zL]] as const) {
    if (s.shape.join(",") !== c.zH.shape.join(",")) {
      throw new TypeError(`${ck.path}: ${name} [${s.shape}] for a carry of [${c.zH.shape}]`);
    }
  }
  for (const t of [c.zH, c.zL]) (t.base ?? t).dispose();
  c.zH = tensor(be, zH.data as ArrayLike<number>, zH.shape);
  c.zL = tensor(be, zL.data as ArrayLike<number>, zL.shape);
  c.steps.set(hostInts(ck, "carry/steps", b));
  c.halted.set(hostInts(ck, "carry/halted", b));
  c.inputs.set(hostInts(ck, "carry/inputs", b * l));
  c.labels.set(hostInts(ck, "carry/labels", b * l));
  c.puzzleIds.set(hostInts(ck, "carry/puzzleIds", b));
  tr.step = ck.step;
  tr.opt.step = ck.adamStep;
}

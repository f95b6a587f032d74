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
 * (JSON, for error messages), `dataset_hash`, `commit`, `saved_at`, `tensor_sha256` (JSON: name →
 * SHA-256 of the tensor's name, dtype, shape and bytes) and `metadata_sha256` (SHA-256 of every
 * other metadata entry, `tensor_sha256` included).
 *
 * Integrity: a checkpoint is verified when it is read (readCheckpoint): the metadata checksum
 * (a changed step, rng…), every tensor's checksum (a flipped bit, swapped offsets or names in the
 * header, a missing or extra tensor) and that every float tensor is finite; any failure is a
 * CheckpointCorruptError naming the file and the tensor. Hashing costs about 80 ms per 110 MB (a
 * paper-size checkpoint; node:crypto SHA-256 with SHA-NI). A checkpoint of format
 * `trm-checkpoint/1` (written before checksums) is still loaded, with a warning that it cannot be
 * verified. Non-finite parameters, EMA weights, moments or carry states are never saved
 * (NonFiniteError; the previous checkpoint stays).
 *
 * Files: `OUT/checkpoint.safetensors`, the previous one kept as `OUT/checkpoint.prev.safetensors`.
 * The new file is written completely under a temporary name first (engine/safetensors.ts), then
 * the current one becomes `prev` and the new one takes its place; `latestCheckpoint` falls back to
 * `prev` if a crash fell between the two renames, and `loadLatestCheckpoint` also when the current
 * file is corrupt (it is moved aside to `checkpoint.corrupt.safetensors`, with a warning).
 */
import type { Backend } from "../engine/backend.ts";
import { WriteError, type WriteFn } from "../engine/atomic_write.ts";
import type { RngState } from "../engine/rng.ts";
import { readSafetensors, type SafeTensor, writeSafetensors } from "../engine/safetensors.ts";
import type { Tensor } from "../engine/tensor.ts";
import { tensor } from "../engine/tensor.ts";
import { ContentHash, exists } from "../tasks/io.ts";
import type { StreamPosition } from "./data.ts";
import type { Trainer } from "./trainer.ts";

export const CHECKPOINT_FORMAT = "trm-checkpoint/2";
/** Written before checksums: loaded with a warning. */
export const UNVERIFIED_FORMAT = "trm-checkpoint/1";
export const CHECKPOINT_FILE = "checkpoint.safetensors";
export const PREVIOUS_FILE = "checkpoint.prev.safetensors";
/** Where a corrupt current checkpoint is moved when resume falls back to the previous one. */
export const CORRUPT_FILE = "checkpoint.corrupt.safetensors";

/** Raised when the loss, a gradient or state to be saved is NaN/Inf; names the step and tensors. */
export class NonFiniteError extends Error {
  override name = "NonFiniteError";
}

/** A checkpoint file that cannot be used: unreadable, a checksum mismatch, non-finite data. */
export class CheckpointCorruptError extends Error {
  override name = "CheckpointCorruptError";
  constructor(readonly path: string, readonly problem: string, cause?: unknown) {
    super(`${path}: ${problem}`, { cause });
  }
}

function tensorBytes(t: SafeTensor): Uint8Array {
  // Little-endian hosts only (as every platform Deno runs on): the bytes as stored in the file.
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** SHA-256 of a tensor's name, dtype, shape and bytes (a moved or renamed tensor fails it too). */
export function tensorDigest(name: string, t: SafeTensor): string {
  return new ContentHash().add("name", name).add("dtype", t.dtype).add("shape", t.shape.join(","))
    .add("data", tensorBytes(t)).hex();
}

/** SHA-256 of every metadata entry but `metadata_sha256`, in sorted key order. */
export function metadataDigest(m: Record<string, string>): string {
  const h = new ContentHash();
  for (const k of Object.keys(m).sort()) if (k !== "metadata_sha256") h.add(k, m[k]);
  return h.hex();
}

/** Non-finite float tensors: "name (k of n values, first NaN at i)". */
function nonFinite(tensors: Record<string, SafeTensor>): string[] {
  const bad: string[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    if (t.dtype !== "F32" && t.dtype !== "F64") continue;
    const d = t.data as Float32Array | Float64Array;
    let count = 0, first = -1;
    for (let i = 0; i < d.length; i++) {
      if (!Number.isFinite(d[i])) {
        if (first < 0) first = i;
        count++;
      }
    }
    if (count) bad.push(`${name} (${count} of ${d.length} values, first ${d[first]} at ${first})`);
  }
  return bad;
}

function listSome(items: string[], n = 6): string {
  return items.slice(0, n).join(", ") + (items.length > n ? ` and ${items.length - n} more` : "");
}

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

/**
 * Writes `dir/checkpoint.safetensors` atomically, keeping the previous one as `prev`. Refuses
 * (NonFiniteError) state that is not finite; a failed write (a full disk) is a WriteError naming
 * the file, the checkpoint that stays intact, and the partial file removed. `opts.write` injects
 * the write call (tests).
 */
export async function saveCheckpoint(
  dir: string,
  tr: Trainer,
  info: CheckpointInfo,
  opts: { write?: WriteFn } = {},
) {
  const path = `${dir}/${CHECKPOINT_FILE}`, next = `${dir}/checkpoint.next.safetensors`;
  const tensors = trainerTensors(tr);
  const bad = nonFinite(tensors);
  if (bad.length) {
    throw new NonFiniteError(
      `refusing to save the step-${tr.step} checkpoint in ${dir}: non-finite values in ` +
        `${listSome(bad)}; ${
          await exists(path) ? `the previous ${path} is kept` : "no checkpoint was saved"
        }`,
    );
  }
  const digests: Record<string, string> = {};
  for (const name of Object.keys(tensors).sort()) digests[name] = tensorDigest(name, tensors[name]);
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
    tensor_sha256: JSON.stringify(digests),
  };
  metadata.metadata_sha256 = metadataDigest(metadata);
  try {
    await writeSafetensors(next, tensors, metadata, { write: opts.write });
  } catch (e) {
    if (!(e instanceof WriteError)) throw e;
    const prev = `${dir}/${PREVIOUS_FILE}`;
    const intact = await exists(path)
      ? `the previous checkpoint ${path}`
      : await exists(prev)
      ? `the previous checkpoint ${prev}`
      : null;
    const { path: file, tmp, reason, diskFull } = e;
    throw new WriteError(
      { path: file, tmp, reason, diskFull, intact, what: `the step-${tr.step} checkpoint` },
      e.cause,
    );
  }
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

/**
 * Reads a checkpoint file and verifies it (format, metadata and tensor checksums, finite floats).
 * Throws CheckpointCorruptError naming the file (and the tensor) when it cannot be used; a
 * `trm-checkpoint/1` file (no checksums) is read with a warning (`warn`, default console.warn).
 */
export async function readCheckpoint(
  path: string,
  opts: { warn?: (line: string) => void } = {},
): Promise<Checkpoint> {
  const warn = opts.warn ?? ((l: string) => console.warn(l));
  let read;
  try {
    read = await readSafetensors(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw e;
    const msg = (e as Error).message.replace(`safetensors in ${path}: `, "");
    throw new CheckpointCorruptError(path, `not a readable safetensors file: ${msg}`, e);
  }
  const { tensors, metadata: m } = read;
  const corrupt = (problem: string) => new CheckpointCorruptError(path, problem);
  if (m.format === CHECKPOINT_FORMAT) {
    if (m.metadata_sha256 !== metadataDigest(m)) {
      throw corrupt(
        `the metadata (step, rng, data position, checksums…) fails its checksum: the file is ` +
          `corrupt or was edited`,
      );
    }
    let digests: Record<string, string>;
    try {
      digests = JSON.parse(m.tensor_sha256);
    } catch {
      throw corrupt(`metadata tensor_sha256 is not JSON`);
    }
    const missing = Object.keys(digests).filter((n) => !Object.hasOwn(tensors, n));
    const extra = Object.keys(tensors).filter((n) => !Object.hasOwn(digests, n));
    if (missing.length) throw corrupt(`tensors missing from the file: ${listSome(missing)}`);
    if (extra.length) throw corrupt(`tensors without a checksum: ${listSome(extra)}`);
    for (const name of Object.keys(digests).sort()) {
      const got = tensorDigest(name, tensors[name]);
      if (got !== digests[name]) {
        throw corrupt(
          `tensor ${name} fails its checksum (stored ${digests[name].slice(0, 12)}…, data ` +
            `${got.slice(0, 12)}…): the file is corrupt`,
        );
      }
    }
  } else if (m.format === UNVERIFIED_FORMAT) {
    warn(
      `warning: ${path} was written before checkpoints carried checksums (${UNVERIFIED_FORMAT}): ` +
        `its data cannot be verified (only checked to be finite)`,
    );
  } else {
    throw corrupt(`format must be ${CHECKPOINT_FORMAT}: ${m.format}`);
  }
  const bad = nonFinite(tensors);
  if (bad.length) throw corrupt(`non-finite values in ${listSome(bad)}`);
  try {
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
  } catch (e) {
    throw corrupt((e as Error).message.replace(`${path}: `, ""));
  }
}

/**
 * The newest usable checkpoint of `dir`, read and verified, or null when there is none. When the
 * current file is corrupt (CheckpointCorruptError) the previous one is used: a warning names both,
 * and the corrupt file is moved aside to `checkpoint.corrupt.safetensors` (so the next save does
 * not rotate it over the intact previous one). Both bad: a CheckpointCorruptError naming both.
 */
export async function loadLatestCheckpoint(
  dir: string,
  opts: { warn?: (line: string) => void } = {},
): Promise<Checkpoint | null> {
  const warn = opts.warn ?? ((l: string) => console.warn(l));
  const current = `${dir}/${CHECKPOINT_FILE}`, previous = `${dir}/${PREVIOUS_FILE}`;
  const hasPrevious = await exists(previous);
  if (!await exists(current)) return hasPrevious ? await readCheckpoint(previous, { warn }) : null;
  let first: CheckpointCorruptError;
  try {
    return await readCheckpoint(current, { warn });
  } catch (e) {
    if (!(e instanceof CheckpointCorruptError)) throw e;
    first = e;
  }
  if (!hasPrevious) {
    throw new CheckpointCorruptError(
      current,
      `${first.problem}; there is no ${PREVIOUS_FILE} to fall back to`,
      first,
    );
  }
  let ck: Checkpoint;
  try {
    ck = await readCheckpoint(previous, { warn });
  } catch (e) {
    if (!(e instanceof CheckpointCorruptError)) throw e;
    throw new CheckpointCorruptError(
      dir,
      `no usable checkpoint: ${current}: ${first.problem}; ${previous}: ${e.problem}`,
      e,
    );
  }
  const aside = `${dir}/${CORRUPT_FILE}`;
  await Deno.rename(current, aside);
  warn(
    `warning: ${current} is corrupt (${first.problem}); falling back to the previous ` +
      `checkpoint ${previous} (step ${ck.step}); the corrupt file was moved to ${aside}`,
  );
  return ck;
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

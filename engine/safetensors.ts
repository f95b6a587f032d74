/**
 * Reading and writing safetensors files (the format of huggingface/safetensors).
 *
 * Layout: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON header, then the data buffer.
 * The header maps each tensor name to `{"dtype", "shape", "data_offsets": [begin, end]}` (byte
 * offsets relative to the start of the data buffer) and may hold a `"__metadata__"` string→string
 * map. Data are little-endian and row-major.
 *
 * Choices made by this writer (all deterministic, so equal inputs give equal bytes):
 * - the header is padded with trailing spaces so that 8 + N is a multiple of 8, as the reference
 *   implementation does; the data buffer therefore starts 8-byte aligned;
 * - tensors are laid out with no gaps in order of element size descending, then name (JavaScript
 *   string order) — the reference Python writer's order — so every tensor is aligned to its
 *   element size within the file;
 * - header keys follow the same order, with `__metadata__` first and omitted when empty; each
 *   entry's fields are in the order dtype, shape, data_offsets.
 *
 * The reader accepts any order, checks that the offsets tile the data buffer exactly, and copies
 * each tensor into its own typed array (nothing aliases the input bytes).
 *
 * @example
 * ```ts
 * import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";
 * const bytes = encodeSafetensors({ w: { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) } });
 * const { tensors } = decodeSafetensors(bytes);
 * ```
 */

import { writeFileAtomically, type WriteFn } from "./atomic_write.ts";

/** Element types supported here. */
export type SafeDType = "F32" | "F64" | "I32" | "I64";

/** One tensor: dtype, shape (row-major; [] for a scalar) and its elements. */
export type SafeTensor = {
  dtype: SafeDType;
  shape: number[];
  data: Float32Array | Float64Array | Int32Array | BigInt64Array;
};

type ArrayCtor =
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | Int32ArrayConstructor
  | BigInt64ArrayConstructor;

const DTYPES: Record<SafeDType, { ctor: ArrayCtor; size: number }> = {
  F32: { ctor: Float32Array, size: 4 },
  F64: { ctor: Float64Array, size: 8 },
  I32: { ctor: Int32Array, size: 4 },
  I64: { ctor: BigInt64Array, size: 8 },
};

const METADATA_KEY = "__metadata__";
/** The reference implementation refuses headers above 100 MB; so do we. */
const MAX_HEADER_BYTES = 100_000_000;

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function isSafeDType(x: unknown): x is SafeDType {
  return typeof x === "string" && Object.hasOwn(DTYPES, x);
}

function where(source: string | undefined): string {
  return source === undefined ? "" : ` in ${source}`;
}

function product(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function isDim(d: unknown): d is number {
  return typeof d === "number" && Number.isSafeInteger(d) && d >= 0;
}

/** Copies little-endian bytes into a fresh typed array of `dtype`. */
function bytesToArray(bytes: Uint8Array, dtype: SafeDType): SafeTensor["data"] {
  const { ctor, size } = DTYPES[dtype];
  const copy = bytes.slice(); // fresh, 0-offset buffer: always aligned
  const out = new ctor(copy.buffer, 0, copy.length / size);
  if (!HOST_IS_LITTLE_ENDIAN) {
    for (let i = 0; i < copy.length; i += size) copy.subarray(i, i + size).reverse();
  }
  return out;
}

/** Little-endian bytes of a typed array (a view when the host is little-endian). */
function arrayToBytes(data: SafeTensor["data"], size: number): Uint8Array {
  const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (HOST_IS_LITTLE_ENDIAN) return view;
  const copy = view.slice();
  for (let i = 0; i < copy.length; i += size) copy.subarray(i, i + size).reverse();
  return copy;
}

function validateForWrite(name: string, t: SafeTensor): void {
  if (name === METADATA_KEY) {
    throw new TypeError(
      `encodeSafetensors: "${METADATA_KEY}" is reserved and cannot name a tensor`,
    );
  }
  if (typeof t !== "object" || t === null) {
    throw new TypeError(`encodeSafetensors: tensor "${name}" is not an object: ${String(t)}`);
  }
  if (!isSafeDType(t.dtype)) {
    throw new TypeError(`encodeSafetensors: tensor "${name}" has unsupported dtype: ${t.dtype}`);
  }
  if (!Array.isArray(t.shape) || !t.shape.every(isDim)) {
    throw new TypeError(
      `encodeSafetensors: tensor "${name}" shape must be non-negative integers: ${
        JSON.stringify(t.shape)
      }`,
    );
  }
  const { ctor } = DTYPES[t.dtype];
  if (!(t.data instanceof ctor)) {
    throw new TypeError(
      `encodeSafetensors: tensor "${name}" dtype ${t.dtype} needs a ${ctor.name}: got ${
        (t.data as object)?.constructor?.name ?? typeof t.data
      }`,
    );
  }
  const n = product(t.shape);
  if (t.data.length !== n) {
    throw new TypeError(
      `encodeSafetensors: tensor "${name}" data length differs from its shape's size: ` +
        `length ${t.data.length}, shape [${t.shape.join(", ")}] has ${n}`,
    );
  }
}

/**
 * Encodes tensors (and optional string metadata) as safetensors bytes; see the module comment for
 * the order and padding. Throws TypeError when a tensor's dtype, array type, shape or length
 * disagree, or a name is `__metadata__`.
 */
export function encodeSafetensors(
  tensors: Record<string, SafeTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const names = Object.keys(tensors);
  for (const name of names) validateForWrite(name, tensors[name]);
  names.sort((a, b) => {
    const sa = DTYPES[tensors[a].dtype].size, sb = DTYPES[tensors[b].dtype].size;
    if (sa !== sb) return sb - sa;
    return a < b ? -1 : a > b ? 1 : 0;
  });

  // Built as text rather than via JSON.stringify(object) so that integer-like names ("0") keep
  // their place: JavaScript objects list integer keys first.
  const entries: string[] = [];
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") {
        throw new TypeError(`encodeSafetensors: metadata "${k}" must be a string: ${typeof v}`);
      }
    }
    if (Object.keys(metadata).length > 0) {
      entries.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(metadata)}`);
    }
  }
  let offset = 0;
  for (const name of names) {
    const t = tensors[name];
    const end = offset + t.data.byteLength;
    const info = `{"dtype":"${t.dtype}","shape":[${
      t.shape.join(",")
    }],"data_offsets":[${offset},${end}]}`;
    entries.push(`${JSON.stringify(name)}:${info}`);
    offset = end;
  }
  const json = new TextEncoder().encode(`{${entries.join(",")}}`);
  const headerLen = json.length + ((8 - (json.length % 8)) % 8);

  const out = new Uint8Array(8 + headerLen + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let pos = 8 + headerLen;
  for (const name of names) {
    const t = tensors[name];
    out.set(arrayToBytes(t.data, DTYPES[t.dtype].size), pos);
    pos += t.data.byteLength;
  }
  return out;
}

/**
 * Decodes safetensors bytes. `source` (e.g. the file path) is named in error messages. Throws
 * RangeError for sizes and offsets that do not fit, SyntaxError for a header that is not JSON, and
 * TypeError for a header of the wrong structure (unknown dtype, bad shape, shape/offset mismatch,
 * non-string metadata, duplicate names).
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  source?: string,
): { tensors: Record<string, SafeTensor>; metadata: Record<string, string> } {
  const at = where(source);
  if (bytes.length < 8) {
    throw new RangeError(
      `safetensors${at}: file shorter than the 8-byte header length: ${bytes.length} bytes`,
    );
  }
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(bytes.length - 8)) {
    throw new RangeError(
      `safetensors${at}: header length beyond the file: header ${n} bytes, file ${bytes.length} bytes`,
    );
  }
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new RangeError(`safetensors${at}: header too large: ${n} bytes > ${MAX_HEADER_BYTES}`);
  }
  const headerLen = Number(n);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerLen));
  } catch {
    throw new TypeError(`safetensors${at}: header is not valid UTF-8: ${headerLen} bytes`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new SyntaxError(`safetensors${at}: header is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw new TypeError(`safetensors${at}: header must be a JSON object: ${text.slice(0, 80)}`);
  }
  const keys = Object.keys(header);
  const seen = topLevelKeyCount(text);
  if (seen !== keys.length) {
    throw new TypeError(
      `safetensors${at}: header has duplicate names: ${seen} keys, ${keys.length} distinct`,
    );
  }

  const record = header as Record<string, unknown>;
  const metadata: Record<string, string> = {};
  if (Object.hasOwn(record, METADATA_KEY)) {
    const m = record[METADATA_KEY];
    if (typeof m !== "object" || m === null || Array.isArray(m)) {
      throw new TypeError(
        `safetensors${at}: ${METADATA_KEY} must be an object: ${JSON.stringify(m)}`,
      );
    }
    for (const [k, v] of Object.entries(m)) {
      if (typeof v !== "string") {
        throw new TypeError(
          `safetensors${at}: ${METADATA_KEY} value "${k}" must be a string: ${JSON.stringify(v)}`,
        );
      }
      Object.defineProperty(metadata, k, {
        value: v,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }

  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const infos: { name: string; dtype: SafeDType; shape: number[]; begin: number; end: number }[] =
    [];
  for (const name of keys) {
    if (name === METADATA_KEY) continue;
    infos.push(parseInfo(name, record[name], at));
  }
  const byOffset = [...infos].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (const info of byOffset) {
    if (info.begin !== expected) {
      throw new RangeError(
        `safetensors${at}: tensor "${info.name}" data_offsets are not contiguous: ` +
          `begins at ${info.begin}, expected ${expected}`,
      );
    }
    expected = info.end;
  }
  if (expected !== dataLen) {
    throw new RangeError(
      `safetensors${at}: data_offsets do not cover the data buffer: ` +
        `end at ${expected}, buffer is ${dataLen} bytes`,
    );
  }

  const entries = infos.map((info): [string, SafeTensor] => [info.name, {
    dtype: info.dtype,
    shape: info.shape,
    data: bytesToArray(bytes.subarray(dataStart + info.begin, dataStart + info.end), info.dtype),
  }]);
  // fromEntries defines own properties, so a tensor named "__proto__" stays a tensor.
  return { tensors: Object.fromEntries(entries), metadata };
}

function parseInfo(
  name: string,
  raw: unknown,
  at: string,
): { name: string; dtype: SafeDType; shape: number[]; begin: number; end: number } {
  const ctx = `safetensors${at}: tensor "${name}"`;
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new TypeError(`${ctx} entry must be an object: ${JSON.stringify(raw)}`);
  }
  const r = raw as Record<string, unknown>;
  for (const k of Object.keys(r)) {
    if (k !== "dtype" && k !== "shape" && k !== "data_offsets") {
      throw new TypeError(`${ctx} has an unknown field: ${k}`);
    }
  }
  if (!isSafeDType(r.dtype)) {
    throw new TypeError(`${ctx} dtype is unknown or unsupported: ${JSON.stringify(r.dtype)}`);
  }
  if (!Array.isArray(r.shape) || !r.shape.every(isDim)) {
    throw new TypeError(`${ctx} shape must be non-negative integers: ${JSON.stringify(r.shape)}`);
  }
  const off = r.data_offsets;
  if (!Array.isArray(off) || off.length !== 2 || !off.every(isDim) || off[0] > off[1]) {
    throw new TypeError(
      `${ctx} data_offsets must be [begin, end] with 0 <= begin <= end: ${JSON.stringify(off)}`,
    );
  }
  const shape = r.shape as number[];
  const [begin, end] = off as number[];
  const need = product(shape) * DTYPES[r.dtype].size;
  if (end - begin !== need) {
    throw new TypeError(
      `${ctx} shape and data_offsets disagree: shape ${
        JSON.stringify(shape)
      } ${r.dtype} needs ${need} bytes, offsets [${begin}, ${end}] span ${end - begin}`,
    );
  }
  return { name, dtype: r.dtype, shape, begin, end };
}

/**
 * Counts the keys of the top-level object in JSON text already known to be valid, because
 * JSON.parse keeps only the last of duplicated keys. Tracks nesting depth and skips strings; a
 * string at depth 1 right after `{` or `,` is a key.
 */
function topLevelKeyCount(text: string): number {
  let depth = 0;
  let count = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') {
      if (depth === 1 && expectKey) count++;
      expectKey = false;
      for (i++; text[i] !== '"'; i++) if (text[i] === "\\") i++;
    } else if (ch === "{" || ch === "[") {
      depth++;
      expectKey = depth === 1;
    } else if (ch === "}" || ch === "]") {
      depth--;
    } else if (ch === "," && depth === 1) {
      expectKey = true;
    }
  }
  return count;
}

/**
 * Writes a safetensors file atomically: the bytes go to `<path>.tmp-<pid>`, are flushed to disk,
 * and the temporary file is renamed over `path` (engine/atomic_write.ts). On a failed write (a
 * full disk…) the temporary file is removed and a WriteError names `path`; `opts.write` injects
 * the write call (tests).
 */
export async function writeSafetensors(
  path: string,
  tensors: Record<string, SafeTensor>,
  metadata?: Record<string, string>,
  opts: { write?: WriteFn } = {},
): Promise<void> {
  const bytes = encodeSafetensors(tensors, metadata);
  await writeFileAtomically(path, bytes, { tmp: `${path}.tmp-${Deno.pid}`, write: opts.write });
}

/** Reads and decodes a safetensors file; errors name the path. */
export async function readSafetensors(
  path: string,
): Promise<{ tensors: Record<string, SafeTensor>; metadata: Record<string, string> }> {
  return decodeSafetensors(await Deno.readFile(path), path);
}

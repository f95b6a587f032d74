/**
 * Tensors to and from safetensors files (checkpoints, test fixtures, op-check cases).
 * f32 tensors are stored as F32 (also from a float64 ref backend), i32 as I32.
 */
import type { Backend } from "./backend.ts";
import { readSafetensors, type SafeTensor, writeSafetensors } from "./safetensors.ts";
import { Tensor, tensor } from "./tensor.ts";

/** Host copy of a tensor in safetensors form. */
export function toSafeTensor(t: Tensor): SafeTensor {
  const host = t.toArray();
  return t.dtype === "i32"
    ? { dtype: "I32", shape: [...t.shape], data: Int32Array.from(host) }
    : { dtype: "F32", shape: [...t.shape], data: Float32Array.from(host) };
}

/** A tensor on `backend` from a safetensors entry (F64 → f32, I64 → i32 with a range check). */
export function fromSafeTensor(backend: Backend, name: string, s: SafeTensor): Tensor {
  if (s.dtype === "I64") {
    const d = s.data as BigInt64Array;
    const out = new Int32Array(d.length);
    for (let i = 0; i < d.length; i++) {
      if (d[i] > 2147483647n || d[i] < -2147483648n) {
        throw new RangeError(`${name}: I64 value ${d[i]} at ${i} does not fit i32`);
      }
      out[i] = Number(d[i]);
    }
    return tensor(backend, out, s.shape, { dtype: "i32" });
  }
  return tensor(backend, s.data as ArrayLike<number>, s.shape, {
    dtype: s.dtype === "I32" ? "i32" : "f32",
  });
}

/** Writes named tensors (atomically) with string metadata. */
export async function saveTensors(
  path: string,
  tensors: Record<string, Tensor>,
  metadata: Record<string, string> = {},
): Promise<void> {
  const out: Record<string, SafeTensor> = {};
  for (const [k, t] of Object.entries(tensors)) out[k] = toSafeTensor(t);
  await writeSafetensors(path, out, metadata);
}

/** Reads a safetensors file into tensors on `backend`. */
export async function loadTensors(
  backend: Backend,
  path: string,
): Promise<{ tensors: Record<string, Tensor>; metadata: Record<string, string> }> {
  const { tensors, metadata } = await readSafetensors(path);
  const out: Record<string, Tensor> = {};
  for (const [k, s] of Object.entries(tensors)) out[k] = fromSafeTensor(backend, k, s);
  return { tensors: out, metadata };
}

/**
 * A caching allocator for host backends: buffers released with `free` are kept, by dtype and
 * length, and handed out again by `alloc` — zero-filled by the backend's own `fill` kernel when the
 * caller asks for zeros, untouched otherwise. Training repeats the same shapes every step, so after
 * the first step allocation costs no page faults and, for outputs a kernel overwrites, no zeroing
 * (fresh typed arrays are always zeroed by the runtime).
 *
 * Only buffers the engine knows to be dead reach the pool: gradients consumed by `backward`, saved
 * internals of a backward rule, tensors disposed explicitly (e.g. by `zeroGrad`). Everything else
 * is left to the garbage collector, as without the pool.
 */
import type { Backend, Buf, DType } from "../backend.ts";

export interface PoolOptions {
  /** Upper bound of bytes kept in the pool (default 4 GiB); beyond it, freed buffers are dropped. */
  maxBytes?: number;
}

export interface PoolStats {
  hits: number;
  misses: number;
  pooledBytes: number;
}

/** Wraps a host backend (typed-array buffers) with a caching allocator. */
export function withPool(
  inner: Backend,
  opts: PoolOptions = {},
): Backend & { poolStats(): PoolStats } {
  const maxBytes = opts.maxBytes ?? 4 * 2 ** 30;
  const free = new Map<string, Buf[]>();
  const pooled = new Set<Buf>();
  let pooledBytes = 0, hits = 0, misses = 0;
  const key = (dtype: DType, n: number) => `${dtype}:${n}`;
  const bytesOf = (b: Buf) => (b as unknown as ArrayBufferView).byteLength ?? b.length * 4;
  const dtypeOf = (b: Buf): DType => (b instanceof Int32Array ? "i32" : "f32");

  return {
    ...inner,
    name: inner.name,
    info: { ...inner.info, pool: `cache up to ${maxBytes} bytes` },
    alloc(dtype: DType, n: number, zero = true): Buf {
      const list = free.get(key(dtype, n));
      const b = list?.pop();
      if (!b) {
        misses++;
        return inner.alloc(dtype, n, zero);
      }
      hits++;
      pooled.delete(b);
      pooledBytes -= bytesOf(b);
      if (zero) inner.fill(n, 0, b);
      return b;
    },
    free(buf: Buf): void {
      const v = buf as unknown as ArrayBufferView;
      // Only whole buffers made by alloc can be pooled; views and foreign objects are ignored.
      if (!ArrayBuffer.isView(v) || v.byteOffset !== 0 || v.byteLength !== v.buffer.byteLength) {
        return;
      }
      if (pooled.has(buf)) throw new Error("free: buffer released twice");
      if (pooledBytes + v.byteLength > maxBytes) return;
      const k = key(dtypeOf(buf), buf.length);
      let list = free.get(k);
      if (!list) free.set(k, list = []);
      list.push(buf);
      pooled.add(buf);
      pooledBytes += v.byteLength;
    },
    poolStats: () => ({ hits, misses, pooledBytes }),
  };
}

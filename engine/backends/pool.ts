/**
 * A caching allocator for any backend: buffers released with `free` are kept, by dtype and length,
 * and handed out again by `alloc` — zero-filled by the backend's own `fill` kernel when the caller
 * asks for zeros, untouched otherwise. Training repeats the same shapes every step, so after the
 * first step allocation costs no page faults (host) or `cudaMalloc`/`cudaFree` (device, where a
 * free synchronises with the GPU) and, for outputs a kernel overwrites, no zeroing.
 *
 * Only buffers the engine knows to be dead reach the pool: gradients consumed by `backward`, saved
 * internals of a backward rule, tensors disposed explicitly (e.g. by `zeroGrad`). Everything else
 * is left to the garbage collector (host) or stays allocated (device), as without the pool.
 *
 * Only owners are pooled: buffers this pool's `alloc` obtained from the backend (recorded, by
 * identity, with their dtype and size). Views — even a view covering a whole buffer, which on the
 * host is a distinct typed array over the same memory — and foreign objects are passed on to the
 * backend's own `free` (a no-op on host; the cuda backend ignores views). A buffer the pool drops
 * (over `maxBytes`, or by `emptyPool`) goes back through the backend's `free` (`cudaFree` on
 * device).
 *
 * Out of memory: when the backend's `alloc` throws `OutOfMemoryError` and the pool holds buffers,
 * the pool releases all of them and retries the allocation once before raising.
 *
 * Safe on a device backend because every kernel of the cuda backend is queued on one stream in
 * order: work queued after a reuse runs after the work that used the buffer before its `free`.
 */
import type { Backend, Buf, DType } from "../backend.ts";
import { OutOfMemoryError } from "../errors.ts";

export interface PoolOptions {
  /** Upper bound of bytes kept in the pool (default 4 GiB); beyond it, freed buffers are dropped. */
  maxBytes?: number;
  /**
   * Fill every f32 buffer with NaN as it enters the pool (a debugging aid, `TRM_POOL_POISON=1`):
   * a read after `free`, or an output a kernel left partly unwritten, then shows as NaN.
   */
  poison?: boolean;
}

export interface PoolStats {
  /** `alloc` calls served from the pool. */
  hits: number;
  /** `alloc` calls passed to the backend. */
  misses: number;
  /** Bytes and buffers now kept in the pool. */
  pooledBytes: number;
  pooledBuffers: number;
  /** Freed buffers given back to the backend because the pool was full. */
  dropped: number;
  /** Out-of-memory allocations retried after emptying the pool. */
  oomRetries: number;
  /**
   * Bytes of buffers handed out by `alloc` and not given back by `free` (what a device would
   * hold besides the pool: buffers left to the garbage collector count until then, as on a GPU),
   * and their peak since the pool was made or `resetPeak` was called.
   */
  liveBytes: number;
  peakLiveBytes: number;
}

/** A backend wrapped by `withPool`: the backend plus the pool's statistics and release. */
export type PooledBackend = Backend & {
  poolStats(): PoolStats;
  /** Gives every pooled buffer back to the backend; returns the bytes released. */
  emptyPool(): number;
  /** Starts a new peak of `liveBytes` (from the current value). */
  resetPeak(): void;
};

/** Wraps a backend with a caching allocator. */
export function withPool(inner: Backend, opts: PoolOptions = {}): PooledBackend {
  const maxBytes = opts.maxBytes ?? 4 * 2 ** 30;
  if (!(maxBytes >= 0)) throw new RangeError(`withPool: maxBytes must be ≥ 0: ${maxBytes}`);
  const free = new Map<string, Buf[]>();
  const owners = new WeakMap<Buf, { dtype: DType; bytes: number }>(); // made by inner.alloc
  const pooled = new Map<Buf, number>(); // buffer → bytes
  let pooledBytes = 0, hits = 0, misses = 0, dropped = 0, oomRetries = 0;
  let liveBytes = 0, peakLiveBytes = 0;
  const handOut = (bytes: number) => {
    liveBytes += bytes;
    if (liveBytes > peakLiveBytes) peakLiveBytes = liveBytes;
  };
  const key = (dtype: DType, n: number) => `${dtype}:${n}`;

  /** Gives an owner back to the backend for good (a later free of it is the backend's to judge). */
  function release(b: Buf) {
    owners.delete(b);
    inner.free(b);
  }

  function emptyPool(): number {
    const released = pooledBytes;
    const bufs = [...pooled.keys()];
    free.clear();
    pooled.clear();
    pooledBytes = 0;
    for (const b of bufs) release(b);
    return released;
  }

  return {
    ...inner,
    name: inner.name,
    info: { ...inner.info, pool: `cache up to ${maxBytes} bytes` },
    alloc(dtype: DType, n: number, zero = true): Buf {
      const b = free.get(key(dtype, n))?.pop();
      if (b) {
        hits++;
        const bytes = pooled.get(b)!;
        pooledBytes -= bytes;
        pooled.delete(b);
        handOut(bytes);
        if (zero) inner.fill(n, 0, b);
        return b;
      }
      misses++;
      let out: Buf;
      try {
        out = inner.alloc(dtype, n, zero);
      } catch (e) {
        if (!(e instanceof OutOfMemoryError) || pooled.size === 0) throw e;
        oomRetries++;
        emptyPool();
        out = inner.alloc(dtype, n, zero);
      }
      // host typed arrays know their size (the ref backend may store f32 as float64); else 4 B
      const bytes = (out as unknown as ArrayBufferView).byteLength ?? n * 4;
      owners.set(out, { dtype, bytes });
      handOut(bytes);
      return out;
    },
    free(buf: Buf): void {
      const o = owners.get(buf);
      // views and foreign objects: the backend decides (host: nothing; cuda: ignores views)
      if (!o) return inner.free(buf);
      if (pooled.has(buf)) throw new Error("free: buffer released twice");
      liveBytes -= o.bytes;
      if (pooledBytes + o.bytes > maxBytes) {
        dropped++;
        return release(buf);
      }
      if (opts.poison && o.dtype === "f32") inner.fill(buf.length, NaN, buf);
      const k = key(o.dtype, buf.length);
      let list = free.get(k);
      if (!list) free.set(k, list = []);
      list.push(buf);
      pooled.set(buf, o.bytes);
      pooledBytes += o.bytes;
    },
    poolStats: () => ({
      hits,
      misses,
      pooledBytes,
      pooledBuffers: pooled.size,
      dropped,
      oomRetries,
      liveBytes,
      peakLiveBytes,
    }),
    emptyPool,
    resetPeak() {
      peakLiveBytes = liveBytes;
    },
  };
}

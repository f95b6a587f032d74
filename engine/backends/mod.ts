/**
 * Backend selection. `getBackend("auto")` returns the native `cpu` backend when its library can be
 * built and loaded, otherwise the `ref` backend with a one-line warning saying why and how to fix
 * it. `TRM_BACKEND` (ref | cpu | cuda | auto) overrides the default choice; `cuda` is never chosen
 * by `auto`.
 *
 * The cpu and cuda backends come wrapped in the caching allocator of pool.ts (`TRM_POOL=0` turns it
 * off). The cap on cached bytes is `TRM_POOL_MAX_BYTES`, else 4 GiB on cpu and 90 % of the device
 * memory on cuda: there a cached buffer only stands in for a `cudaMalloc` the next step would make
 * anyway, and an allocation that fails for lack of memory empties the cache and retries once.
 * `TRM_POOL_POISON=1` fills buffers with NaN as they are freed (finds reads after free).
 */
import type { Backend } from "../backend.ts";
import { NativeUnavailableError } from "../errors.ts";
import { createCpuBackend } from "./cpu/mod.ts";
import { createCudaBackend, type CudaOptions } from "./cuda/cuda.ts";
import { createRefBackend } from "./ref/mod.ts";
import { withPool } from "./pool.ts";
import { readSwitch } from "../switches.ts";

export type BackendName = "auto" | "ref" | "cpu" | "cuda";

const cache = new Map<string, Backend>();
let warned = false;

/** The shared backend instance of that name (created once per process). */
export function getBackend(name?: BackendName): Backend {
  const want = name ?? (readSwitch("TRM_BACKEND") as BackendName | undefined) ?? "auto";
  if (!["auto", "ref", "cpu", "cuda"].includes(want)) {
    throw new RangeError(`getBackend: unknown backend: ${want} (expected auto, ref, cpu or cuda)`);
  }
  const hit = cache.get(want);
  if (hit) return hit;
  let be: Backend;
  if (want === "ref") be = createRefBackend();
  else if (want === "cpu") be = pooled(createCpuBackend());
  // Explicit only: "auto" stays on the CPU until the CUDA backend meets its speed goals.
  else if (want === "cuda") be = createPooledCuda();
  else {
    try {
      be = pooled(createCpuBackend());
    } catch (e) {
      if (!(e instanceof NativeUnavailableError)) throw e;
      if (!warned) {
        console.warn(`warning: using the slow ref backend: ${e.reason} (fix: ${e.fix})`);
        warned = true;
      }
      be = createRefBackend();
    }
  }
  cache.set(want, be);
  return be;
}

/**
 * A new cuda backend (its own instance, e.g. with another GEMM math) wrapped in the caching
 * allocator as `getBackend("cuda")` wraps it (TRM_POOL, TRM_POOL_MAX_BYTES, 90 % of the device).
 */
export function createPooledCuda(opts: CudaOptions = {}): Backend {
  const cuda = createCudaBackend(opts);
  return pooled(cuda, 0.9 * Number(cuda.info.memoryBytes));
}

function pooled(be: Backend, defaultMaxBytes = 4 * 2 ** 30): Backend {
  if (readSwitch("TRM_POOL") === "0") return be;
  const env = readSwitch("TRM_POOL_MAX_BYTES");
  const maxBytes = env === undefined ? defaultMaxBytes : Number(env);
  return withPool(be, {
    maxBytes: Math.floor(maxBytes),
    poison: readSwitch("TRM_POOL_POISON") === "1",
  });
}

/** Whether the native cpu backend can be created here; the reason when it cannot. */
export function nativeStatus(): { ok: true } | { ok: false; reason: string } {
  try {
    getBackend("cpu");
    return { ok: true };
  } catch (e) {
    if (e instanceof NativeUnavailableError) return { ok: false, reason: e.message };
    throw e;
  }
}

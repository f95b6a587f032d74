/**
 * Backend selection. `getBackend("auto")` returns the native `cpu` backend when its library can be
 * built and loaded, otherwise the `ref` backend with a one-line warning saying why and how to fix
 * it. `TRM_BACKEND` (ref | cpu | auto) overrides the default choice. The cpu backend comes wrapped
 * in the caching allocator of pool.ts (`TRM_POOL=0` turns it off).
 */
import type { Backend } from "../backend.ts";
import { NativeUnavailableError } from "../errors.ts";
import { createCpuBackend } from "./cpu.ts";
import { createCudaBackend } from "./cuda/cuda.ts";
import { createRefBackend } from "./ref.ts";
import { withPool } from "./pool.ts";

export type BackendName = "auto" | "ref" | "cpu" | "cuda";

const cache = new Map<string, Backend>();
let warned = false;

/** The shared backend instance of that name (created once per process). */
export function getBackend(name?: BackendName): Backend {
  const want = name ?? (Deno.env.get("TRM_BACKEND") as BackendName | undefined) ?? "auto";
  if (!["auto", "ref", "cpu", "cuda"].includes(want)) {
    throw new RangeError(`getBackend: unknown backend: ${want} (expected auto, ref, cpu or cuda)`);
  }
  const hit = cache.get(want);
  if (hit) return hit;
  let be: Backend;
  if (want === "ref") be = createRefBackend();
  else if (want === "cpu") be = pooled(createCpuBackend());
  // Explicit only: "auto" stays on the CPU until the CUDA backend meets its speed goals.
  else if (want === "cuda") be = createCudaBackend();
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

function pooled(be: Backend): Backend {
  return Deno.env.get("TRM_POOL") === "0" ? be : withPool(be);
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

/**
 * `cuda` backend, buffers family: device-to-device copy, strided 2-D copy, fill (f32 and i32 alike,
 * as 4-byte bits).
 */
import type { FamilyMethods } from "../../kernels.ts";
import type { CudaBuf, CudaContext } from "./context.ts";

/** The buffers kernels of the cuda backend. */
export function cudaBuffers(ctx: CudaContext): FamilyMethods<"buffers"> {
  const { L, B, check, cb } = ctx;
  return {
    copy(n, src, dst) {
      const s = cb(src, "copy", "src", (src as CudaBuf).dtype);
      const d = cb(dst, "copy", "dst", s.dtype);
      check(L.trm_cuda_copy(s.ptr, d.ptr, B(n * 4)), "copy");
    },
    copy2d(rows, cols, src, lds, dst, ldd) {
      const K = "copy2d";
      const s = cb(src, K, "src", (src as CudaBuf).dtype), d = cb(dst, K, "dst", s.dtype);
      if (rows === 0 || cols === 0) return;
      check(L.trm_cuda_copy2d(B(rows), B(cols), s.ptr, B(lds), d.ptr, B(ldd)), K);
    },
    fill(n, value, dst) {
      const d = cb(dst, "fill", "dst", (dst as CudaBuf).dtype);
      const bits = d.dtype === "f32"
        ? new Uint32Array(Float32Array.of(value).buffer)[0]
        : (value | 0) >>> 0;
      check(L.trm_cuda_fill(B(n), bits, d.ptr), "fill");
    },
  };
}

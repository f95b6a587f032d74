/**
 * `ref` backend: plain TypeScript scalar loops, float64 arithmetic and accumulation.
 *
 * The oracle every other backend is tested against, and the automatic fallback when native code
 * cannot be built. With `precision: "f64"` its "f32" buffers are Float64Arrays, so whole
 * computations run in float64 — what finite-difference gradient checks need.
 *
 * This module holds the buffer methods and assembles the backend; the kernels live in one module
 * per family of the kernel table (engine/kernels.ts `KERNEL_FAMILIES`): buffers.ts, gemm.ts,
 * elementwise.ts, norm.ts, embedding.ts, attention.ts, loss.ts, optim.ts, ssm.ts.
 *
 * @example
 * ```ts
 * import { createRefBackend } from "./mod.ts";
 * const be = createRefBackend({ precision: "f64" });
 * const x = be.alloc("f32", 4), out = be.alloc("f32", 1);
 * be.upload(x, [1, 2, 3, 4]);
 * be.sum(4, x, out);
 * console.log(be.download(out)[0]); // 10
 * ```
 */
import type { Backend, Buf, DType, HostArray } from "../../backend.ts";
import { withKernelChecks } from "../../kernels.ts";
import { refAttention } from "./attention.ts";
import { refBuffers } from "./buffers.ts";
import { refElementwise } from "./elementwise.ts";
import { refEmbedding } from "./embedding.ts";
import { refGemm } from "./gemm.ts";
import { refLoss } from "./loss.ts";
import { refNorm } from "./norm.ts";
import { refOptim } from "./optim.ts";
import { refSsm } from "./ssm.ts";
import type { F, I, RefContext } from "./util.ts";

export type { RefContext } from "./util.ts";

export interface RefOptions {
  /** Storage of "f32" buffers: float32 (default, matches other backends) or float64. */
  precision?: "f32" | "f64";
}

/** Creates the reference backend. */
export function createRefBackend(opts: RefOptions = {}): Backend {
  const precision = opts.precision ?? "f32";
  const Arr = precision === "f64" ? Float64Array : Float32Array;
  const ctx: RefContext = { precision, Arr };

  const be: Backend = {
    name: "ref",
    info: { backend: "ref", precision },

    alloc(dtype: DType, n: number): Buf {
      if (!Number.isInteger(n) || n < 0) throw new RangeError(`alloc: bad length: ${n}`);
      return dtype === "i32" ? new Int32Array(n) : new Arr(n);
    },
    free(_buf: Buf) {},
    view(buf: Buf, offset: number, n: number): Buf {
      if (offset < 0 || offset + n > buf.length) {
        throw new RangeError(`view: [${offset}, ${offset + n}) outside buffer of ${buf.length}`);
      }
      return (buf as F | I).subarray(offset, offset + n);
    },
    upload(dst: Buf, src: ArrayLike<number>) {
      if (src.length !== dst.length) {
        throw new RangeError(`upload: length ${src.length} into buffer of ${dst.length}`);
      }
      (dst as F | I).set(src);
    },
    download(src: Buf): HostArray {
      return (src as F | I).slice();
    },
    sync() {},

    ...refBuffers(ctx),
    ...refGemm(ctx),
    ...refElementwise(ctx),
    ...refNorm(ctx),
    ...refEmbedding(ctx),
    ...refAttention(ctx),
    ...refLoss(ctx),
    ...refOptim(ctx),
    ...refSsm(ctx),
  };
  // Sizes, dtypes and constraints of every kernel: the kernel table (engine/kernels.ts).
  return withKernelChecks(be);
}

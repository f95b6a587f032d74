/**
 * `cuda` backend, gemm family: batched GEMM through cuBLAS (in the backend's GEMM math) when it
 * loaded, else our tiled f32 kernel.
 */
import { KernelError } from "../../errors.ts";
import type { FamilyMethods } from "../../kernels.ts";
import type { CudaContext } from "./context.ts";
import { CUBLAS_STATUS } from "./cublas.ts";

const I32_MAX = 2147483647;

/** The gemm kernels of the cuda backend. */
export function cudaGemm(ctx: CudaContext): FamilyMethods<"gemm"> {
  const { L, B, check, cb, cublas, math } = ctx;
  return {
    gemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, batch, sA, sB, sC) {
      const K = "gemm";
      const sizes = `m=${m}, n=${n}, k=${k}, lda=${lda}, ldb=${ldb}, ldc=${ldc}, batch=${batch}`;
      const A = cb(a, K, "a"), Bb = cb(b, K, "b"), C = cb(c, K, "c");
      if (m === 0 || n === 0 || batch === 0) return;
      const fits = [m, n, k, lda, ldb, ldc, batch].every((v) => v <= I32_MAX);
      if (cublas && k > 0 && fits) {
        const st = cublas.gemm(
          ...[tA, tB, m, n, k, alpha, A.ptr, lda, Bb.ptr, ldb, beta, C.ptr, ldc] as const,
          ...[batch, sA, sB, sC] as const,
        );
        if (st !== 0) {
          throw new KernelError(
            `cuda gemm (${
              math === "f32" ? "cublasSgemmStridedBatched" : "cublasGemmStridedBatchedEx"
            }, ${math})`,
            `${CUBLAS_STATUS[st] ?? `status ${st}`}: ${sizes}`,
          );
        }
        return;
      }
      check(
        L.trm_cuda_gemm(
          tA ? 1 : 0,
          tB ? 1 : 0,
          B(m),
          B(n),
          B(k),
          alpha,
          A.ptr,
          B(lda),
          Bb.ptr,
          B(ldb),
          beta,
          C.ptr,
          B(ldc),
          B(batch),
          B(sA),
          B(sB),
          B(sC),
        ),
        K,
      );
    },
  };
}

/**
 * `cpu` backend, gemm family: batched GEMM through OpenBLAS `cblas_sgemm` when the backend chose it
 * (and k > 0 and every size fits an int32), else our blocked C GEMM (`trm_gemm`).
 */
import type { FamilyMethods } from "../../kernels.ts";
import type { CpuContext } from "./context.ts";

const I32_MAX = 2147483647;
// OpenBLAS's thread count is process-global: each call re-applies its backend's count when another
// backend changed it.
let blasThreads = -1;

/** The gemm kernels of the cpu backend. */
export function cpuGemm(ctx: CpuContext): FamilyMethods<"gemm"> {
  const { nat, f, blas, threads } = ctx;
  return {
    gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, batch, sa, sb, sc) {
      const K = "gemm";
      const A = f(a, K, "a"), B = f(b, K, "b"), C = f(c, K, "c");
      if (m === 0 || n === 0 || batch === 0) return;
      const fits = Math.max(m, n, k, lda, ldb, ldc) <= I32_MAX;
      if (blas && k > 0 && fits) {
        if (blasThreads !== threads) {
          blas.symbols.openblas_set_num_threads(threads);
          blasThreads = threads;
        }
        const sg = blas.symbols.cblas_sgemm, tA = ta ? 112 : 111, tB = tb ? 112 : 111;
        for (let bi = 0; bi < batch; bi++) {
          sg(
            101,
            tA,
            tB,
            m,
            n,
            k,
            alpha,
            bi === 0 || sa === 0 ? A : A.subarray(bi * sa),
            lda,
            bi === 0 || sb === 0 ? B : B.subarray(bi * sb),
            ldb,
            beta,
            bi === 0 || sc === 0 ? C : C.subarray(bi * sc),
            ldc,
          );
        }
        return;
      }
      nat().trm_gemm(
        ta ? 1 : 0,
        tb ? 1 : 0,
        m,
        n,
        k,
        alpha,
        A,
        lda,
        B,
        ldb,
        beta,
        C,
        ldc,
        batch,
        sa,
        sb,
        sc,
      );
    },
  };
}

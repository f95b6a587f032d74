/**
 * `ref` backend, gemm family: batched GEMM as the plain triple loop, float64 accumulation.
 */
import type { FamilyMethods } from "../../kernels.ts";
import { f, type RefContext } from "./util.ts";

/** The gemm kernels of the ref backend. */
export function refGemm(_ctx: RefContext): FamilyMethods<"gemm"> {
  return {
    gemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, batch, sA, sB, sC) {
      const A = f(a), B = f(b), C = f(c);
      for (let p = 0; p < batch; p++) {
        const oa = p * sA, ob = p * sB, oc = p * sC;
        for (let r = 0; r < m; r++) {
          for (let col = 0; col < n; col++) {
            let acc = 0;
            for (let q = 0; q < k; q++) {
              const av = tA ? A[oa + q * lda + r] : A[oa + r * lda + q];
              const bv = tB ? B[ob + col * ldb + q] : B[ob + q * ldb + col];
              acc += av * bv;
            }
            const ci = oc + r * ldc + col;
            C[ci] = beta === 0 ? alpha * acc : alpha * acc + beta * C[ci];
          }
        }
      }
    },
  };
}

/**
 * `cuda` backend, optim family: AdamATan2, sign-SGD on embedding rows, EMA.
 */
import type { FamilyMethods } from "../../kernels.ts";
import type { CudaContext } from "./context.ts";

/** The optim kernels of the cuda backend. */
export function cudaOptim(ctx: CudaContext): FamilyMethods<"optim"> {
  const { L, B, check, cb, ptrs } = ctx;
  return {
    adamAtan2(n, p, g, m, v, lr, wd, beta1, beta2, bc1, bc2) {
      const [P, G, M, V] = ptrs("adamAtan2", { p, g, m, v });
      check(L.trm_cuda_adam_atan2(B(n), P, G, M, V, lr, wd, beta1, beta2, bc1, bc2), "adamAtan2");
    },
    signSgdRows(n, dim, ids, grads, table, lr, wd) {
      const K = "signSgdRows";
      const [G, T] = ptrs(K, { grads, table }), ID = cb(ids, K, "ids", "i32").ptr;
      const rows = dim > 0 ? Math.floor(table.length / dim) : 0;
      check(L.trm_cuda_sign_sgd_rows(B(n), B(dim), ID, G, T, B(rows), lr, wd), K);
    },
    ema(n, shadow, p, decay) {
      const [S, P] = ptrs("ema", { shadow, p });
      check(L.trm_cuda_ema(B(n), S, P, decay), "ema");
    },
  };
}

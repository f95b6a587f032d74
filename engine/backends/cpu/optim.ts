/**
 * `cpu` backend, optim family: AdamATan2, sign-SGD on embedding rows, EMA.
 */
import type { FamilyMethods } from "../../kernels.ts";
import type { CpuContext } from "./context.ts";

/** The optim kernels of the cpu backend. */
export function cpuOptim(ctx: CpuContext): FamilyMethods<"optim"> {
  const { nat, i, fs, badIndex } = ctx;
  return {
    adamAtan2(n, p, g, m, v, lr, wd, beta1, beta2, bc1, bc2) {
      const [P, G, M, V] = fs("adamAtan2", { p, g, m, v });
      nat().trm_adam_atan2(n, P, G, M, V, lr, wd, beta1, beta2, bc1, bc2);
    },
    signSgdRows(n, dim, ids, grads, table, lr, wd) {
      const K = "signSgdRows";
      const [G, T] = fs(K, { grads, table }), ID = i(ids, K, "ids");
      const rows = dim > 0 ? Math.floor(T.length / dim) : 0;
      const bad = badIndex(nat().trm_sign_sgd_rows(n, dim, ID, G, T, rows, lr, wd));
      if (bad >= 0) {
        throw new RangeError(`${K}: id ${ID[bad]} at ${bad} outside table of ${rows} rows`);
      }
    },
    ema(n, shadow, p, decay) {
      const [S, P] = fs("ema", { shadow, p });
      nat().trm_ema(n, S, P, decay);
    },
  };
}

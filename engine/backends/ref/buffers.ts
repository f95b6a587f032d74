/**
 * `ref` backend, buffers family: copy, strided 2-D copy, fill (on f32 and i32 buffers alike).
 */
import type { FamilyMethods } from "../../kernels.ts";
import { type F, type I, type RefContext } from "./util.ts";

/** The buffers kernels of the ref backend. */
export function refBuffers(_ctx: RefContext): FamilyMethods<"buffers"> {
  return {
    copy(n, src, dst) {
      (dst as F | I).set((src as F | I).subarray(0, n));
    },
    copy2d(rows, cols, src, lds, dst, ldd) {
      const S = src as F | I, D = dst as F | I;
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) D[r * ldd + c] = S[r * lds + c];
      }
    },
    fill(n, value, dst) {
      (dst as F | I).fill(value, 0, n);
    },
  };
}

/**
 * `cpu` backend, buffers family: copy, strided 2-D copy (in C: f32 and i32 alike, as 4-byte bits),
 * fill.
 */
import type { Buf } from "../../backend.ts";
import type { FamilyMethods } from "../../kernels.ts";
import type { CpuContext } from "./context.ts";

/** The buffers kernels of the cpu backend. */
export function cpuBuffers(ctx: CpuContext): FamilyMethods<"buffers"> {
  const { nat } = ctx;
  return {
    copy(n: number, src: Buf, dst: Buf) {
      const s = src as Float32Array | Int32Array, d = dst as Float32Array | Int32Array;
      if (s.constructor !== d.constructor) throw new TypeError("copy: src and dst dtypes differ");
      d.set(s.subarray(0, n) as Float32Array & Int32Array);
    },
    copy2d(rows: number, cols: number, src: Buf, lds: number, dst: Buf, ldd: number) {
      const K = "copy2d";
      const s = src as Float32Array | Int32Array, d = dst as Float32Array | Int32Array;
      if (s.constructor !== d.constructor) throw new TypeError(`${K}: src and dst dtypes differ`);
      if (rows === 0 || cols === 0) return;
      // i32 and f32 are both 4-byte elements: the C copy moves bits
      const bytes = (a: Float32Array | Int32Array) =>
        a instanceof Float32Array ? a : new Float32Array(a.buffer, a.byteOffset, a.length);
      nat().trm_copy2d(rows, cols, bytes(s), lds, bytes(d), ldd);
    },
    fill(n: number, value: number, dst: Buf) {
      (dst as Float32Array | Int32Array).fill(value, 0, n);
    },
  };
}

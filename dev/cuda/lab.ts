/**
 * The CUDA kernel lab (dev/cuda/README.md): variants of the cuda backend's kernels that have not
 * earned a place in engine/backends/cuda/ yet, built into a library of their own and run inside
 * the real backend through its `lab` plug point.
 *
 * - `buildLab()`: the lab library, `libtrm_cuda_lab-<hash>.so` beside the mainline one — the
 *   mainline sources (engine/backends/cuda/*.cu) plus this folder's, hashed over both (build.ts's
 *   `buildCuda({ extraSourceDir, name })`). Run as a script it builds: `deno run -A
 *   dev/cuda/lab.ts [--force]`.
 * - `labBackend(variant)`: a cuda backend whose attention or SSD scan is the variant's
 *   (`createCudaBackend({ lab })`); everything else is the lab library's copy of the mainline.
 *   Throws `NativeUnavailableError` without nvcc or a GPU, like `createCudaBackend`.
 * - the tolerances of the tf32 variants against an f32 oracle: `TF32_U`, `TF32_TOL`,
 *   `SSD_TF32_TOL`.
 *
 * @example
 * ```ts
 * import { labBackend } from "./lab.ts";
 * const be = labBackend("attention-tc"); // NativeUnavailableError without a GPU
 * console.log(be.info.attention); // "lab attention-tc: tc (flash attention, …"
 * ```
 */
import type { Backend } from "../../engine/backend.ts";
import { buildCuda, type CudaBuildResult } from "../../engine/backends/cuda/build.ts";
import {
  createCudaBackend,
  type CudaLab,
  type CudaLabKernel,
  type CudaOptions,
} from "../../engine/backends/cuda/cuda.ts";
import { NativeUnavailableError } from "../../engine/errors.ts";
import { runBuildCli } from "../../engine/native/build_util.ts";

/** This folder: the lab's .cu / .cuh sources. */
export const LAB_DIR = new URL("./", import.meta.url);
/** The lab library's base name: libtrm_cuda_lab-<hash>.so. */
export const LAB_NAME = "trm_cuda_lab";

/** The variants of the lab, by name. */
export type LabVariant = "attention-tc" | "ssd-chunked" | "ssd-chunked-tc";

/** Each variant: the op it replaces, its entry points in the lab library and its label. */
export const LAB_VARIANTS: Record<LabVariant, { op: "attention" | "ssd" } & CudaLabKernel> = {
  "attention-tc": {
    op: "attention",
    forward: "trm_cuda_attention_tc",
    backward: "trm_cuda_attention_tc_backward",
    label: "lab attention-tc: tc (flash attention, tf32 tensor-core tile products, f32 " +
      "accumulation and softmax; dev/cuda/attention_tc.cu; simt for headDim not a multiple of " +
      "16 or > 128, below sm_80, and for a backward whose blocks exceed the device's shared " +
      "memory: headDim 128)",
  },
  "ssd-chunked": {
    op: "ssd",
    forward: "trm_cuda_ssd_scan_chunked",
    backward: "trm_cuda_ssd_scan_chunked_backward",
    label: "lab ssd-chunked: chunked (arXiv:2405.21060 §6, chunk min(dims.chunk, 512), f32; " +
      "dev/cuda/ssd_chunked.cu; seq for a shape whose blocks exceed the device's shared memory)",
  },
  "ssd-chunked-tc": {
    op: "ssd",
    forward: "trm_cuda_ssd_scan_chunked_tc",
    backward: "trm_cuda_ssd_scan_chunked_tc_backward",
    label: "lab ssd-chunked-tc: chunked-tc (the chunked kernels with tf32 tensor-core tile " +
      "products, f32 accumulation and f32 everywhere else; dev/cuda/ssd_chunked.cu; chunked for " +
      "headDim or dState not a multiple of 16, min(chunk, seq) < 16, below sm_80 or when the " +
      "padded blocks exceed the device's shared memory; then seq as chunked)",
  },
};
export const LAB_VARIANT_NAMES = Object.keys(LAB_VARIANTS) as LabVariant[];

/** Builds the lab library if needed (mainline sources + this folder's); `force` recompiles. */
export function buildLab(force = false): CudaBuildResult {
  return buildCuda({ force, extraSourceDir: LAB_DIR, name: LAB_NAME });
}

/** The `lab` option of `createCudaBackend` for `variant` (builds the lab library if needed). */
export function labOptions(variant: LabVariant): CudaLab {
  const v = LAB_VARIANTS[variant];
  if (!v) {
    throw new RangeError(
      `labBackend: unknown variant ${variant} (one of ${LAB_VARIANT_NAMES.join(", ")})`,
    );
  }
  let library: string;
  try {
    library = buildLab().path;
  } catch (e) {
    if (!(e instanceof NativeUnavailableError)) throw e;
    throw new NativeUnavailableError(e.reason, e.fix, "cuda kernel lab");
  }
  const { op, forward, backward, label } = v;
  return { library, [op]: { forward, backward, label } };
}

/**
 * A cuda backend running `variant` in place of the mainline kernel of its op (the other options
 * as `createCudaBackend`'s). Throws `NativeUnavailableError` without nvcc, a driver or a device.
 */
export function labBackend(variant: LabVariant, opts: Omit<CudaOptions, "lab"> = {}): Backend {
  return createCudaBackend({ ...opts, lab: labOptions(variant) });
}

// ------------------------------------------------------------------------------------ tolerances

/** Unit roundoff of tf32 inputs (10 stored mantissa bits, round to nearest). */
export const TF32_U = 2 ** -11;

/**
 * Tolerances of the tc attention kernels against an f32 oracle on N(0, 1) inputs with scale 1/√D:
 * |tc − oracle| ≤ atol + rtol·|oracle|, out and lse absolute, the gradients (dq, dk, dv) with atol
 * times max |oracle gradient|. Derivation: each tf32-rounded operand is off by ≤ u relative
 * (uniform, σ u/√3), so a product by σ ≈ 0.82u relative and a D-term score sum of N(0, 1)
 * products, times 1/√D, by σ ≈ 0.82u absolute; that moves lse = m + log z by Σ P·δs (σ ≤ 0.82u)
 * and out by Σ P·δs·(v − out) plus the rounding of P·V (σ ≲ 1.2u together); the gradients are
 * the same kind of sums of rounded products, ≈ u relative to their scale. atol = 8u (≥ 6σ over
 * ~10⁶ elements); rtol = 4u as engine/backends/cuda/cuda_test.ts's tf32 GEMM tests (a truncating
 * conversion would bias results proportionally). The host simulation's tf32 mode
 * (attention_tc_test.ts) measures ≤ 1.4u (out), 0.8u (lse), 1.9u·max (grads, at L = 916): margins
 * of 4–10×.
 */
export const TF32_TOL = {
  out: { atol: 8 * TF32_U, rtol: 4 * TF32_U },
  lse: { atol: 8 * TF32_U, rtol: 0 },
  grad: { atol: 8 * TF32_U, rtol: 4 * TF32_U },
};

/**
 * Tolerance of the chunked-tc SSD against an f32 oracle: |tc − oracle| ≤ atol·max|oracle| +
 * rtol·|oracle| per output. Derivation: a tf32-rounded operand is off by ≤ u = 2⁻¹¹ relative
 * (σ u/√3), so each product by σ ≈ 0.82u relative; every output is a sum of such products, at
 * most three products deep (e.g. dB ← dCB ← dy·xᵀ; dΔ ← x·gx̄ ← CB, dS), so its error is about
 * √3·0.82u ≈ 1.4u of its largest magnitude, more where the segment sums of dΔ cancel. The host
 * simulation with tf32-rounded operands (ssd_chunked_test.ts) measures ≤ 3.2u·max (dΔ, dA under
 * the Δ·A stress; ≤ 1.9u elsewhere); atol = 16u leaves a margin of 5×, rtol = 4u as the tf32 GEMM
 * and attention tests (covers a conversion that truncates instead of rounding).
 */
export const SSD_TF32_TOL = { atol: 16 * TF32_U, rtol: 4 * TF32_U };

const USAGE = `usage: deno run -A dev/cuda/lab.ts [--force]
  Compiles the kernel lab library (engine/backends/cuda/*.cu plus dev/cuda/*.cu) with nvcc into
  engine/backends/cuda/build/libtrm_cuda_lab-<hash>.so (or $TRM_CUDA_BUILD_DIR) unless the library
  of the current sources, flags and nvcc is there; --force recompiles. Targets and compiler as
  deno task build:cuda (TRM_CUDA_ARCH, NVCC).`;

if (import.meta.main) {
  runBuildCli(
    "lab",
    USAGE,
    buildLab,
    (r) =>
      `built ${r.path} with ${r.nvcc} (${r.nvccVersion}) ${r.flags.join(" ")} in ${
        r.seconds!.toFixed(1)
      } s`,
  );
}

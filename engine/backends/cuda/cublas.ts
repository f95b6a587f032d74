/**
 * cuBLAS for the `cuda` backend, located and loaded at run time (`TRM_CUBLAS` names the library;
 * otherwise the candidates of `cublasCandidates`). Row-major GEMMs go through the column-major
 * strided-batched calls with the operands swapped.
 *
 * GEMM math (`GemmMath`, `TRM_CUDA_MATH`): storage is f32 in every mode (master weights,
 * activations and gradients stay f32) and accumulation is f32; the mode sets the multiply inputs:
 * - `f32`: `cublasSgemmStridedBatched` — plain f32 (the mode the cross-backend tests check
 *   against the cpu backend at f32 tolerances);
 * - `tf32`: `cublasGemmStridedBatchedEx` with `CUBLAS_COMPUTE_32F_FAST_TF32` — tensor cores on
 *   inputs rounded to TF32 (10-bit mantissa);
 * - `bf16`: `cublasGemmStridedBatchedEx` with `CUBLAS_COMPUTE_32F_FAST_16BF` — tensor cores on
 *   inputs rounded to bf16 (7-bit mantissa), f32 accumulation and f32 output.
 * Enum values from the cuBLAS API (cublasComputeType_t, cudaDataType_t, cublasGemmAlgo_t).
 * GEMMs cuBLAS cannot take (a size above 2³¹−1) or with k = 0 run on our own f32 kernel in every
 * mode (cuda.ts).
 */
import { readSwitch } from "../../switches.ts";

/** The GEMM precision modes of the cuda backend. */
export type GemmMath = "f32" | "tf32" | "bf16";
export const GEMM_MATHS: readonly GemmMath[] = ["f32", "tf32", "bf16"];

const CUDA_R_32F = 0; // cudaDataType_t
const CUBLAS_GEMM_DEFAULT = -1; // cublasGemmAlgo_t
/** cublasComputeType_t per mode (f32 uses cublasSgemmStridedBatched; 68 is CUBLAS_COMPUTE_32F). */
const COMPUTE_TYPE: Record<GemmMath, number> = {
  f32: 68, // CUBLAS_COMPUTE_32F
  tf32: 77, // CUBLAS_COMPUTE_32F_FAST_TF32
  bf16: 75, // CUBLAS_COMPUTE_32F_FAST_16BF
};

/** How each mode multiplies, for provenance records. */
export const GEMM_MATH_LABEL: Record<GemmMath, string> = {
  f32: "f32 GEMM (cublasSgemmStridedBatched), f32 storage",
  tf32: "tf32 tensor-core GEMM inputs (CUBLAS_COMPUTE_32F_FAST_TF32), f32 accumulate, f32 storage",
  bf16: "bf16 tensor-core GEMM inputs (CUBLAS_COMPUTE_32F_FAST_16BF), f32 accumulate, f32 storage",
};

/** The mode from `TRM_CUDA_MATH` (default f32); RangeError for an unknown value. */
export function gemmMathFromEnv(): GemmMath {
  const v = readSwitch("TRM_CUDA_MATH") ?? "f32";
  if (!(GEMM_MATHS as readonly string[]).includes(v)) {
    throw new RangeError(`TRM_CUDA_MATH must be f32, tf32 or bf16: ${v}`);
  }
  return v as GemmMath;
}

const I32 = "i32" as const, I64 = "i64" as const, U64 = "u64" as const, BUF = "buffer" as const;
const P = "pointer" as const;

const CUBLAS_SYMBOLS = {
  cublasCreate_v2: { parameters: [BUF], result: I32 },
  cublasSgemmStridedBatched: {
    parameters: [
      P,
      I32,
      I32,
      I32,
      I32,
      I32,
      BUF,
      U64,
      I32,
      I64,
      U64,
      I32,
      I64,
      BUF,
      U64,
      I32,
      I64,
      I32,
    ],
    result: I32,
  },
  // (handle, transa, transb, m, n, k, alpha, A, Atype, lda, strideA, B, Btype, ldb, strideB,
  //  beta, C, Ctype, ldc, strideC, batchCount, computeType, algo)
  cublasGemmStridedBatchedEx: {
    parameters: [
      ...[P, I32, I32, I32, I32, I32, BUF],
      ...[U64, I32, I32, I64, U64, I32, I32, I64, BUF, U64, I32, I32, I64],
      ...[I32, I32, I32],
    ],
    result: I32,
  },
} as const;

type CublasLib = Deno.DynamicLibrary<typeof CUBLAS_SYMBOLS>;

/** The places searched for cuBLAS, most specific first. */
export function cublasCandidates(): string[] {
  const out: string[] = [];
  const env = readSwitch("TRM_CUBLAS");
  if (env) return [env];
  const names = ["libcublas.so.13", "libcublas.so.12"];
  out.push(...names); // the dynamic loader's own search (LD_LIBRARY_PATH, ldconfig cache)
  const dirs = new Set<string>();
  const cudaHome = Deno.env.get("CUDA_HOME") ?? Deno.env.get("CUDA_PATH");
  if (cudaHome) dirs.add(`${cudaHome}/lib64`);
  dirs.add("/usr/local/cuda/lib64");
  dirs.add("/usr/local/cuda/targets/x86_64-linux/lib");
  for (const d of listDir("/usr/local")) {
    if (/^cuda-\d/.test(d)) {
      dirs.add(`/usr/local/${d}/lib64`);
      dirs.add(`/usr/local/${d}/targets/x86_64-linux/lib`);
    }
  }
  dirs.add("/usr/lib/x86_64-linux-gnu");
  // Python environments: pip's nvidia-cublas-cu12/-cu13 wheels put it in nvidia/cublas/lib
  const roots = [
    Deno.env.get("VIRTUAL_ENV"),
    Deno.env.get("CONDA_PREFIX"),
    "/usr",
    "/usr/local",
    "/opt/conda",
    "/opt/torch/.venv",
    Deno.env.get("HOME") ? `${Deno.env.get("HOME")}/.local` : undefined,
  ].filter((r): r is string => !!r);
  for (const root of roots) {
    for (const py of listDir(`${root}/lib`)) {
      if (!py.startsWith("python3")) continue;
      for (const sp of ["site-packages", "dist-packages"]) {
        dirs.add(`${root}/lib/${py}/${sp}/nvidia/cublas/lib`);
        dirs.add(`${root}/lib/${py}/${sp}/nvidia/cu13/lib`);
      }
    }
    dirs.add(`${root}/lib`);
  }
  for (const d of dirs) for (const n of names) out.push(`${d}/${n}`);
  return out;
}

function listDir(path: string): string[] {
  try {
    return [...Deno.readDirSync(path)].map((e) => e.name);
  } catch {
    return [];
  }
}

function fileExists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** Loads cuBLAS from the first candidate that opens; or the list of what was tried. */
export function loadCublas(): { path: string; lib: CublasLib } | { tried: string[] } {
  const tried: string[] = [];
  for (const c of cublasCandidates()) {
    if (c.includes("/") && !fileExists(c)) {
      tried.push(`${c} (missing)`);
      continue;
    }
    try {
      return { path: c, lib: Deno.dlopen(c, CUBLAS_SYMBOLS) };
    } catch (e) {
      tried.push(`${c} (${(e as Error).message.split("\n")[0]})`);
    }
  }
  return { tried };
}

export const CUBLAS_STATUS: Record<number, string> = {
  1: "CUBLAS_STATUS_NOT_INITIALIZED",
  3: "CUBLAS_STATUS_ALLOC_FAILED",
  7: "CUBLAS_STATUS_INVALID_VALUE",
  8: "CUBLAS_STATUS_ARCH_MISMATCH",
  11: "CUBLAS_STATUS_MAPPING_ERROR",
  13: "CUBLAS_STATUS_EXECUTION_FAILED",
  14: "CUBLAS_STATUS_INTERNAL_ERROR",
  15: "CUBLAS_STATUS_NOT_SUPPORTED",
  16: "CUBLAS_STATUS_LICENSE_ERROR",
};

/** A cuBLAS handle with the GEMM of one math mode. */
export interface Cublas {
  path: string;
  math: GemmMath;
  /**
   * Row-major C_i = alpha·op(A_i)·op(B_i) + beta·C_i over device addresses (sizes already
   * checked by the caller, all ≤ 2³¹−1); returns the cuBLAS status (0 = success).
   */
  gemm(
    tA: boolean,
    tB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: bigint,
    lda: number,
    b: bigint,
    ldb: number,
    beta: number,
    c: bigint,
    ldc: number,
    batch: number,
    sA: number,
    sB: number,
    sC: number,
  ): number;
}

/**
 * Loads cuBLAS and creates a handle for `math`: the handle, or why not (`tried`: the candidates
 * that failed to load; `status`: cublasCreate's failure).
 */
export function openCublas(
  math: GemmMath,
): { ok: true; cublas: Cublas } | { ok: false; reason: string; fix: string } {
  const r = loadCublas();
  if (!("lib" in r)) {
    return {
      ok: false,
      reason: `cuBLAS not loadable; looked in: ${r.tried.join("; ")}`,
      fix: "pip install nvidia-cublas-cu12 (or -cu13), set TRM_CUBLAS to libcublas.so.*, " +
        'or use gemm: "own" (f32 only)',
    };
  }
  const h = new BigUint64Array(1);
  const st = r.lib.symbols.cublasCreate_v2(h);
  if (st !== 0) {
    return {
      ok: false,
      reason: `cublasCreate failed: ${CUBLAS_STATUS[st] ?? st} (${r.path})`,
      fix: "check the cuBLAS version matches the driver",
    };
  }
  const handle = Deno.UnsafePointer.create(h[0]);
  const S = r.lib.symbols;
  const alphaBuf = new Float32Array(1), betaBuf = new Float32Array(1);
  const B = BigInt;
  const compute = COMPUTE_TYPE[math];
  return {
    ok: true,
    cublas: {
      path: r.path,
      math,
      gemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, batch, sA, sB, sC) {
        // row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: swap the operands
        alphaBuf[0] = alpha;
        betaBuf[0] = beta;
        const [opB, opA] = [tB ? 1 : 0, tA ? 1 : 0];
        const [la, lb, lc] = [Math.max(1, lda), Math.max(1, ldb), Math.max(1, ldc)];
        if (math === "f32") {
          return S.cublasSgemmStridedBatched(
            ...[handle, opB, opA, n, m, k, alphaBuf] as const,
            ...[b, lb, B(sB), a, la, B(sA), betaBuf, c, lc, B(sC), batch] as const,
          );
        }
        return S.cublasGemmStridedBatchedEx(
          ...[handle, opB, opA, n, m, k, alphaBuf] as const,
          ...[b, CUDA_R_32F, lb, B(sB), a, CUDA_R_32F, la, B(sA)] as const,
          ...[betaBuf, c, CUDA_R_32F, lc, B(sC), batch, compute, CUBLAS_GEMM_DEFAULT] as const,
        );
      },
    },
  };
}

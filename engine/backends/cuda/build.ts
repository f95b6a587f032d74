/**
 * Builds the CUDA kernels (`engine/backends/cuda/*.cu`, `*.cuh`) with nvcc into a shared library
 * whose file name holds a hash of everything that shapes the binary: the sources, the nvcc flags
 * (target architectures included) and nvcc's version. A changed source never loads a stale library.
 *
 * Targets: sm_90 SASS + compute_90 PTX by default; `TRM_CUDA_ARCH` lists others, comma-separated
 * (e.g. `TRM_CUDA_ARCH=80,90` adds sm_80 SASS; PTX is emitted for the highest). The CUDA runtime is
 * linked statically (`--cudart=static`), so the library needs only the driver (libcuda) at run
 * time. `NVCC` names the compiler (default: nvcc on PATH, then /usr/local/cuda/bin/nvcc).
 * `TRM_CUDA_BUILD_DIR` moves the output folder (default engine/backends/cuda/build/).
 *
 * Run as a script (`deno task build:cuda`) it builds if needed and prints what it did; the loader
 * (`cuda.ts`) calls `ensureCudaLibrary()` synchronously.
 *
 * @example
 * ```ts
 * import { ensureCudaLibrary } from "./build.ts";
 * const path = ensureCudaLibrary(); // builds on first use; NativeUnavailableError if it cannot
 * ```
 */
import { NativeUnavailableError } from "../../errors.ts";
import {
  buildDirFrom,
  compileInto,
  fileExists,
  firstLines,
  firstThatRuns,
  hashSources,
  listSources,
  runBuildCli,
} from "../../native/build_util.ts";

const SOURCE_DIR = new URL("./", import.meta.url);
const BUILD_DIR = buildDirFrom("TRM_CUDA_BUILD_DIR", new URL("./build/", import.meta.url));
/** File names of built libraries (any hash). */
const LIBRARY_NAME = /^libtrm_cuda-[0-9a-f]{16}\.so$/;

/** The target architectures (compute capabilities ×10), from TRM_CUDA_ARCH or the default 90. */
export function cudaArchs(): number[] {
  const env = Deno.env.get("TRM_CUDA_ARCH") ?? "90";
  const archs = env.split(",").map((s) => s.trim()).filter((s) => s !== "").map(Number);
  if (archs.length === 0 || archs.some((a) => !Number.isInteger(a) || a < 50 || a > 200)) {
    throw new RangeError(`build:cuda: TRM_CUDA_ARCH must list compute capabilities: ${env}`);
  }
  return [...new Set(archs)].sort((a, b) => a - b);
}

/** nvcc flags of the library (part of its hash). */
export function nvccFlags(archs: number[] = cudaArchs()): string[] {
  const top = archs[archs.length - 1];
  return [
    "-O3",
    "-std=c++17",
    "--cudart=static",
    "-shared",
    "-Xcompiler",
    "-fPIC,-fvisibility=hidden",
    ...archs.flatMap((a) => ["-gencode", `arch=compute_${a},code=sm_${a}`]),
    "-gencode",
    `arch=compute_${top},code=compute_${top}`,
  ];
}

/** The .cu sources and .cuh headers, sorted by name. */
export function cudaSources(): string[] {
  return listSources(SOURCE_DIR, [".cu", ".cuh"]);
}

/** The first nvcc that runs, with its version line; null when there is none. */
export function findNvcc(): { nvcc: string; version: string } | null {
  const candidates = [Deno.env.get("NVCC"), "nvcc", "/usr/local/cuda/bin/nvcc"]
    .filter((c): c is string => !!c);
  const found = firstThatRuns(candidates);
  if (!found) return null;
  const text = found.stdout;
  const version = text.split("\n").find((l) => l.includes("release")) ?? text.trim();
  return { nvcc: found.cmd, version: version.trim() };
}

/** SHA-256 (hex) over the sources, the flags and the compiler version. */
export function cudaSourceHash(flags: string[] = nvccFlags(), compiler = "unknown"): string {
  return hashSources(`flags:${flags.join(" ")}\ncompiler:${compiler}\n`, SOURCE_DIR, cudaSources());
}

/** Where the library for a hash lives (it may not be built yet). */
export function cudaLibraryPath(hash: string): string {
  return new URL(`libtrm_cuda-${hash.slice(0, 16)}.so`, BUILD_DIR).pathname;
}

/** What `buildCuda` did. */
export interface CudaBuildResult {
  path: string;
  hash: string;
  built: boolean;
  nvcc: string;
  nvccVersion: string;
  flags: string[];
  seconds?: number;
}

/**
 * Returns the path of the library for the current sources, compiling it first when missing.
 * Throws `NativeUnavailableError` when nvcc is missing or the compile fails.
 */
export function ensureCudaLibrary(): string {
  return buildCuda().path;
}

/** Like `ensureCudaLibrary`, with details; `force` recompiles regardless. */
export function buildCuda(force = false): CudaBuildResult {
  const found = findNvcc();
  if (!found) {
    throw new NativeUnavailableError(
      "no nvcc found (tried $NVCC, nvcc on PATH, /usr/local/cuda/bin/nvcc)",
      "install the CUDA toolkit (nvcc 12.x/13.x) or set NVCC to its path",
    );
  }
  const flags = nvccFlags();
  let hash: string;
  try {
    hash = cudaSourceHash(flags, found.version);
  } catch (e) {
    throw new NativeUnavailableError(
      `cannot read the CUDA sources in ${SOURCE_DIR.pathname}: ${(e as Error).message}`,
      "run from a full checkout, with --allow-read",
    );
  }
  const path = cudaLibraryPath(hash);
  const base = { path, hash, nvcc: found.nvcc, nvccVersion: found.version, flags };
  if (!force && fileExists(path)) return { ...base, built: false };
  const sources = cudaSources().filter((n) => n.endsWith(".cu")).map((n) =>
    new URL(n, SOURCE_DIR).pathname
  );
  const r = compileInto(
    BUILD_DIR,
    path,
    found.nvcc,
    (tmp) => [...flags, "-o", tmp, ...sources],
    LIBRARY_NAME,
  );
  if (!r.ok) {
    throw new NativeUnavailableError(
      `CUDA compile failed (${found.nvcc} ${flags.join(" ")}): ${firstLines(r.stderr + r.stdout)}`,
      "fix the error above; check that nvcc supports the architectures in TRM_CUDA_ARCH",
    );
  }
  return { ...base, built: true, seconds: r.seconds };
}

const USAGE = `usage: deno task build:cuda [--force]
  Compiles the CUDA kernels (engine/backends/cuda/*.cu) with nvcc into engine/backends/cuda/build/
  (or $TRM_CUDA_BUILD_DIR) unless the library of the current sources, flags and nvcc is there;
  --force recompiles. Targets: TRM_CUDA_ARCH (default 90); compiler: $NVCC, else nvcc on PATH,
  else /usr/local/cuda/bin/nvcc.`;

if (import.meta.main) {
  runBuildCli(
    "build:cuda",
    USAGE,
    buildCuda,
    (r) =>
      `built ${r.path} with ${r.nvcc} (${r.nvccVersion}) ${r.flags.join(" ")} in ${
        r.seconds!.toFixed(1)
      } s`,
  );
}

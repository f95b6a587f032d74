/**
 * Builds the CUDA kernels (`engine/backends/cuda/*.cu`, `*.cuh`) with nvcc into a shared library
 * whose file name holds a hash of everything that shapes the binary: the sources, the nvcc flags
 * (target architectures included) and nvcc's version. A changed source never loads a stale library.
 *
 * The mainline library (`libtrm_cuda-<hash>.so`) holds this folder's sources only: one kernel per
 * op. `buildCuda({ extraSourceDir, name })` builds another library from this folder's sources PLUS
 * those of `extraSourceDir` (compiled with `-I` at this folder, so their headers find
 * block_prog.cuh and trm_cuda.cuh) into `lib<name>-<hash>.so`, the hash over both source sets:
 * the kernel lab (dev/cuda/lab.ts) builds its variants that way. Each name prunes only its own
 * stale libraries.
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
import { readSwitch } from "../../switches.ts";

const SOURCE_DIR = new URL("./", import.meta.url);
const BUILD_DIR = buildDirFrom("TRM_CUDA_BUILD_DIR", new URL("./build/", import.meta.url));
/** The base name of the mainline library: libtrm_cuda-<hash>.so. */
export const MAINLINE_NAME = "trm_cuda";
/** File names of built libraries called `name` (any hash). */
const libraryPattern = (name: string) => new RegExp(`^lib${name}-[0-9a-f]{16}\\.so$`);

/** The target architectures (compute capabilities ×10), from TRM_CUDA_ARCH or the default 90. */
export function cudaArchs(): number[] {
  const env = readSwitch("TRM_CUDA_ARCH") ?? "90";
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

/** The .cu sources and .cuh headers of `dir` (default: this folder), sorted by name. */
export function cudaSources(dir: URL = SOURCE_DIR): string[] {
  return listSources(dir, [".cu", ".cuh"]);
}

/**
 * The paths of the .cu files a build compiles: this folder's, then `extraSourceDir`'s when given
 * (the mainline build compiles this folder's only).
 */
export function cudaCompileSources(extraSourceDir?: URL): string[] {
  const cu = (dir: URL) =>
    cudaSources(dir).filter((n) => n.endsWith(".cu")).map((n) => new URL(n, dir).pathname);
  return [...cu(SOURCE_DIR), ...(extraSourceDir ? cu(extraSourceDir) : [])];
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

/**
 * SHA-256 (hex) over the sources, the flags and the compiler version; with `extra`, also over the
 * library's name and the sources of `extra.dir` (the mainline hash is unchanged by the option).
 */
export function cudaSourceHash(
  flags: string[] = nvccFlags(),
  compiler = "unknown",
  extra?: { dir: URL; name: string },
): string {
  let header = `flags:${flags.join(" ")}\ncompiler:${compiler}\n`;
  if (extra) {
    header += `name:${extra.name}\nextra:${hashSources("", extra.dir, cudaSources(extra.dir))}\n`;
  }
  return hashSources(header, SOURCE_DIR, cudaSources());
}

/** Where the library `name` (default the mainline's) for a hash lives (it may not be built yet). */
export function cudaLibraryPath(hash: string, name = MAINLINE_NAME): string {
  return new URL(`lib${name}-${hash.slice(0, 16)}.so`, BUILD_DIR).pathname;
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

/** Options of `buildCuda`. */
export interface CudaBuildOptions {
  /** Recompile even when the library of the current sources is there. */
  force?: boolean;
  /**
   * A folder of further .cu / .cuh sources compiled together with this folder's (with `-I` at
   * this folder) into a library of its own (`name`); the mainline build has none.
   */
  extraSourceDir?: URL;
  /**
   * The library's base name, `lib<name>-<hash>.so`: lowercase letters, digits and `_`. Default
   * `trm_cuda` (the mainline), which a build with `extraSourceDir` may not use.
   */
  name?: string;
}

/**
 * Returns the path of the library for the current sources, compiling it first when missing.
 * Throws `NativeUnavailableError` when nvcc is missing or the compile fails.
 */
export function ensureCudaLibrary(): string {
  return buildCuda().path;
}

/**
 * Like `ensureCudaLibrary`, with details: the mainline library, or with `extraSourceDir` and
 * `name` a library of this folder's sources plus those (the kernel lab's); `force` recompiles.
 */
export function buildCuda(opts: CudaBuildOptions = {}): CudaBuildResult {
  const { force = false, extraSourceDir } = opts;
  const name = opts.name ?? (extraSourceDir ? "" : MAINLINE_NAME);
  if (!/^[a-z0-9_]+$/.test(name) || (extraSourceDir && name === MAINLINE_NAME)) {
    throw new RangeError(
      `buildCuda: a build with extraSourceDir needs a name of its own (not ${MAINLINE_NAME}); ` +
        `names are lowercase letters, digits and _: ${JSON.stringify(opts.name)}`,
    );
  }
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
    hash = cudaSourceHash(flags, found.version, extraSourceDir && { dir: extraSourceDir, name });
  } catch (e) {
    const dirs = [SOURCE_DIR, ...(extraSourceDir ? [extraSourceDir] : [])];
    throw new NativeUnavailableError(
      `cannot read the CUDA sources in ${dirs.map((d) => d.pathname).join(" and ")}: ${
        (e as Error).message
      }`,
      "run from a full checkout, with --allow-read",
    );
  }
  const path = cudaLibraryPath(hash, name);
  // the -I of a build with extra sources names this checkout's folder: not part of the hash
  const used = extraSourceDir ? [...flags, "-I", SOURCE_DIR.pathname] : flags;
  const base = { path, hash, nvcc: found.nvcc, nvccVersion: found.version, flags: used };
  if (!force && fileExists(path)) return { ...base, built: false };
  const sources = cudaCompileSources(extraSourceDir);
  const r = compileInto(
    BUILD_DIR,
    path,
    found.nvcc,
    (tmp) => [...used, "-o", tmp, ...sources],
    libraryPattern(name),
  );
  if (!r.ok) {
    throw new NativeUnavailableError(
      `CUDA compile failed (${found.nvcc} ${used.join(" ")}): ${firstLines(r.stderr + r.stdout)}`,
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
    (force) => buildCuda({ force }),
    (r) =>
      `built ${r.path} with ${r.nvcc} (${r.nvccVersion}) ${r.flags.join(" ")} in ${
        r.seconds!.toFixed(1)
      } s`,
  );
}

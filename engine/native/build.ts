/**
 * Builds the native CPU kernels (`engine/native/*.c`) into a shared library whose file name holds
 * a hash of everything that shapes the binary: the C sources and headers, the compiler flags and,
 * because of `-march=native`, the host CPU's model and feature flags. A changed source therefore
 * never loads a stale library; it gets a new file name and is compiled on first use.
 *
 * Run as a script (`deno task build:native`) it builds if needed and prints what it did; the
 * loader (`engine/backends/cpu/mod.ts`) calls `ensureNativeLibrary()` synchronously.
 *
 * @example
 * ```ts
 * import { ensureNativeLibrary } from "./build.ts";
 * const path = ensureNativeLibrary(); // builds on first use, throws NativeUnavailableError if it cannot
 * const lib = Deno.dlopen(path, { trm_num_threads: { parameters: [], result: "i32" } });
 * ```
 */
import { NativeUnavailableError } from "../errors.ts";
import { readSystemFile } from "../proc.ts";
import {
  buildDirFrom,
  compileInto,
  fileExists,
  firstLines,
  firstThatRuns,
  hashSources,
  listSources,
  runBuildCli,
} from "./build_util.ts";

/** Compiler flags of the library (part of its hash). */
export const NATIVE_CFLAGS: readonly string[] = [
  "-O3",
  "-march=native",
  "-fopenmp",
  "-fPIC",
  "-shared",
  "-std=gnu11",
  "-fvisibility=hidden",
];
/** Linked after the objects. `-z nodelete`: Deno unloads FFI libraries at exit while the OpenMP
 * worker threads still run in libgomp; keeping our library (and so libgomp) mapped avoids a crash. */
const LDLIBS = ["-lm", "-Wl,-z,nodelete"];

const SOURCE_DIR = new URL("./", import.meta.url);
/** Output folder: engine/native/build/, or $TRM_NATIVE_BUILD_DIR (tests, read-only checkouts). */
const BUILD_DIR = buildDirFrom("TRM_NATIVE_BUILD_DIR", new URL("./build/", import.meta.url));
/** File names of built libraries (any hash). */
const LIBRARY_NAME = /^libtrm_cpu-[0-9a-f]{16}\.so$/;

/** The C sources and headers of the library, sorted by name. */
export function nativeSources(): string[] {
  return listSources(SOURCE_DIR, [".c", ".h"]);
}

/** The CPU identity lines that `-march=native` depends on (empty where /proc is missing). */
function cpuIdentity(): string {
  try {
    const info = readSystemFile("/proc/cpuinfo");
    const pick = (key: string) => info.match(new RegExp(`^${key}\\s*:\\s*(.*)$`, "m"))?.[1] ?? "";
    return `${pick("vendor_id")}|${pick("model name")}|${pick("flags")}`;
  } catch {
    return Deno.build.arch;
  }
}

/** SHA-256 (hex) over the sources, flags and CPU identity; the library's file name holds 16 digits. */
export function nativeSourceHash(): string {
  return hashSources(
    `flags:${NATIVE_CFLAGS.join(" ")} ${LDLIBS.join(" ")}\ncpu:${cpuIdentity()}\n`,
    SOURCE_DIR,
    nativeSources(),
  );
}

/** Where the library for the current sources lives (it may not be built yet). */
export function libraryPath(hash: string = nativeSourceHash()): string {
  return new URL(`libtrm_cpu-${hash.slice(0, 16)}.so`, BUILD_DIR).pathname;
}

/** The first C compiler that runs: $CC, then cc, gcc, clang. */
function findCompiler(): string | null {
  const candidates = [Deno.env.get("CC"), "cc", "gcc", "clang"].filter((c): c is string => !!c);
  return firstThatRuns(candidates)?.cmd ?? null;
}

/** What `ensureNativeLibrary` did, for the build script's report. */
export interface NativeBuildResult {
  path: string;
  hash: string;
  built: boolean;
  compiler?: string;
  seconds?: number;
}

/**
 * Returns the path of the library for the current sources, compiling it first when it is missing.
 * Synchronous, so backend creation can be. Throws `NativeUnavailableError` when it cannot build.
 */
export function ensureNativeLibrary(): string {
  return buildNative().path;
}

/** Like `ensureNativeLibrary`, with details of what was done; `force` recompiles regardless. */
export function buildNative(force = false): NativeBuildResult {
  let hash: string;
  try {
    hash = nativeSourceHash();
  } catch (e) {
    throw new NativeUnavailableError(
      `cannot read the C sources in ${SOURCE_DIR.pathname}: ${(e as Error).message}`,
      "run from a full checkout, with --allow-read",
    );
  }
  const path = libraryPath(hash);
  if (!force && fileExists(path)) return { path, hash, built: false };

  const cc = findCompiler();
  if (!cc) {
    throw new NativeUnavailableError(
      "no C compiler found (tried $CC, cc, gcc, clang)",
      "apt-get install gcc, or set CC to a compiler with OpenMP",
    );
  }
  const sources = nativeSources().filter((n) => n.endsWith(".c")).map((n) =>
    new URL(n, SOURCE_DIR).pathname
  );
  const r = compileInto(
    BUILD_DIR,
    path,
    cc,
    (tmp) => [...NATIVE_CFLAGS, "-o", tmp, ...sources, ...LDLIBS],
    LIBRARY_NAME,
  );
  if (!r.ok) {
    throw new NativeUnavailableError(
      `compile failed (${cc} ${NATIVE_CFLAGS.join(" ")}): ${firstLines(r.stderr)}`,
      "fix the error above, or check that the compiler supports -fopenmp and -march=native",
    );
  }
  return { path, hash, built: true, compiler: cc, seconds: r.seconds };
}

const USAGE = `usage: deno task build:native [--force]
  Compiles the native CPU kernels (engine/native/*.c) into engine/native/build/ (or
  $TRM_NATIVE_BUILD_DIR) unless the library of the current sources, flags and CPU is there;
  --force recompiles. Compiler: $CC, else cc, gcc, clang.`;

if (import.meta.main) {
  runBuildCli(
    "build:native",
    USAGE,
    buildNative,
    (r) =>
      `built ${r.path} with ${r.compiler} ${NATIVE_CFLAGS.join(" ")} in ${r.seconds!.toFixed(1)} s`,
  );
}

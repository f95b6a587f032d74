/**
 * Builds the native CPU kernels (`engine/native/*.c`) into a shared library whose file name holds
 * a hash of everything that shapes the binary: the C sources and headers, the compiler flags and,
 * because of `-march=native`, the host CPU's model and feature flags. A changed source therefore
 * never loads a stale library; it gets a new file name and is compiled on first use.
 *
 * Run as a script (`deno task build:native`) it builds if needed and prints what it did; the
 * loader (`engine/backends/cpu.ts`) calls `ensureNativeLibrary()` synchronously.
 *
 * @example
 * ```ts
 * import { ensureNativeLibrary } from "./build.ts";
 * const path = ensureNativeLibrary(); // builds on first use, throws NativeUnavailableError if it cannot
 * const lib = Deno.dlopen(path, { trm_num_threads: { parameters: [], result: "i32" } });
 * ```
 */
import { createHash } from "node:crypto";
import { NativeUnavailableError } from "../errors.ts";

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
const BUILD_DIR = buildDir();

function buildDir(): URL {
  const env = Deno.env.get("TRM_NATIVE_BUILD_DIR");
  if (!env) return new URL("./build/", import.meta.url);
  return new URL(`file://${env.startsWith("/") ? env : `${Deno.cwd()}/${env}`}/`);
}

/** The C sources and headers of the library, sorted by name. */
export function nativeSources(): string[] {
  const names: string[] = [];
  for (const e of Deno.readDirSync(SOURCE_DIR)) {
    if (e.isFile && (e.name.endsWith(".c") || e.name.endsWith(".h"))) names.push(e.name);
  }
  return names.sort();
}

/** The CPU identity lines that `-march=native` depends on (empty where /proc is missing). */
function cpuIdentity(): string {
  try {
    const info = Deno.readTextFileSync("/proc/cpuinfo");
    const pick = (key: string) => info.match(new RegExp(`^${key}\\s*:\\s*(.*)$`, "m"))?.[1] ?? "";
    return `${pick("vendor_id")}|${pick("model name")}|${pick("flags")}`;
  } catch {
    return Deno.build.arch;
  }
}

/** SHA-256 (hex) over the sources, flags and CPU identity; the library's file name holds 16 digits. */
export function nativeSourceHash(): string {
  const h = createHash("sha256");
  h.update(`flags:${NATIVE_CFLAGS.join(" ")} ${LDLIBS.join(" ")}\n`);
  h.update(`cpu:${cpuIdentity()}\n`);
  for (const name of nativeSources()) {
    const text = Deno.readFileSync(new URL(name, SOURCE_DIR));
    h.update(`file:${name}:${text.length}\n`);
    h.update(text);
  }
  return h.digest("hex");
}

/** Where the library for the current sources lives (it may not be built yet). */
export function libraryPath(hash: string = nativeSourceHash()): string {
  return new URL(`libtrm_cpu-${hash.slice(0, 16)}.so`, BUILD_DIR).pathname;
}

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** The first C compiler that runs: $CC, then cc, gcc, clang. */
function findCompiler(): string | null {
  const candidates = [Deno.env.get("CC"), "cc", "gcc", "clang"].filter((c): c is string => !!c);
  for (const cc of candidates) {
    try {
      const r = new Deno.Command(cc, { args: ["--version"], stdout: "null", stderr: "null" })
        .outputSync();
      if (r.success) return cc;
    } catch {
      // not installed: try the next one
    }
  }
  return null;
}

/** Removes libraries built from other sources (Linux keeps any still-mapped copy alive). */
function pruneStale(keep: string) {
  for (const e of Deno.readDirSync(BUILD_DIR)) {
    const p = new URL(e.name, BUILD_DIR).pathname;
    if (e.isFile && /^libtrm_cpu-[0-9a-f]{16}\.so$/.test(e.name) && p !== keep) Deno.removeSync(p);
  }
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
  if (!force && exists(path)) return { path, hash, built: false };

  const cc = findCompiler();
  if (!cc) {
    throw new NativeUnavailableError(
      "no C compiler found (tried $CC, cc, gcc, clang)",
      "apt-get install gcc, or set CC to a compiler with OpenMP",
    );
  }
  Deno.mkdirSync(BUILD_DIR, { recursive: true });
  // Compile to a private name, then rename: parallel test processes may build at the same time.
  const tmp = `${path}.tmp-${Deno.pid}`;
  const sources = nativeSources().filter((n) => n.endsWith(".c")).map((n) =>
    new URL(n, SOURCE_DIR).pathname
  );
  const t0 = performance.now();
  const r = new Deno.Command(cc, {
    args: [...NATIVE_CFLAGS, "-o", tmp, ...sources, ...LDLIBS],
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  if (!r.success) {
    try {
      Deno.removeSync(tmp);
    } catch {
      // nothing was written
    }
    const err = new TextDecoder().decode(r.stderr).split("\n").filter((l) => l.trim()).slice(0, 12)
      .join("\n");
    throw new NativeUnavailableError(
      `compile failed (${cc} ${NATIVE_CFLAGS.join(" ")}): ${err}`,
      "fix the error above, or check that the compiler supports -fopenmp and -march=native",
    );
  }
  Deno.renameSync(tmp, path);
  pruneStale(path);
  return { path, hash, built: true, compiler: cc, seconds: (performance.now() - t0) / 1000 };
}

if (import.meta.main) {
  const force = Deno.args.includes("--force");
  try {
    const r = buildNative(force);
    if (r.built) {
      console.log(
        `built ${r.path} with ${r.compiler} ${NATIVE_CFLAGS.join(" ")} in ${
          r.seconds!.toFixed(1)
        } s`,
      );
    } else {
      console.log(`up to date: ${r.path} (source hash ${r.hash.slice(0, 16)})`);
    }
  } catch (e) {
    console.error((e as Error).message);
    Deno.exit(1);
  }
}

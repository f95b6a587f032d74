/**
 * Steps shared by the native library builds (`engine/native/build.ts` for the C kernels,
 * `engine/backends/cuda/build.ts` for the CUDA kernels): the output folder, listing and hashing the
 * sources, finding a compiler that runs, compiling to a private name and renaming it into place,
 * and pruning libraries built from other sources.
 *
 * @example
 * ```ts
 * import { hashSources, listSources } from "./build_util.ts";
 * const dir = new URL("./", import.meta.url);
 * const hash = hashSources("flags:-O3\n", dir, listSources(dir, [".c", ".h"]));
 * ```
 */
import { createHash } from "node:crypto";
import { cliArgs, permissionMessage } from "../cli.ts";
import { readSwitch, type SwitchName } from "../switches.ts";

/** The output folder: `$envVar` (absolute, or relative to the working directory) or `fallback`. */
export function buildDirFrom(envVar: SwitchName, fallback: URL): URL {
  const env = readSwitch(envVar);
  if (!env) return fallback;
  return new URL(`file://${env.startsWith("/") ? env : `${Deno.cwd()}/${env}`}/`);
}

/** The files of `dir` whose names end with one of `exts`, sorted by name. */
export function listSources(dir: URL, exts: readonly string[]): string[] {
  const names: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    if (e.isFile && exts.some((x) => e.name.endsWith(x))) names.push(e.name);
  }
  return names.sort();
}

/** SHA-256 (hex) over `header`, then each named file of `dir` (name, length and contents). */
export function hashSources(header: string, dir: URL, names: readonly string[]): string {
  const h = createHash("sha256");
  h.update(header);
  for (const name of names) {
    const text = Deno.readFileSync(new URL(name, dir));
    h.update(`file:${name}:${text.length}\n`);
    h.update(text);
  }
  return h.digest("hex");
}

/** Whether `path` is a file. */
export function fileExists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/**
 * The first candidate whose `--version` succeeds, with its stdout; null when none runs. A candidate
 * that the permissions refuse (--allow-run without it, e.g. a $CC of one's own) is an error, not
 * skipped: a build must not quietly use another compiler than the one asked for.
 */
export function firstThatRuns(candidates: string[]): { cmd: string; stdout: string } | null {
  for (const cmd of candidates) {
    try {
      const r = new Deno.Command(cmd, { args: ["--version"], stdout: "piped", stderr: "null" })
        .outputSync();
      if (r.success) return { cmd, stdout: new TextDecoder().decode(r.stdout) };
    } catch (e) {
      if (e instanceof Deno.errors.NotCapable) throw e;
      // not installed here: try the next one
    }
  }
  return null;
}

/** Removes files of `dir` matching `pattern` other than `keep` (Linux keeps mapped copies alive). */
export function pruneStale(dir: URL, pattern: RegExp, keep: string) {
  for (const e of Deno.readDirSync(dir)) {
    const p = new URL(e.name, dir).pathname;
    if (e.isFile && pattern.test(e.name) && p !== keep) Deno.removeSync(p);
  }
}

/** The first `n` non-blank lines of `text`. */
export function firstLines(text: string, n = 12): string {
  return text.split("\n").filter((l) => l.trim()).slice(0, n).join("\n");
}

/**
 * Runs `compiler` with `args(tmp)` to write the library at a private temporary name, then renames
 * it to `path` and prunes the stale libraries of `buildDir` matching `stale`: parallel test
 * processes may build at the same time. On failure the temporary file is removed and the
 * compiler's output returned.
 */
export function compileInto(
  buildDir: URL,
  path: string,
  compiler: string,
  args: (tmp: string) => string[],
  stale: RegExp,
): { ok: true; seconds: number } | { ok: false; stderr: string; stdout: string } {
  Deno.mkdirSync(buildDir, { recursive: true });
  const tmp = `${path}.tmp-${Deno.pid}`;
  const t0 = performance.now();
  const r = new Deno.Command(compiler, { args: args(tmp), stdout: "piped", stderr: "piped" })
    .outputSync();
  if (!r.success) {
    try {
      Deno.removeSync(tmp);
    } catch {
      // nothing was written
    }
    const dec = new TextDecoder();
    return { ok: false, stderr: dec.decode(r.stderr), stdout: dec.decode(r.stdout) };
  }
  Deno.renameSync(tmp, path);
  pruneStale(buildDir, stale, path);
  return { ok: true, seconds: (performance.now() - t0) / 1000 };
}

/**
 * The command line of a build script (`name`, `usage`; engine/cli.ts): `--help` prints the usage
 * and exits 0 and a bad flag exits 2, both before anything is hashed or compiled. Builds
 * (recompiling with `--force`), prints `builtLine(r)` when it compiled or an up-to-date line when
 * not, and exits 1 with the error message on failure.
 */
export function runBuildCli<R extends { built: boolean; path: string; hash: string }>(
  name: string,
  usage: string,
  build: (force: boolean) => R,
  builtLine: (r: R) => string,
  argv: string[] = Deno.args,
) {
  const { values } = cliArgs(name, usage, { force: { type: "boolean" } }, argv);
  try {
    const r = build(values.force ?? false);
    if (r.built) console.log(builtLine(r));
    else console.log(`up to date: ${r.path} (source hash ${r.hash.slice(0, 16)})`);
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable) {
      console.error(permissionMessage(name, e));
      Deno.exit(1);
    }
    console.error((e as Error).message);
    Deno.exit(1);
  }
}

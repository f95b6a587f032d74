/**
 * Provenance recorded next to every number we write: commit, date, machine, runtime; the guard
 * that keeps the committed `results/` folder free of numbers from uncommitted code; and the hash
 * of the source files a pipeline step ran.
 *
 * "Dirty" means the code differs from the commit: tracked changes or untracked files anywhere in
 * the repository except under `results/` (the outputs themselves; writing a table must not make
 * the next table dirty), Markdown documents and git-ignored paths (runs/, .cache/, build folders).
 */
import { createHash } from "node:crypto";
import { dirname, extname, relative, resolve } from "node:path";
import { readSystemFile } from "./proc.ts";
import { switchesLabel } from "./switches.ts";

/** The repository root (the folder holding deno.json). */
export const REPO_ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");

function run(cmd: string, args: string[], cwd = REPO_ROOT): string | null {
  try {
    const o = new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "null" }).outputSync();
    return o.success ? new TextDecoder().decode(o.stdout) : null;
  } catch {
    return null; // command not installed
  }
}

/** Paths git should look at when deciding whether the code is dirty (not results/, not docs). */
const CODE_PATHS = [".", ":(exclude)results", ":(exclude,glob)**/*.md"];

/** The state of the working tree: commit and whether the code differs from it. */
export interface TreeState {
  /** Short commit hash, or "unknown" outside a git checkout. */
  commit: string;
  dirty: boolean;
  /** Changed or untracked paths (code only), when dirty. */
  changed: string[];
}

export function treeState(root = REPO_ROOT): TreeState {
  const c = run("git", ["rev-parse", "--short=12", "HEAD"], root)?.trim();
  if (!c) return { commit: "unknown", dirty: false, changed: [] };
  const st = run(
    "git",
    ["status", "--porcelain", "--untracked-files=all", "--", ...CODE_PATHS],
    root,
  );
  const changed = (st ?? "").split("\n").filter((l) => l.trim() !== "").map((l) => l.slice(3));
  return { commit: c, dirty: changed.length > 0, changed };
}

/**
 * The commit label of the numbers written now: the commit, `<commit>-dirty` when the code differs
 * from it, or the label set by `allowDirtyResults` (`<commit>-dirty.<sha256 of the diff>`).
 */
export function gitCommit(): string {
  if (dirtyLabel) return dirtyLabel;
  const s = treeState();
  return s.dirty ? `${s.commit}-dirty` : s.commit;
}

let dirtyLabel: string | null = null;

/** The diff of the code against HEAD, untracked files included (as additions). */
export function codeDiff(root = REPO_ROOT): string {
  const tracked = run("git", ["diff", "--binary", "HEAD", "--", ...CODE_PATHS], root) ?? "";
  const untracked = (run("git", [
    "ls-files",
    "--others",
    "--exclude-standard",
    "--",
    ...CODE_PATHS,
  ], root) ?? "").split("\n").filter((s) => s !== "").sort();
  const added = untracked.map((p) => {
    // git diff --no-index exits 1 when the files differ: read its output either way.
    try {
      const o = new Deno.Command("git", {
        args: ["diff", "--binary", "--no-index", "--", "/dev/null", p],
        cwd: root,
        stdout: "piped",
        stderr: "null",
      }).outputSync();
      return new TextDecoder().decode(o.stdout);
    } catch {
      return `untracked: ${p}\n`;
    }
  });
  return tracked + added.join("");
}

/** Thrown when a write into the committed results/ would record numbers of uncommitted code. */
export class DirtyTreeError extends Error {
  override name = "DirtyTreeError";
}

/** True when `path` lies inside the repository's committed `results/` folder. */
export function insideResults(path: string, root = REPO_ROOT): boolean {
  const rel = relative(resolve(root, "results"), resolve(path));
  return rel === "" || (!rel.startsWith("..") && !rel.startsWith("/"));
}

/** Why writing into `out` (inside results/) from the dirty tree `s` is refused. */
export function dirtyRefusal(out: string, s: TreeState, what = "writing"): string {
  const shown = s.changed.slice(0, 5).join(", ") + (s.changed.length > 5 ? ", …" : "");
  return `${what} into ${out} (the committed results/) from a tree that differs from commit ` +
    `${s.commit} (${shown}): commit first, write elsewhere, or pass --allow-dirty to store the ` +
    `diff beside the results and name it in every row`;
}

/**
 * Call before writing numbers to `out`. Outside `results/` (or from a clean tree) it does nothing
 * and returns the commit label. Inside `results/` from a dirty tree it throws DirtyTreeError —
 * unless `allowDirty`, in which case it writes the code's diff beside the results as
 * `<out folder>/dirty-<sha12>.patch` and makes every later gitCommit() of this process return
 * `<commit>-dirty.<sha12>`, so each row names the diff it came from.
 */
export async function guardResultsWrite(
  out: string,
  opts: { allowDirty?: boolean; root?: string; what?: string } = {},
): Promise<string> {
  const root = opts.root ?? REPO_ROOT;
  const s = treeState(root);
  if (!s.dirty || !insideResults(out, root)) return gitCommit();
  if (!opts.allowDirty) throw new DirtyTreeError(dirtyRefusal(out, s, opts.what));
  const diff = codeDiff(root);
  const sha = createHash("sha256").update(diff).digest("hex");
  const dir = extname(out) ? dirname(out) : out;
  await Deno.mkdir(dir, { recursive: true });
  const patch = `${dir}/dirty-${sha.slice(0, 12)}.patch`;
  await Deno.writeTextFile(
    patch,
    `# the uncommitted code (against ${s.commit}) that produced the results beside this file\n` +
      `# sha256 of the diff below: ${sha}\n${diff}`,
  );
  dirtyLabel = `${s.commit}-dirty.${sha.slice(0, 12)}`;
  console.warn(`--allow-dirty: results labelled ${dirtyLabel}; diff in ${patch}`);
  return dirtyLabel;
}

/** For tests: forget the label set by guardResultsWrite. */
export function resetDirtyLabel(): void {
  dirtyLabel = null;
}

/** File names that are part of the code a step runs (tests and test helpers are not). */
const SOURCE_EXT = /\.(ts|c|h|cu|cuh|py)$/;
const NOT_SOURCE = /(_test\.ts|\/testing\.ts)$/;

const sourceCache = new Map<string, string>();

/**
 * SHA-256 over the source files under `folders` (relative to the repository root): every .ts, .c,
 * .h, .cu, .cuh and .py file except tests and test helpers, by sorted path and content. A code
 * change there changes the hash; a test or a README does not.
 */
export function sourceHash(folders: readonly string[], root = REPO_ROOT): string {
  const key = `${root}|${folders.join(",")}`;
  const hit = sourceCache.get(key);
  if (hit) return hit;
  const files: string[] = [];
  const walk = (dir: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(`${root}/${dir}`)];
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    for (const e of entries) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory && !["build", "node_modules", "data"].includes(e.name)) walk(p);
      else if (e.isFile && SOURCE_EXT.test(p) && !NOT_SOURCE.test(p)) files.push(p);
    }
  };
  for (const f of folders) walk(f);
  files.sort();
  const h = createHash("sha256");
  for (const f of files) {
    const bytes = Deno.readFileSync(`${root}/${f}`);
    h.update(`${f}\0${bytes.length}\0`);
    h.update(bytes);
  }
  const hex = h.digest("hex");
  sourceCache.set(key, hex);
  return hex;
}

/** The folders whose code a training run's numbers depend on (engine incl. native C and CUDA). */
export const TRAIN_SOURCES = ["engine", "operators", "recursion", "tasks"] as const;

/** sourceHash(TRAIN_SOURCES): recorded in every training run's config.json. */
export const trainSourceHash = (): string => sourceHash(TRAIN_SOURCES);

/** SIMD features of the CPU that decide which kernels run (from /proc/cpuinfo). */
export function cpuFeatures(): string {
  try {
    const flags = readSystemFile("/proc/cpuinfo").match(/^flags\s*:\s*(.*)$/m)?.[1]
      .split(/\s+/) ?? [];
    const has = (f: string) => flags.includes(f);
    const simd = has("avx512f") ? "avx512" : has("avx2") ? "avx2" : has("sse4_2") ? "sse4.2" : "";
    return [simd, has("avx512_bf16") ? "bf16" : ""].filter((s) => s).join("+");
  } catch {
    return "";
  }
}

/** CPU model, core count, OS and runtime versions, and the environment switches set. */
export function machineInfo(): Record<string, string | number> {
  let cpu = "";
  let family = "";
  try {
    const text = readSystemFile("/proc/cpuinfo");
    cpu = text.match(/model name\s*:\s*(.*)/)?.[1].trim() ?? "";
    family = text.match(/cpu family\s*:\s*(\d+)/)?.[1] ?? "";
  } catch {
    cpu = Deno.build.arch;
  }
  return {
    commit: gitCommit(),
    date: new Date().toISOString(),
    cpu,
    cpu_family: family,
    simd: cpuFeatures(),
    cores: navigator.hardwareConcurrency,
    os: `${Deno.build.os}-${Deno.build.arch}`,
    deno: Deno.version.deno,
    // The TRM_* environment switches set (engine/switches.ts): they may change numbers or speed.
    switches: switchesLabel(),
  };
}

/**
 * File helpers for dataset builders: SHA-256 checksums, outputs that appear atomically (write into a
 * temporary sibling, then rename), and an optional progress bar.
 *
 * @example
 * ```ts
 * import { AtomicDir } from "./io.ts";
 * const dir = await AtomicDir.open(".cache/datasets/demo", { force: true });
 * try {
 *   await dir.writeJson("metadata.json", { ok: true });
 *   await dir.commit(); // the folder appears only now, complete
 * } catch (e) {
 *   await dir.abort();
 *   throw e;
 * }
 * ```
 */
import { createHash } from "node:crypto";
import process from "node:process";
import cliProgress from "cli-progress";
import { writeFileAtomically, type WriteFn } from "../engine/atomic_write.ts";

/** SHA-256 of bytes or text, lowercase hex. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** An incremental SHA-256 over named parts: each part is framed by its name and byte length. */
export class ContentHash {
  #h = createHash("sha256");
  /** Adds one named part. */
  add(name: string, data: Uint8Array | string): this {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    this.#h.update(`${name}\0${bytes.length}\0`);
    this.#h.update(bytes);
    return this;
  }
  /** The final hash, lowercase hex. */
  hex(): string {
    return this.#h.digest("hex");
  }
}

/** Whether a path exists (any kind). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

function tempSuffix(): string {
  return `.tmp-${Deno.pid}-${Date.now().toString(36)}`;
}

/**
 * Writes a file atomically: a temporary sibling is written, then renamed over `path`. A failed
 * write (a full disk…) removes the temporary file and throws a WriteError naming `path` and saying
 * that its previous version is intact (engine/atomic_write.ts); `opts.write` injects the write call
 * (tests).
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  opts: { write?: WriteFn } = {},
): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  await writeFileAtomically(path, bytes, { tmp: path + tempSuffix(), sync: false, ...opts });
}

/**
 * An output folder that appears atomically: files go into a temporary sibling folder, and `commit`
 * renames it into place. An existing folder is replaced only with `force`.
 */
export class AtomicDir {
  private constructor(readonly path: string, readonly tmp: string, readonly force: boolean) {}

  /** Opens a temporary folder next to `path`; fails early if `path` exists and `force` is off. */
  static async open(path: string, opts: { force?: boolean } = {}): Promise<AtomicDir> {
    const force = opts.force ?? false;
    if (!force && await exists(path)) {
      throw new Deno.errors.AlreadyExists(
        `output folder already exists (use --force to replace it): ${path}`,
      );
    }
    const parent = path.replace(/\/+$/, "").replace(/\/[^/]*$/, "");
    if (parent && parent !== path) await Deno.mkdir(parent, { recursive: true });
    const tmp = path.replace(/\/+$/, "") + tempSuffix();
    await Deno.mkdir(tmp, { recursive: true });
    return new AtomicDir(path.replace(/\/+$/, ""), tmp, force);
  }

  /** Path of a file inside the temporary folder. */
  file(name: string): string {
    return `${this.tmp}/${name}`;
  }

  /** Writes bytes or text. */
  async write(name: string, data: Uint8Array | string): Promise<void> {
    if (typeof data === "string") await Deno.writeTextFile(this.file(name), data);
    else await Deno.writeFile(this.file(name), data);
  }

  /** Writes a value as JSON (pretty when `pretty`). */
  async writeJson(name: string, value: unknown, pretty = false): Promise<void> {
    await this.write(name, JSON.stringify(value, null, pretty ? 2 : undefined) + "\n");
  }

  /** Moves the finished folder into place (replacing an old one only when `force`). */
  async commit(): Promise<void> {
    let old: string | null = null;
    if (await exists(this.path)) {
      if (!this.force) {
        throw new Deno.errors.AlreadyExists(`output folder appeared meanwhile: ${this.path}`);
      }
      old = this.path + ".old" + tempSuffix();
      await Deno.rename(this.path, old);
    }
    await Deno.rename(this.tmp, this.path);
    if (old) await Deno.remove(old, { recursive: true });
  }

  /** Removes the temporary folder (after a failure). */
  async abort(): Promise<void> {
    await Deno.remove(this.tmp, { recursive: true }).catch(() => {});
  }
}

/**
 * Writes `files` and then `metadata.json` (pretty JSON) into the folder `out` atomically: on any
 * failure the temporary folder is removed and nothing replaces `out`.
 */
export async function writeFolderAtomically(
  out: string,
  files: Iterable<[string, Uint8Array | string]>,
  metadata: unknown,
  opts: { force?: boolean } = {},
): Promise<void> {
  const dir = await AtomicDir.open(out, { force: opts.force });
  try {
    for (const [name, data] of files) await dir.write(name, data);
    await dir.writeJson("metadata.json", metadata, true);
    await dir.commit();
  } catch (e) {
    await dir.abort();
    throw e;
  }
}

/** A progress display: `tick` advances, `stop` ends it. No-op when disabled. */
export interface Progress {
  tick(n?: number): void;
  stop(): void;
}

/** Whether progress bars should be shown: `--progress` given, or stderr is a terminal. */
export function progressWanted(flag: boolean | undefined): boolean {
  if (flag !== undefined) return flag;
  try {
    return Deno.stderr.isTerminal();
  } catch {
    return false;
  }
}

interface Bar {
  start(total: number, value: number, payload?: Record<string, unknown>): void;
  increment(n?: number): void;
  stop(): void;
}

/** A cli-progress bar on stderr when `enabled`, otherwise a no-op. */
export function progressBar(label: string, total: number, enabled: boolean): Progress {
  if (!enabled) return { tick() {}, stop() {} };
  const Ctor = cliProgress as unknown as {
    SingleBar: new (opts: Record<string, unknown>, preset: unknown) => Bar;
    Presets: Record<string, unknown>;
  };
  const bar = new Ctor.SingleBar({
    format: `${label} [{bar}] {percentage}% | {value}/{total} | eta {eta_formatted}`,
    stream: process.stderr,
    hideCursor: false,
  }, Ctor.Presets.shades_classic);
  bar.start(total, 0);
  return { tick: (n = 1) => bar.increment(n), stop: () => bar.stop() };
}

/** SHA-256 of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  const f = await Deno.open(path, { read: true });
  for await (const chunk of f.readable) h.update(chunk); // the stream closes the file
  return h.digest("hex");
}

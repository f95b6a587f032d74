/**
 * Writing a file atomically: the bytes go to a temporary sibling, which is renamed over the target
 * only once it is complete, so a reader sees the old file or the new one, never a part. When the
 * write fails (a full disk, above all) the temporary file is removed and a WriteError names the
 * file, the reason and that the previous version is untouched — the system's own message
 * ("No space left on device (os error 28)") names no file.
 *
 * @example
 * ```ts
 * import { writeFileAtomically } from "./atomic_write.ts";
 * await writeFileAtomically("out/table.csv", new TextEncoder().encode("a,b\n"));
 * ```
 */

/** Writes some of `bytes` to `file`, returning how many (`Deno.FsFile.write`; tests inject faults). */
export type WriteFn = (file: Deno.FsFile, bytes: Uint8Array) => Promise<number>;

/** Options of writeFileAtomically. */
export interface AtomicWriteOptions {
  /** The temporary sibling (default `<path>.tmp-<pid>-<time>`). */
  tmp?: string;
  /** Flush the data to the device before the rename (default true). */
  sync?: boolean;
  /** The write call (default `file.write`): tests inject a full disk here. */
  write?: WriteFn;
}

/** A failed atomic write: names the file and what is intact. */
export class WriteError extends Error {
  override name = "WriteError";
  /** The file that was being written. */
  readonly path: string;
  /** The temporary file (removed). */
  readonly tmp: string;
  /** The system's reason. */
  readonly reason: string;
  /** Whether the reason is a full disk (ENOSPC) or an exceeded quota (EDQUOT). */
  readonly diskFull: boolean;
  constructor(
    f: {
      path: string;
      tmp: string;
      reason: string;
      diskFull: boolean;
      /** What is intact (default: the previous `path`), or null when there was none. */
      intact: string | null;
      /** What the file is, for the message (e.g. "the step-7 checkpoint"). */
      what?: string;
    },
    cause: unknown,
  ) {
    super(
      `cannot write ${f.path}${f.what ? ` (${f.what})` : ""}: ${f.reason}${
        f.diskFull ? " — the disk is full; free space and rerun" : ""
      }; ${f.intact === null ? "nothing was replaced" : `${f.intact} is intact`}` +
        ` (the partial ${f.tmp} was removed)`,
      { cause },
    );
    this.path = f.path;
    this.tmp = f.tmp;
    this.reason = f.reason;
    this.diskFull = f.diskFull;
  }
}

/** Whether an error from the file system means a full disk (or an exceeded disk quota). */
export function isDiskFull(e: unknown): boolean {
  const text = e instanceof Error
    ? `${e.message} ${(e as { code?: string }).code ?? ""}`
    : String(e);
  return /No space left on device|ENOSPC|os error 28\b|Disk quota exceeded|EDQUOT|os error 122\b/i
    .test(text);
}

async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes `data` to `path` atomically (temporary sibling, flushed, renamed). On failure the
 * temporary file is removed and a WriteError is thrown (the original error is its `cause`).
 */
export async function writeFileAtomically(
  path: string,
  data: Uint8Array,
  opts: AtomicWriteOptions = {},
): Promise<void> {
  const tmp = opts.tmp ?? `${path}.tmp-${Deno.pid}-${Date.now().toString(36)}`;
  const write: WriteFn = opts.write ?? ((f, b) => f.write(b));
  try {
    const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
    try {
      let written = 0;
      while (written < data.length) {
        const n = await write(file, data.subarray(written));
        if (!(n > 0)) {
          throw new Error(`write returned ${n} with ${data.length - written} bytes left`);
        }
        written += n;
      }
      if (opts.sync ?? true) await file.syncData();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {}); // cleanup only; the error is reported below
    const reason = e instanceof Error ? e.message : String(e);
    const intact = await pathExists(path) ? `the previous ${path}` : null;
    throw new WriteError({ path, tmp, reason, diskFull: isDiskFull(e), intact }, e);
  }
}

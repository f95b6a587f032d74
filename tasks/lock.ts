/**
 * Exclusive locks on output folders, so that two processes never write one run (`train --out`),
 * one reproduce (`--runs`, `--out`) or one prepared dataset at the same time.
 *
 * A lock is a file holding JSON `{pid, hostname, startedAt, command}`, created atomically
 * (`Deno.open` with `createNew`, which fails when the file exists). It is removed when released,
 * and — for locks still held — on exit (`unload`, which `Deno.exit` also fires), on an uncaught
 * error or unhandled rejection, and on SIGINT/SIGTERM (the process then exits 130/143). Only
 * `kill -9` or a machine crash leave it behind; such a lock is *stale* when its pid is not alive
 * on this host, and the next process takes it over with a warning. A live holder (this process
 * included) is refused with one line naming its pid and the folder. A lock from another host
 * cannot be checked and is refused too (remove the file if that process is gone).
 *
 * @example
 * ```ts
 * import { folderLockPath, withLock } from "./lock.ts";
 * await withLock(folderLockPath("runs/demo"), "runs/demo", async () => {
 *   // … write into runs/demo …
 * });
 * ```
 */
import { readSystemFile } from "../engine/proc.ts";

/** What a lock file holds. */
export interface LockInfo {
  pid: number;
  hostname: string;
  startedAt: string;
  command: string;
}

/** The folder (or output) is locked by a live process. */
export class LockedError extends Error {
  override name = "LockedError";
}

/** A held lock. */
export interface Lock {
  readonly path: string;
  readonly info: LockInfo;
  /** Removes the lock file (if it is still this lock's); idempotent. */
  release(): void;
}

/** The lock file of a folder that its process writes into (train, reproduce). */
export const LOCK_FILE = ".trm.lock";
export const folderLockPath = (dir: string) => `${dir.replace(/\/+$/, "")}/${LOCK_FILE}`;
/** The lock of an output that appears by a rename (prepare): a sibling file. */
export const siblingLockPath = (path: string) => `${path.replace(/\/+$/, "")}.trm.lock`;

/** A lock file that cannot be parsed is taken as being written for this long, then as stale. */
const UNREADABLE_GRACE_MS = 10_000;

function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown-host";
  }
}

/**
 * Whether process `pid` is alive on this host: /proc/<pid>/stat (a zombie counts as dead) where
 * there is a /proc, else `kill -0`. A pid reused by another process reads as alive (the lock is then refused, naming it).
 */
export function pidAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  if (pid === Deno.pid) return true;
  let stat: string | null = null;
  try {
    // Through `cat` where Deno refuses /proc to the task's permissions (engine/proc.ts).
    stat = readSystemFile(`/proc/${pid}/stat`);
  } catch (e) {
    // No such process (its /proc entry is gone), or no /proc at all: kill(1) below decides.
    if (!(e instanceof Deno.errors.NotFound)) stat = null;
  }
  if (stat !== null) {
    // "pid (comm) S …": a zombie (Z) or dead (X) process has exited, only not been reaped yet.
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  }
  try {
    const r = new Deno.Command("kill", {
      args: ["-0", String(pid)],
      stdout: "null",
      stderr: "null",
    })
      .outputSync();
    return r.success;
  } catch {
    return true; // cannot tell: assume alive (refusing is the safe side)
  }
}

// ---- locks held by this process, released on exit, errors and signals ----

const held = new Map<string, Lock>();
let handlersInstalled = false;

function releaseAll(): void {
  for (const l of [...held.values()]) l.release();
}

const onSignal = (code: number) => () => {
  releaseAll();
  Deno.exit(code);
};
const EVENTS = ["unload", "error", "unhandledrejection"] as const;
const SIGNALS: [Deno.Signal, () => void][] = [
  ["SIGINT", onSignal(130)],
  ["SIGTERM", onSignal(143)],
];

/**
 * Installs (`on`) the handlers that release the held locks on exit (`unload`), uncaught errors,
 * unhandled rejections and SIGINT/SIGTERM, or removes them once no lock is held (a signal listener
 * keeps a pending op).
 */
function setHandlers(on: boolean): void {
  if (handlersInstalled === on || (!on && held.size)) return;
  handlersInstalled = on;
  for (const type of EVENTS) {
    if (on) globalThis.addEventListener(type, releaseAll);
    else globalThis.removeEventListener(type, releaseAll);
  }
  try {
    for (const [signal, handler] of SIGNALS) {
      if (on) Deno.addSignalListener(signal, handler);
      else Deno.removeSignalListener(signal, handler);
    }
  } catch {
    // a platform without these signals
  }
}

function readText(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

function parseInfo(text: string): LockInfo | null {
  try {
    const v = JSON.parse(text);
    if (typeof v?.pid === "number" && typeof v?.hostname === "string") return v as LockInfo;
  } catch {
    // unreadable
  }
  return null;
}

/** Creates the lock file if it does not exist; false when it does. */
function tryCreate(path: string, text: string): boolean {
  let f: Deno.FsFile;
  try {
    f = Deno.openSync(path, { write: true, createNew: true });
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) return false;
    throw e;
  }
  try {
    const bytes = new TextEncoder().encode(text);
    let n = 0;
    while (n < bytes.length) n += f.writeSync(bytes.subarray(n));
  } catch (e) {
    f.close();
    Deno.removeSync(path);
    throw e;
  }
  f.close();
  return true;
}

/**
 * Takes over a stale lock whose text was `seen`: renames it aside, checks that the renamed file
 * is still that stale lock (another process may have taken it over meanwhile), removes it.
 * Returns false when someone else's fresh lock was caught (it is put back).
 */
function takeOverStale(path: string, seen: string): boolean {
  const aside = `${path}.stale-${Deno.pid}`;
  try {
    Deno.renameSync(path, aside);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return true; // gone already: retry creating
    throw e;
  }
  if (readText(aside) === seen) {
    Deno.removeSync(aside);
    return true;
  }
  try {
    Deno.linkSync(aside, path); // put the fresh lock back (fails if yet another one exists)
  } catch {
    // the holder of `path` now is someone else either way
  }
  Deno.removeSync(aside);
  return false;
}

/**
 * Takes the exclusive lock `path` for `what` (the folder or output it guards, for messages).
 * Throws LockedError when a live process holds it; takes over a stale one, calling `warn`.
 */
export function acquireLock(
  path: string,
  what: string,
  opts: { warn?: (line: string) => void; command?: string } = {},
): Lock {
  const warn = opts.warn ?? ((l: string) => console.warn(l));
  const info: LockInfo = {
    pid: Deno.pid,
    hostname: hostname(),
    startedAt: new Date().toISOString(),
    command: opts.command ?? [Deno.mainModule.replace(/^.*\//, ""), ...Deno.args].join(" "),
  };
  const text = JSON.stringify(info) + "\n";
  for (let attempt = 0; attempt < 5; attempt++) {
    if (tryCreate(path, text)) {
      const lock: Lock = {
        path,
        info,
        release() {
          if (held.get(path) !== lock) return;
          held.delete(path);
          try {
            if (readText(path) === text) Deno.removeSync(path);
          } catch {
            // already gone, or the folder was removed
          }
          setHandlers(false);
        },
      };
      held.set(path, lock);
      setHandlers(true);
      return lock;
    }
    const seen = readText(path);
    if (seen === null) continue; // released meanwhile
    const other = parseInfo(seen);
    if (other === null) {
      let age = Infinity;
      try {
        age = Date.now() - (Deno.statSync(path).mtime?.getTime() ?? 0);
      } catch {
        continue;
      }
      if (age < UNREADABLE_GRACE_MS) {
        throw new LockedError(
          `${what} is being locked by another process (${path} is being written); try again`,
        );
      }
      warn(`warning: ${path} is unreadable (${seen.length} bytes); taking it over as stale`);
      takeOverStale(path, seen);
      continue;
    }
    const sameHost = other.hostname === info.hostname;
    if (sameHost && !pidAlive(other.pid)) {
      warn(
        `warning: taking over the stale lock ${path} of pid ${other.pid} (not running; started ` +
          `${other.startedAt}: ${other.command ?? "?"})`,
      );
      takeOverStale(path, seen);
      continue;
    }
    const who = sameHost
      ? (other.pid === Deno.pid ? `this process (pid ${other.pid})` : `pid ${other.pid}`)
      : `pid ${other.pid} on host ${other.hostname}`;
    throw new LockedError(
      `${what} is in use by ${who} since ${other.startedAt} (${other.command ?? "?"}); ` +
        `wait for it or stop it (if that process is gone — another host, or its pid reused ` +
        `after a crash — remove ${path})`,
    );
  }
  throw new LockedError(`${what}: could not take the lock ${path} (it keeps changing hands)`);
}

/** Runs `fn` holding the lock `path` (created in an existing folder), releasing it afterwards. */
export async function withLock<T>(
  path: string,
  what: string,
  fn: (lock: Lock) => Promise<T>,
  opts: { warn?: (line: string) => void; command?: string } = {},
): Promise<T> {
  const lock = acquireLock(path, what, opts);
  try {
    return await fn(lock);
  } finally {
    lock.release();
  }
}

/** Temporary files (`<name>.tmp-<pid>[-<time>]`) that an interrupted writer left in `dir`. */
export const TEMP_FILE = /\.tmp-(\d+)(-[0-9a-z]+)?$/;

/**
 * Removes the temporary files of `dir` (not recursive) left by writers that were killed
 * (atomic writes: engine/atomic_write.ts). Call it holding the folder's lock: no other process
 * writes there then, so every temporary that is not this process's own is stale. Returns the
 * names removed.
 */
export async function removeStaleTemporaries(dir: string): Promise<string[]> {
  const removed: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return removed;
    throw e;
  }
  for (const e of entries) {
    const m = TEMP_FILE.exec(e.name);
    if (!m || !e.isFile || Number(m[1]) === Deno.pid) continue;
    await Deno.remove(`${dir}/${e.name}`).catch(() => {});
    removed.push(e.name);
  }
  return removed.sort();
}

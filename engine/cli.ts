/**
 * The command line every entry point shares (`deno task …` and the dev tools), so that each
 * behaves like a tool:
 *
 * - `--help` / `-h` prints the usage on stdout and exits 0, before anything is loaded, built or
 *   written;
 * - a misuse (unknown flag, missing or extra argument, a bad value) prints one line
 *   `name: message` and the usage on stderr and exits 2;
 * - a refused permission (Deno's `NotCapable`, e.g. writing outside the places a task may write)
 *   prints one line naming the path and how to allow it, exit 1 — not a stack trace;
 * - other errors print one line `Name: message`, exit 1 (`runMain`).
 *
 * Flags are parsed by node:util `parseArgs` (strict). `dieWithParent` makes a long-running
 * command die with the process that started it (`deno task` killed with SIGKILL must not leave
 * its `deno run` child training).
 *
 * Any layer may import this module; it imports nothing of the project.
 *
 * @example
 * ```ts
 * import { cliArgs } from "./cli.ts";
 * const { values } = cliArgs("tool", "usage: tool [--n N]", { n: { type: "string" } }, ["--n", "3"]);
 * ```
 */
import { resolve } from "node:path";
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { envIfAllowed, readSwitch } from "./switches.ts";

/** The flag every command takes. */
export const HELP_OPTION = { help: { type: "boolean", short: "h" } } as const;

/** The parsed flags of `options` (plus `help`), typed as node:util parseArgs types them. */
export type CliValues<T extends ParseArgsOptionsConfig> = ReturnType<
  typeof parseArgs<
    { args: string[]; options: T & typeof HELP_OPTION; strict: true; allowPositionals: false }
  >
>["values"];

/** Positional arguments a command takes: none (false), any number (true) or a count range. */
export type PositionalSpec = boolean | { min?: number; max?: number };

/**
 * What `parseCli` decided: the arguments, or a text to print and the exit status (0 help, 2
 * misuse; `message` is the misuse alone, without the name and the usage).
 */
export type CliResult<T extends ParseArgsOptionsConfig> =
  | { values: CliValues<T>; positionals: string[] }
  | { exit: 0 | 2; text: string; message?: string };

/** A command-line mistake: `runMain` prints it as `name: message` with the usage, exit status 2. */
export class UsageError extends TypeError {
  override name = "UsageError";
}

/** A flag value out of range (a RangeError, for callers that test for one); a usage error too. */
export class FlagValueError extends RangeError {
  override name = "FlagValueError";
}

/** Whether `e` is a misuse of the command line (exit status 2). */
export function isUsageError(e: unknown): boolean {
  return e instanceof UsageError || e instanceof FlagValueError;
}

/**
 * A parse error's message on one line: node's hint about positional arguments starting with a
 * dash is dropped, line breaks become spaces.
 */
export function cliMessage(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.replace(/\.? ?To specify a positional argument[\s\S]*$/, "")
    .replace(/\s*\n\s*/g, " ").trim();
}

/** `name: message` and the usage, as printed on a misuse. */
export function usageText(name: string, message: string, usage: string): string {
  return `${name}: ${message}\n${usage.trimEnd()}`;
}

function wantsHelp(argv: string[]): boolean {
  const end = argv.indexOf("--");
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === "--help" || a === "-h");
}

/**
 * Parses `argv` strictly (unknown flags are errors) with `options` plus `--help`/`-h`; positional
 * arguments as `opts.positionals` allows (none by default). `--help` anywhere before `--` gives
 * the usage, exit 0 (even with other mistakes: help wins); a mistake gives one line
 * (`name: message`) and the usage, exit 2. Pure: `cliArgs` or the caller prints and exits.
 */
export function parseCli<const T extends ParseArgsOptionsConfig>(
  name: string,
  usage: string,
  options: T,
  argv: string[],
  opts: { positionals?: PositionalSpec } = {},
): CliResult<T> {
  const spec = opts.positionals ?? false;
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...options, ...HELP_OPTION },
      strict: true,
      allowPositionals: spec !== false,
    });
  } catch (e) {
    if (wantsHelp(argv)) return { exit: 0, text: usage.trimEnd() };
    const message = cliMessage(e);
    return { exit: 2, text: usageText(name, message, usage), message };
  }
  const values = parsed.values as CliValues<T>;
  if ((values as { help?: boolean }).help) return { exit: 0, text: usage.trimEnd() };
  const positionals = parsed.positionals;
  if (typeof spec === "object") {
    const min = spec.min ?? 0, max = spec.max ?? Infinity;
    if (positionals.length < min || positionals.length > max) {
      const want = min === max
        ? `${min}`
        : max === Infinity
        ? `at least ${min}`
        : `${min} to ${max}`;
      const got = positionals.length ? `: ${positionals.join(" ")}` : "";
      const plural = (max === Infinity ? min : max) === 1 ? "" : "s";
      const message = `expected ${want} argument${plural}, got ${positionals.length}${got}`;
      return { exit: 2, text: usageText(name, message, usage), message };
    }
  }
  return { values, positionals };
}

/** Prints a `parseCli` verdict (help on `log`, a misuse on stderr) and returns its exit status. */
export function printCliResult(r: { exit: 0 | 2; text: string }, log = console.log): 0 | 2 {
  (r.exit === 0 ? log : console.error)(r.text);
  return r.exit;
}

/**
 * The arguments of a command (see `parseCli`); prints the usage and exits 0 on `--help`, prints
 * the error and the usage to stderr and exits 2 on a mistake. Also makes an uncaught refused
 * permission or usage error print one line (`installErrorHandler`).
 */
export function cliArgs<const T extends ParseArgsOptionsConfig>(
  name: string,
  usage: string,
  options: T,
  argv: string[] = Deno.args,
  opts: { positionals?: PositionalSpec } = {},
): { values: CliValues<T>; positionals: string[] } {
  const r = parseCli(name, usage, options, argv, opts);
  if ("exit" in r) Deno.exit(printCliResult(r));
  installErrorHandler(name, usage);
  return r;
}

// ----------------------------------------------------------------------------- flag values

/**
 * `text` of `--flag` as a number: an integer when `integer`, at least `min` (default: none) and
 * above `above` when given; NaN, infinities and empty text are refused (FlagValueError).
 */
export function numberFlag(
  flag: string,
  text: string,
  o: { integer?: boolean; min?: number; above?: number } = {},
): number {
  const v = Number(text);
  const kind = o.integer ? "an integer" : "a number";
  const bound = o.above !== undefined ? ` > ${o.above}` : o.min !== undefined ? ` ≥ ${o.min}` : "";
  if (
    text.trim() === "" || !Number.isFinite(v) || (o.integer && !Number.isSafeInteger(v)) ||
    (o.min !== undefined && v < o.min) || (o.above !== undefined && !(v > o.above))
  ) {
    throw new FlagValueError(`--${flag}: expected ${kind}${bound}, got ${JSON.stringify(text)}`);
  }
  return v;
}

/** `text` of `--flag` as an integer ≥ `min` (default 1), or a FlagValueError naming the flag. */
export function intFlag(flag: string, text: string, min = 1): number {
  return numberFlag(flag, text, { integer: true, min });
}

/**
 * Runs `fn` (the parsing of a command line beyond the flags' syntax: values, files named by
 * flags) and turns its errors into usage errors (exit 2), except refused permissions.
 */
export async function asUsage<R>(fn: () => R | Promise<R>): Promise<R> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable || isUsageError(e)) throw e;
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
}

// ----------------------------------------------------------------------------- errors

/**
 * One line for a refused permission (Deno's "Requires write access to "/x", run again with the
 * --allow-write flag"): which path, and how to allow it.
 */
export function permissionMessage(name: string, e: Error): string {
  const m = e.message.match(/Requires (\w+) access to "?([^",]*)"?,?/);
  if (!m) return `${name}: permission refused: ${e.message}`;
  const [, kind, what] = m;
  if (kind === "write") {
    return `${name}: writing ${what} is not allowed: deno tasks write only inside the repository ` +
      `and /tmp — use a folder there, or run the command with \`deno run --allow-write=DIR …\` ` +
      `(the task's line in deno.json)`;
  }
  const flag = kind === "all" ? "--allow-all" : `--allow-${kind}=${what}`;
  return `${name}: ${kind} access to ${what} is not allowed by this task's permissions — run ` +
    `the command with \`deno run ${flag} …\` (the task's line in deno.json)`;
}

let handler: { name: string; usage?: string } | null = null;

/**
 * Makes what a top-level script did not catch print one line instead of a stack trace: a refused
 * permission (`permissionMessage`, exit 1) and a usage error (`name: message` and the usage, exit
 * 2). Other uncaught errors keep Deno's report. The latest call's name and usage are used.
 */
export function installErrorHandler(name: string, usage?: string): void {
  const first = handler === null;
  handler = { name, usage };
  if (!first) return;
  const handle = (ev: Event, err: unknown) => {
    if (!handler) return;
    if (err instanceof Deno.errors.NotCapable) {
      ev.preventDefault();
      console.error(permissionMessage(handler.name, err));
      Deno.exit(1);
    }
    if (isUsageError(err)) {
      ev.preventDefault();
      const msg = (err as Error).message;
      console.error(
        handler.usage ? usageText(handler.name, msg, handler.usage) : `${handler.name}: ${msg}`,
      );
      Deno.exit(2);
    }
  };
  globalThis.addEventListener("error", (ev) => handle(ev, (ev as ErrorEvent).error));
  globalThis.addEventListener(
    "unhandledrejection",
    (ev) => handle(ev, (ev as PromiseRejectionEvent).reason),
  );
}

/**
 * Throws Deno's NotCapable (which `runMain` prints as one line naming the path) when this process
 * may not write `path` — checked when the command line is read, not after a long computation. Asks
 * as a write would (a prompt on a terminal without --no-prompt).
 */
export function assertWritable(path: string): void {
  let state: string;
  try {
    state = Deno.permissions.requestSync({ name: "write", path }).state;
  } catch {
    return; // no permission API here: the write itself will tell
  }
  if (state !== "granted") {
    throw new Deno.errors.NotCapable(
      `Requires write access to "${resolve(path)}", run again with the --allow-write flag`,
    );
  }
}

/**
 * Runs a command's `main` and exits with its status. A usage error prints `name: message` and the
 * usage (exit 2); a refused permission `permissionMessage` (exit 1); any other error one line
 * `Name: message` (exit 1).
 */
export async function runMain(
  main: (args: string[]) => Promise<number>,
  o: { name?: string; usage?: string } = {},
): Promise<never> {
  const name = o.name ?? "error";
  installErrorHandler(name, o.usage);
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable) {
      console.error(permissionMessage(name, e));
      Deno.exit(1);
    }
    if (isUsageError(e)) {
      const msg = (e as Error).message;
      console.error(o.usage ? usageText(name, msg, o.usage) : `${name}: ${msg}`);
      Deno.exit(2);
    }
    console.error(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
    Deno.exit(1);
  }
}

// ----------------------------------------------------------------------------- parent death

const PR_SET_PDEATHSIG = 1;
const SIGTERM = 15;
/** Where libc lives on the usual Linux layouts (glibc); the first that FFI may load is used. */
const LIBC_PATHS = [
  "/usr/lib/x86_64-linux-gnu/libc.so.6",
  "/lib/x86_64-linux-gnu/libc.so.6",
  "/usr/lib/aarch64-linux-gnu/libc.so.6",
  "/lib/aarch64-linux-gnu/libc.so.6",
  "/usr/lib64/libc.so.6",
  "/lib64/libc.so.6",
  "/usr/lib/libc.so.6",
  "libc.so.6", // the loader's search: only with --allow-ffi for any library
];

/**
 * Makes this process receive SIGTERM when its parent dies (Linux `prctl(PR_SET_PDEATHSIG)`, via
 * FFI to libc), so that killing `deno task X` (even with SIGKILL) ends the `deno run` it started
 * instead of leaving it running and writing. Checks right after that the parent has not died
 * already (getppid() changed), and exits then.
 *
 * On by default when a task runner started us (`deno task` sets INIT_CWD), so that a `deno run`
 * under `nohup` outlives its shell as before; TRM_DIE_WITH_PARENT=1 / 0 forces it on / off.
 * A no-op (returning why) where not Linux, without libc, or without FFI permission for libc.
 */
export function dieWithParent(): { armed: boolean; note: string } {
  if (Deno.build.os !== "linux") return { armed: false, note: "not Linux: no PR_SET_PDEATHSIG" };
  // Inside `deno test` (a test calling a CLI's main in-process) the process is the test runner,
  // not a task's entry point: arming there let a SIGTERM end a whole test file (seen once in
  // distribute_test under `deno task test`).
  if (/_test\.[cm]?[jt]sx?$/.test(Deno.mainModule)) {
    return { armed: false, note: "inside a test runner" };
  }
  const force = readSwitch("TRM_DIE_WITH_PARENT");
  if (force === "0") return { armed: false, note: "TRM_DIE_WITH_PARENT=0" };
  if (force !== "1" && envIfAllowed("INIT_CWD") === undefined) {
    return { armed: false, note: "not started by a task runner (INIT_CWD unset)" };
  }
  const symbols = {
    prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
    getppid: { parameters: [], result: "i32" },
  } as const;
  let lib: Deno.DynamicLibrary<typeof symbols> | null = null;
  for (const path of LIBC_PATHS) {
    try {
      if (Deno.permissions.querySync({ name: "ffi", path }).state !== "granted") continue;
      lib = Deno.dlopen(path, symbols);
      break;
    } catch {
      // not this layout
    }
  }
  if (!lib) return { armed: false, note: "no libc.so.6 that FFI may load (--allow-ffi)" };
  const before = Deno.ppid;
  const rc = lib.symbols.prctl(PR_SET_PDEATHSIG, BigInt(SIGTERM), 0n, 0n, 0n);
  if (rc !== 0) return { armed: false, note: `prctl failed (${rc})` };
  if (lib.symbols.getppid() !== before) {
    // The parent died before the signal was armed: nobody waits for our output.
    console.error("parent process exited; stopping");
    Deno.exit(143);
  }
  return { armed: true, note: `SIGTERM when parent ${before} exits` };
}

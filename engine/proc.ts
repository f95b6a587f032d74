/**
 * Reading Linux's /proc and /sys (the CPU model and flags, cgroup memory limits). Deno lets a
 * program read those only with --allow-all, not with --allow-read; the `deno task` commands run
 * with narrower permissions (deno.json), so there the file is read by `cat` instead, which they may
 * run (--allow-run=cat). Without either, the read fails as Deno's would (NotCapable).
 *
 * @example
 * ```ts
 * import { readSystemFile } from "./proc.ts";
 * const model = readSystemFile("/proc/cpuinfo").match(/model name\s*:\s*(.*)/)?.[1];
 * ```
 */

/** The text of `path` (a /proc or /sys file): read directly, else through `cat`. */
export function readSystemFile(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotCapable)) throw e;
    let out: Deno.CommandOutput;
    try {
      out = new Deno.Command("cat", { args: [path], stdout: "piped", stderr: "null" })
        .outputSync();
    } catch {
      throw e; // no cat either: Deno's own refusal says what to allow
    }
    if (!out.success) throw new Deno.errors.NotFound(`cannot read ${path}`);
    return new TextDecoder().decode(out.stdout);
  }
}

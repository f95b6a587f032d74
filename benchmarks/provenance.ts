/**
 * Provenance recorded next to every number we write: commit, date, machine, runtime.
 */

function run(cmd: string, args: string[]): string {
  try {
    const o = new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).outputSync();
    return o.success ? new TextDecoder().decode(o.stdout).trim() : "";
  } catch {
    return ""; // command not installed: the field stays empty
  }
}

/** The current git commit (with "-dirty" when the tree has changes), or "unknown". */
export function gitCommit(): string {
  const c = run("git", ["rev-parse", "--short=12", "HEAD"]);
  if (!c) return "unknown";
  return run("git", ["status", "--porcelain", "--untracked-files=no"]) ? `${c}-dirty` : c;
}

/** CPU model, core count, OS and runtime versions. */
export function machineInfo(): Record<string, string | number> {
  let cpu = "";
  try {
    const m = Deno.readTextFileSync("/proc/cpuinfo").match(/model name\s*:\s*(.*)/);
    cpu = m ? m[1].trim() : "";
  } catch {
    cpu = Deno.build.arch;
  }
  return {
    commit: gitCommit(),
    date: new Date().toISOString(),
    cpu,
    cores: navigator.hardwareConcurrency,
    os: `${Deno.build.os}-${Deno.build.arch}`,
    deno: Deno.version.deno,
  };
}

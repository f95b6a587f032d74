/**
 * engine/cli.ts: parsing (help wins, one-line misuse, positionals), number flags, the usage-error
 * conversion, the permission message, runMain's exit statuses and messages (in a child process),
 * and dieWithParent: a child started through a task runner dies when the runner is SIGKILLed.
 */
import assert from "node:assert/strict";
import {
  asUsage,
  cliMessage,
  FlagValueError,
  intFlag,
  isUsageError,
  numberFlag,
  parseCli,
  permissionMessage,
  UsageError,
} from "./cli.ts";

const CLI = new URL("./cli.ts", import.meta.url).href;
const USAGE = "usage: x [--n N] [--quick] FILE...";
const OPTS = { n: { type: "string", default: "3" }, quick: { type: "boolean" } } as const;

Deno.test("parseCli: values and positionals; --help wins; misuse is one line + usage", () => {
  const ok = parseCli("x", USAGE, OPTS, ["--n", "5", "a", "--quick", "b"], { positionals: true });
  assert.ok("values" in ok);
  assert.deepEqual(ok.values.n, "5");
  assert.deepEqual(ok.values.quick, true);
  assert.deepEqual(ok.positionals, ["a", "b"]);
  for (const help of [["--help"], ["-h"], ["--n", "2", "--help"], ["--bogus", "--help"]]) {
    assert.deepEqual(parseCli("x", USAGE, OPTS, help), { exit: 0, text: USAGE });
  }
  assert.ok("values" in parseCli("x", USAGE, OPTS, ["--", "--help"], { positionals: true }));
  const cases: [string[], string][] = [
    [["--bogus"], "Unknown option '--bogus'"],
    [["file"], "Unexpected argument 'file'. This command does not take positional arguments"],
    [["--n"], "Option '--n <value>' argument missing"],
    [["--quick=1"], "Option '--quick' does not take an argument"],
  ];
  for (const [argv, message] of cases) {
    const r = parseCli("x", USAGE, OPTS, argv);
    assert.ok("exit" in r, argv.join(" "));
    assert.deepEqual(r, { exit: 2, text: `x: ${message}\n${USAGE}`, message });
  }
  // node's hint about dash-led positionals is dropped, line breaks become spaces
  const pos = parseCli("x", USAGE, OPTS, ["--bogus"], { positionals: true });
  assert.ok("exit" in pos);
  assert.deepEqual(pos.message, "Unknown option '--bogus'");
  const amb = parseCli("x", USAGE, OPTS, ["--n", "-1"]);
  assert.ok("exit" in amb && !amb.message!.includes("\n"), JSON.stringify(amb));
});

Deno.test("parseCli: positional counts", () => {
  const two = { positionals: { min: 2, max: 2 } };
  assert.ok("values" in parseCli("x", USAGE, OPTS, ["a", "b"], two));
  const r = parseCli("x", USAGE, OPTS, ["a"], two);
  assert.ok("exit" in r);
  assert.deepEqual(r.message, "expected 2 arguments, got 1: a");
  const some = parseCli("x", USAGE, OPTS, [], { positionals: { min: 1 } });
  assert.ok("exit" in some);
  assert.deepEqual(some.message, "expected at least 1 argument, got 0");
  const few = parseCli("x", USAGE, OPTS, ["a", "b", "c"], { positionals: { min: 1, max: 2 } });
  assert.ok("exit" in few);
  assert.deepEqual(few.message, "expected 1 to 2 arguments, got 3: a b c");
});

Deno.test("cliMessage: one line, without node's positional hint", () => {
  const e = new TypeError(
    "Unknown option '--x'. To specify a positional argument starting with a '-', place it at " +
      "the end of the command after '--', as in '-- \"--x\"",
  );
  assert.deepEqual(cliMessage(e), "Unknown option '--x'");
  assert.deepEqual(cliMessage(new Error("a\n b\nc")), "a b c");
});

Deno.test("numberFlag / intFlag: NaN, infinities, empty, below the bound are refused", () => {
  assert.deepEqual(intFlag("steps", "12"), 12);
  assert.deepEqual(numberFlag("lr", "0", { min: 0 }), 0);
  assert.deepEqual(numberFlag("max-minutes", "0.5", { above: 0 }), 0.5);
  const bad: [string, Parameters<typeof numberFlag>[2]][] = [
    ["0", { integer: true, min: 1 }],
    ["-1", { integer: true, min: 0 }],
    ["1.5", { integer: true }],
    ["", {}],
    [" ", {}],
    ["nan", {}],
    ["Infinity", { above: 0 }],
    ["-0.1", { min: 0 }],
    ["0", { above: 0 }],
    ["1e400", {}],
  ];
  for (const [text, o] of bad) {
    assert.throws(() => numberFlag("f", text, o), (e: Error) => {
      assert.ok(e instanceof FlagValueError && e instanceof RangeError, String(e));
      assert.match(e.message, /^--f: expected (an integer|a number)/);
      return true;
    }, text);
  }
});

Deno.test("asUsage: errors become usage errors, refused permissions stay", async () => {
  const u = await asUsage(() => {
    throw new RangeError("--x: bad");
  }).catch((e) => e);
  assert.ok(u instanceof UsageError && isUsageError(u));
  assert.deepEqual(u.message, "--x: bad");
  const f = new FlagValueError("--y: bad");
  assert.equal(await asUsage(() => Promise.reject(f)).catch((e) => e), f);
  const p = new Deno.errors.NotCapable('Requires write access to "/x"');
  assert.equal(await asUsage(() => Promise.reject(p)).catch((e) => e), p);
  assert.deepEqual(await asUsage(() => 7), 7);
});

Deno.test("permissionMessage: names the path and the flag, on one line", () => {
  const w = permissionMessage(
    "parity",
    new Deno.errors.NotCapable(
      'Requires write access to "/var/out.csv", run again with the --allow-write flag',
    ),
  );
  assert.match(w, /^parity: writing \/var\/out.csv is not allowed: .*--allow-write=DIR/);
  assert.ok(!w.includes("\n"));
  const r = permissionMessage(
    "train",
    new Deno.errors.NotCapable(
      'Requires run access to "clang-18", run again with the --allow-run flag',
    ),
  );
  assert.match(r, /^train: run access to clang-18 is not allowed .*--allow-run=clang-18/);
});

/** Our environment without the variables that decide dieWithParent, plus `extra`. */
function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env = Deno.env.toObject();
  delete env.INIT_CWD;
  delete env.TRM_DIE_WITH_PARENT;
  return { ...env, ...extra };
}

/** Runs `code` (a module importing engine/cli.ts) with `flags`; its status and output. */
async function runScript(code: string, flags: string[], args: string[] = []) {
  const dir = await Deno.makeTempDir({ prefix: "trm-cli-test-" });
  try {
    const file = `${dir}/main.ts`;
    await Deno.writeTextFile(file, code);
    const o = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--no-check", ...flags, file, ...args],
      cwd: dir,
      env: childEnv(),
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    return { code: o.code, stdout: dec.decode(o.stdout), stderr: dec.decode(o.stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("runMain: exit 0 / 2 / 1 with one line; a refused write names the path, no stack trace", async () => {
  const code = `
import { assertWritable, cliArgs, FlagValueError, intFlag, runMain } from "${CLI}";
await runMain(async (args) => {
  const { values } = cliArgs("tool", "usage: tool [--n N] [--out FILE]", {
    n: { type: "string", default: "1" },
    out: { type: "string" },
  }, args);
  intFlag("n", values.n);
  if (values.out) {
    if (values.n === "2") assertWritable(values.out);
    await Deno.writeTextFile(values.out, "x");
  }
  if (values.n === "3") throw new Error("boom");
  return 0;
}, { name: "tool", usage: "usage: tool [--n N] [--out FILE]" });
`;
  const help = await runScript(code, [], ["--help"]);
  assert.deepEqual([help.code, help.stdout.trim(), help.stderr], [
    0,
    "usage: tool [--n N] [--out FILE]",
    "",
  ]);
  const bad = await runScript(code, [], ["--bogus"]);
  assert.deepEqual(bad.code, 2);
  assert.deepEqual(bad.stderr.trim().split("\n")[0], "tool: Unknown option '--bogus'");
  const value = await runScript(code, [], ["--n", "0"]);
  assert.deepEqual(value.code, 2);
  assert.deepEqual(
    value.stderr.trim().split("\n"),
    ['tool: --n: expected an integer ≥ 1, got "0"', "usage: tool [--n N] [--out FILE]"],
  );
  const boom = await runScript(code, [], ["--n", "3"]);
  assert.deepEqual([boom.code, boom.stderr.trim()], [1, "Error: boom"]);
  for (const n of ["1", "2"]) { // refused at the write, and by the early check
    const w = await runScript(code, ["--allow-write=/tmp"], ["--n", n, "--out", "/var/x.csv"]);
    assert.deepEqual(w.code, 1, w.stderr);
    const lines = w.stderr.trim().split("\n");
    assert.deepEqual(lines.length, 1, w.stderr);
    assert.match(lines[0], /^tool: writing \/var\/x.csv is not allowed: .*--allow-write=DIR/);
  }
});

Deno.test("an uncaught refused write of a top-level script is one line too", async () => {
  const code = `
import { cliArgs } from "${CLI}";
cliArgs("script", "usage: script", {}, Deno.args);
await Deno.writeTextFile("/var/y.csv", "x");
`;
  const r = await runScript(code, ["--allow-write=/tmp"]);
  assert.deepEqual(r.code, 1);
  assert.match(r.stderr.trim(), /^script: writing \/var\/y.csv is not allowed: [^\n]*$/);
});

// ----------------------------------------------------------------------------- parent death

/** Whether process `pid` is alive (and not a zombie). */
function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(")") + 2));
  } catch {
    return false;
  }
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

/**
 * Starts `deno task child` in a folder whose task runs a script that arms dieWithParent, writes
 * its pid and then works synchronously in slices (as training does); kills the runner with
 * SIGKILL; returns whether the script was armed and whether it died within `waitMs`.
 */
async function killRunner(
  env: Record<string, string>,
  waitMs: number,
): Promise<{ armed: boolean; died: boolean }> {
  const dir = await Deno.makeTempDir({ prefix: "trm-pdeathsig-" });
  try {
    await Deno.writeTextFile(
      `${dir}/child.ts`,
      `import { dieWithParent } from "${CLI}";
const r = dieWithParent();
Deno.writeTextFileSync("pid.json", JSON.stringify({ pid: Deno.pid, ppid: Deno.ppid, ...r }));
for (;;) {
  const t = performance.now();
  while (performance.now() - t < 100) { /* a slice of synchronous work */ }
  await new Promise((r) => setTimeout(r, 0));
}
`,
    );
    await Deno.writeTextFile(
      `${dir}/deno.json`,
      JSON.stringify({
        tasks: {
          child:
            "deno run --no-prompt --no-check --allow-read --allow-write=. '--allow-env=INIT_CWD,TRM_*' --allow-ffi=/usr/lib,/lib,/usr/lib64,/lib64 child.ts",
        },
      }),
    );
    const runner = new Deno.Command(Deno.execPath(), {
      args: ["task", "-q", "child"],
      cwd: dir,
      env: childEnv(env),
      clearEnv: true,
      stdout: "null",
      stderr: "null", // a pipe would stay open as long as the child lives
    }).spawn();
    const started = await waitFor(() => {
      try {
        return Deno.statSync(`${dir}/pid.json`).size > 0;
      } catch {
        return false;
      }
    }, 20_000);
    assert.ok(started, "the child did not start");
    const info = JSON.parse(Deno.readTextFileSync(`${dir}/pid.json`));
    assert.deepEqual(info.ppid, runner.pid, "the task runner started the script");
    runner.kill("SIGKILL");
    await runner.status;
    const died = await waitFor(() => !alive(info.pid), waitMs);
    if (!died) Deno.kill(info.pid, "SIGKILL");
    return { armed: info.armed, died };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name:
    "dieWithParent: SIGKILL of `deno task` ends its child (within 30 s: a liveness bound for a loaded machine; TRM_DIE_WITH_PARENT=0: not)",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const on = await killRunner({}, 30_000);
    assert.deepEqual(on, { armed: true, died: true });
    const off = await killRunner({ TRM_DIE_WITH_PARENT: "0" }, 1500);
    assert.deepEqual(
      off,
      { armed: false, died: false },
      "the control: without it the child lives on",
    );
  },
});

Deno.test({
  name: "dieWithParent: a no-op outside a task runner and without FFI permission",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const code = `import { dieWithParent } from "${CLI}";
console.log(JSON.stringify(dieWithParent()));`;
    const plain = await runScript(code, ["--allow-env", "--allow-ffi"]);
    assert.match(plain.stdout, /"armed":false.*INIT_CWD unset/);
    const noFfi = await runScript(code, ["--allow-env"], []);
    assert.ok(noFfi.code === 0, noFfi.stderr);
    const forced = await runScript(
      code.replace("import", "Deno.env.set('TRM_DIE_WITH_PARENT', '1');\nimport"),
      ["--allow-env"],
    );
    assert.match(forced.stdout, /"armed":false.*--allow-ffi/);
  },
});

/**
 * The failure paths of the native build, in child processes with a private build folder: no
 * compiler, and a compiler that fails. Both must raise NativeUnavailableError (with a reason and a
 * fix), and `getBackend("auto")` must fall back to ref with a one-line warning.
 */
import assert from "node:assert/strict";

const probe = new URL("./build_probe_fixture.ts", import.meta.url).pathname;

async function runProbe(env: Record<string, string>) {
  const dir = await Deno.makeTempDir();
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", probe],
      env: { TRM_NATIVE_BUILD_DIR: dir, NO_COLOR: "1", ...env },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("no C compiler: NativeUnavailableError naming the fix, and auto falls back to ref", async () => {
  // PATH without any compiler; the probe is started by absolute path so PATH is not needed.
  const r = await runProbe({ PATH: "/nonexistent", CC: "/nonexistent/cc" });
  assert.equal(r.code, 0, r.stderr);
  const res = JSON.parse(r.stdout);
  assert.equal(res.errorName, "NativeUnavailableError");
  assert.match(res.message, /no C compiler found/);
  assert.match(res.message, /apt-get install gcc/);
  assert.equal(res.autoBackend, "ref");
  assert.match(r.stderr, /warning: using the slow ref backend: no C compiler found/);
});

Deno.test("a failing compiler: NativeUnavailableError with the compiler's message", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fake = `${dir}/cc`;
    await Deno.writeTextFile(
      fake,
      "#!/bin/sh\n[ \"$1\" = --version ] && exit 0\necho 'fatal: broken compiler' >&2\nexit 1\n",
    );
    await Deno.chmod(fake, 0o755);
    const r = await runProbe({ CC: fake, PATH: "/nonexistent" });
    const res = JSON.parse(r.stdout);
    assert.equal(res.errorName, "NativeUnavailableError");
    assert.match(res.message, /compile failed.*fatal: broken compiler/s);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * bench_util.ts: the peer environment (exactly OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE dropped, in
 * the child only), the interleaving order and best-of selection, the command line (--help exit 0,
 * a bad flag exit 2), the peer columns, and `--help` / a bad flag of every bench task end to end.
 * Nothing here depends on timing or on the machine's own environment.
 */
import assert from "node:assert/strict";
import {
  interleavedBest,
  jsonLines,
  makeRow,
  NO_PEER_INFO,
  parseCli,
  PEER_UNSET_ENV,
  peerCommandOptions,
  peerEnv,
  peerInfoFrom,
  type Sample,
  spawnPeer,
  versusLine,
} from "./bench_util.ts";

function assertIncludes(text: string, part: string) {
  assert.ok(text.includes(part), `${JSON.stringify(part)} not in ${JSON.stringify(text)}`);
}

const BASE = {
  OPENBLAS_CORETYPE: "Haswell",
  OPENBLAS_L2_SIZE: "1048576",
  OPENBLAS_NUM_THREADS: "3",
  OPENBLAS_CORETYPE_NOTE: "kept: only the exact names go",
  GLIBC_TUNABLES: "glibc.malloc.mmap_threshold=4294967296",
  PATH: "/usr/bin:/bin",
};

Deno.test("peerEnv drops exactly OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE", () => {
  const base = { ...BASE };
  const env = peerEnv(base);
  assert.deepEqual(PEER_UNSET_ENV, ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"]);
  assert.deepEqual(env, {
    OPENBLAS_NUM_THREADS: "3",
    OPENBLAS_CORETYPE_NOTE: "kept: only the exact names go",
    GLIBC_TUNABLES: "glibc.malloc.mmap_threshold=4294967296",
    PATH: "/usr/bin:/bin",
  });
  assert.deepEqual(base, BASE, "the map given is not changed");
  assert.deepEqual(peerEnv({ PATH: "/bin" }), { PATH: "/bin" }, "nothing to drop: the same");
});

Deno.test("peerCommandOptions passes the whole env map, without the two, with clearEnv", () => {
  const o = peerCommandOptions(["-c", "true"], BASE);
  assert.deepEqual(o.clearEnv, true);
  assert.deepEqual(o.args, ["-c", "true"]);
  assert.deepEqual(o.env, peerEnv(BASE));
  assert.ok(!("OPENBLAS_CORETYPE" in o.env!) && !("OPENBLAS_L2_SIZE" in o.env!));
  assert.deepEqual(o.stdout, "piped");
});

Deno.test("spawnPeer: the child sees the map less the two, nothing inherited, ours untouched", async () => {
  const before = Deno.env.toObject();
  const run = await spawnPeer("/bin/sh", ["-c", "env"], { ...BASE, ONLY_IN_MAP: "yes" });
  assert.ok(run.success, run.stderr);
  const seen = Object.fromEntries(
    run.stdout.trim().split("\n").map((
      l,
    ) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
  assert.deepEqual(seen.OPENBLAS_NUM_THREADS, "3");
  assert.deepEqual(seen.ONLY_IN_MAP, "yes");
  assert.deepEqual(seen.OPENBLAS_CORETYPE, undefined);
  assert.deepEqual(seen.OPENBLAS_L2_SIZE, undefined);
  // clearEnv: a variable of our process that is not in the map does not reach the child
  const ours = Object.keys(before).find((k) => !(k in BASE) && k !== "PWD" && k !== "SHLVL");
  if (ours) assert.deepEqual(seen[ours], undefined, ours);
  assert.deepEqual(Deno.env.toObject(), before, "our own environment is not changed");
});

Deno.test("spawnPeer: a missing program is a failed run, not a throw", async () => {
  const run = await spawnPeer("/nonexistent/peer-binary", [], BASE);
  assert.deepEqual(run.success, false);
});

Deno.test("interleavedBest: ours, peer, ours, peer, …; best of each key; its own timestamp", async () => {
  const calls: string[] = [];
  const oursTimes = [3, 1, 2];
  const peerF32 = [5, 6, 4], peerBf16 = [2, 2.5, 3];
  let r = 0, p = 0, clock = 0;
  const best = await interleavedBest(3, [
    () => {
      calls.push("ours");
      return [{ key: "ours", seconds: oursTimes[r++] }];
    },
    async () => {
      calls.push("peer");
      await Promise.resolve(); // an async peer, like a process
      const i = p++;
      return [
        { key: "torch:f32", seconds: peerF32[i] },
        { key: "torch:bf16", seconds: peerBf16[i], measured_at: `peer-clock-${i}` },
      ];
    },
  ], () => `t${clock++}`);
  assert.deepEqual(calls, ["ours", "peer", "ours", "peer", "ours", "peer"]);
  assert.deepEqual(best.get("ours")?.seconds, 1);
  assert.deepEqual(best.get("ours")?.measured_at, "t2", "stamped after the second round's ours");
  assert.deepEqual(best.get("torch:f32")?.seconds, 4);
  assert.deepEqual(best.get("torch:f32")?.measured_at, "t5");
  assert.deepEqual(best.get("torch:bf16")?.seconds, 2);
  assert.deepEqual(best.get("torch:bf16")?.measured_at, "peer-clock-0", "a sample's own time wins");
  for (const k of ["ours", "torch:f32", "torch:bf16"]) assert.deepEqual(best.get(k)?.rounds, 3, k);
});

Deno.test("interleavedBest: a side that fails (null) is not called again; the rest go on", async () => {
  const calls: string[] = [];
  const best = await interleavedBest(3, [
    () => (calls.push("ours"), [{ key: "ours", seconds: 1 }]),
    () => (calls.push("peer"), null),
    () => (calls.push("cmd"), [] as Sample[]),
  ]);
  assert.deepEqual(calls, ["ours", "peer", "cmd", "ours", "cmd", "ours", "cmd"]);
  assert.deepEqual([...best.keys()], ["ours"]);
});

Deno.test("parseCli: --help exits 0 with the usage, a bad flag exits 2 with one line + usage", () => {
  const usage = "usage: x [--reps N] [--quick]\n";
  const opts = { reps: { type: "string", default: "3" }, quick: { type: "boolean" } } as const;
  const ok = parseCli("x", usage, opts, ["--reps", "5", "--quick"]);
  assert.ok("values" in ok);
  assert.deepEqual(ok.values.reps, "5");
  assert.deepEqual(ok.values.quick, true);
  const none = parseCli("x", usage, opts, []);
  assert.ok("values" in none);
  assert.deepEqual({ ...none.values }, { reps: "3" });
  for (const help of [["--help"], ["-h"], ["--reps", "2", "--help"]]) {
    assert.deepEqual(parseCli("x", usage, opts, help), { exit: 0, text: usage.trimEnd() });
  }
  for (const bad of [["--bogus"], ["positional"], ["--reps"], ["--quick=1"]]) {
    const r = parseCli("x", usage, opts, bad);
    assert.ok("exit" in r, bad.join(" "));
    assert.deepEqual(r.exit, 2);
    const [first, ...rest] = r.text.split("\n");
    assert.match(first, /^x: /);
    assert.deepEqual(rest.join("\n"), usage.trimEnd());
  }
});

Deno.test("peer columns: from a peer_info line, from another command's line, empty for ours", () => {
  const info = peerInfoFrom({
    name: "peer_info",
    torch_version: "1.13.0",
    openblas_core: "SkylakeX",
    cpu_capability: "AVX512",
    threads: 2,
    blas_threads: 4,
  });
  assert.deepEqual(info, {
    torch_version: "1.13.0",
    openblas_core: "SkylakeX",
    cpu_capability: "AVX512",
    peer_threads: 2,
    peer_blas_threads: 4,
  });
  assert.deepEqual(peerInfoFrom({ torch: "2.1", threads: 8, step: 1 }), {
    ...NO_PEER_INFO,
    torch_version: "2.1",
    peer_threads: 8,
  });
  const row = makeRow({ name: "a", shape: "1", impl: "ours", metric: "m", value: 1, unit: "s" });
  assert.deepEqual(Object.keys(row), [
    "name",
    "shape",
    "impl",
    "metric",
    "value",
    "unit",
    "ratio_to",
    "ratio",
    "measured_at",
    "torch_version",
    "openblas_core",
    "cpu_capability",
    "peer_threads",
    "peer_blas_threads",
  ]);
  assert.match(row.measured_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.deepEqual(row.openblas_core, "");
});

Deno.test("jsonLines keeps JSON objects only", () => {
  const text = 'progress 10%\n{"a": 1}\n[1, 2]\n{broken\n  {"b": "x"}  \n42\n';
  assert.deepEqual(jsonLines(text), [{ a: 1 }, { b: "x" }]);
});

Deno.test("versusLine says who wins and by how much, lost cases too", () => {
  assert.deepEqual(
    versusLine(1, 2, "torch f32"),
    "ours 1.000 s vs torch f32 2.000 s: ours faster by 2.00×",
  );
  assert.deepEqual(versusLine(3, 2), "ours 3.000 s vs peer 2.000 s: ours slower by 1.50×");
  assertIncludes(versusLine(1, 1.001), "as fast");
});

// Every bench task answers --help (exit 0, its usage on stdout) and a bad flag (exit 2, one line
// naming it, then the usage, on stderr) before it loads a backend or measures anything.
for (const file of ["engine_bench.ts", "operators_bench.ts", "train_step_bench.ts"]) {
  Deno.test(`${file}: --help exits 0, an unknown flag exits 2`, async () => {
    const path = new URL(`./${file}`, import.meta.url).pathname;
    const run = async (flag: string) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", "--no-check", path, flag],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
    };
    const help = await run("--help");
    assert.deepEqual(help.code, 0, help.stderr);
    assertIncludes(help.stdout, "deno task bench");
    assertIncludes(help.stdout, "--reps");
    const bad = await run("--no-such-flag");
    assert.deepEqual(bad.code, 2, bad.stderr);
    const lines = bad.stderr.trim().split("\n");
    assert.match(lines[0], /^\w+: Unknown option '--no-such-flag'/);
    assertIncludes(lines.slice(1).join("\n"), "deno task bench");
    assert.deepEqual(bad.stdout, "");
  });
}

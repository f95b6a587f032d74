import assert from "node:assert/strict";
import { parseReproduceArgs } from "./options.ts";
import { planRuns } from "./pipeline.ts";
import { runScript } from "./testing.ts";

Deno.test("reproduce options: defaults, lists, unknown flags are errors", () => {
  const o = parseReproduceArgs([]);
  assert.equal(o.preset, "cpu-mini");
  assert.deepEqual(o.tasks, ["sudoku", "maze", "arc"]);
  assert.equal(o.out, "results/cpu-mini");
  const s = parseReproduceArgs(["--preset", "smoke", "--tasks", "arc", "--seeds", "0,1"]);
  assert.deepEqual([s.tasks, s.seeds, s.out], [["arc"], [0, 1], "results/smoke"]);
  assert.throws(() => parseReproduceArgs(["--bogus"]), TypeError);
  assert.throws(() => parseReproduceArgs(["--tasks", "chess"]), RangeError);
  assert.throws(() => parseReproduceArgs(["--models", "gpt"]), RangeError);
  assert.throws(() => parseReproduceArgs(["--seeds", "x"]), RangeError);
  assert.deepEqual(o.memory, { microBatches: 1, recompute: false });
  const m = parseReproduceArgs(["--micro-batches", "4", "--recompute"]);
  assert.deepEqual(m.memory, { microBatches: 4, recompute: true });
  assert.throws(() => parseReproduceArgs(["--micro-batches", "0"]), /--micro-batches/);
  const a = parseReproduceArgs(["--micro-batches", "auto", "--memory-gib", "8"]);
  assert.deepEqual([a.memory, a.memoryBytes], ["auto", 8 * 2 ** 30]);
});

Deno.test("reproduce options: --workers, --threads-per-run, --shard i/n (0-based), --merge", () => {
  const d = parseReproduceArgs([]);
  assert.deepEqual([d.workers, d.threadsPerRun, d.shard, d.merge], [1, null, null, false]);
  const w = parseReproduceArgs(["--workers", "3", "--threads-per-run", "2", "--shard", "2/3"]);
  assert.deepEqual([w.workers, w.threadsPerRun, w.shard], [3, 2, { index: 2, count: 3 }]);
  assert.deepEqual(parseReproduceArgs(["--shard=0/1"]).shard, { index: 0, count: 1 });
  assert.equal(parseReproduceArgs(["--merge"]).merge, true);
  for (const bad of ["3/2", "2/2", "-1/2", "0/0", "1", "a/b", "1/2/3", ""]) {
    assert.throws(() => parseReproduceArgs([`--shard=${bad}`]), (e: Error) => {
      assert.ok(e instanceof RangeError, `${bad}: ${e}`);
      assert.match(e.message, /^--shard: expected i\/n with n ≥ 1 and 0 ≤ i < n \(0-based/);
      return true;
    });
  }
  for (const bad of ["0", "-1", "1.5", "x"]) {
    assert.throws(() => parseReproduceArgs([`--workers=${bad}`]), RangeError);
    assert.throws(() => parseReproduceArgs([`--workers=${bad}`]), /--workers: expected an integer/);
    assert.throws(() => parseReproduceArgs([`--threads-per-run=${bad}`]), /--threads-per-run/);
  }
  assert.throws(
    () => parseReproduceArgs(["--shard", "0/2", "--merge"]),
    (e: Error) =>
      e instanceof TypeError && /--shard and --merge exclude each other/.test(e.message),
  );
});

Deno.test("every preset plans valid runs with the default models", () => {
  for (const preset of ["smoke", "cpu-mini", "paper"]) {
    const o = parseReproduceArgs(["--preset", preset, "--runs", "/tmp/x"]);
    const runs = planRuns(o);
    assert.equal(runs.length, preset === "smoke" || preset === "paper" ? 8 : 6);
    for (const r of runs) {
      assert.equal(r.config.preset, preset);
      assert.ok(r.config.data.dir !== null || r.config.data.generate !== null, r.dir);
      assert.equal(r.config.scale === "paper", preset === "paper");
    }
  }
});

Deno.test("reproduce options: negative, zero, NaN and infinite numbers are refused", () => {
  for (
    const bad of [
      "--seeds=-1",
      "--seeds=0,nan",
      "--seeds=1.5",
      "--micro-batches=0",
      "--micro-batches=-2",
      "--memory-gib=0",
      "--memory-gib=-1",
      "--memory-gib=abc",
      "--memory-gib=Infinity",
    ]
  ) {
    const flag = bad.slice(0, bad.indexOf("="));
    assert.throws(() => parseReproduceArgs([bad]), (e: Error) => {
      assert.ok(e instanceof RangeError, `${bad}: ${e}`);
      assert.ok(e.message.startsWith(flag), e.message);
      return true;
    });
  }
});

Deno.test("deno task reproduce: --help exits 0, a bad value exits 2 with one line + usage", async () => {
  const run = (...args: string[]) =>
    runScript(new URL("./cli.ts", import.meta.url).pathname, ...args);
  const help = await run("--help");
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^usage: deno task reproduce/);
  const bad = await run("--memory-gib=-1", "--runs", "/nonexistent/never-written");
  assert.equal(bad.code, 2, bad.stderr);
  const [first, ...rest] = bad.stderr.trim().split("\n");
  assert.equal(first, 'reproduce: --memory-gib: expected a number > 0, got "-1"');
  assert.match(rest.join("\n"), /^usage: deno task reproduce/);
  const cases: [string[], string][] = [
    [["--shard", "3/2"], "reproduce: --shard: expected i/n with n ≥ 1 and 0 ≤ i < n (0-based"],
    [["--workers", "0"], 'reproduce: --workers: expected an integer ≥ 1, got "0"'],
    [["--shard", "0/2", "--merge"], "reproduce: --shard and --merge exclude each other"],
  ];
  for (const [args, message] of cases) {
    const r = await run(...args, "--runs", "/nonexistent/never-written");
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.ok(r.stderr.startsWith(message), r.stderr);
    assert.match(r.stderr, /\nusage: deno task reproduce/);
  }
});

Deno.test("reproduce options: --dtype is a configuration patch, merged with --config", async () => {
  assert.equal(parseReproduceArgs([]).configPatch, null);
  const b = parseReproduceArgs(["--dtype", "bf16"]).configPatch!;
  assert.deepEqual(b, { patch: { arch: { dtype: "bf16" } }, source: "--dtype bf16" });
  assert.throws(() => parseReproduceArgs(["--dtype", "fp16"]), /--dtype: expected f32 or bf16/);
  const file = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(file, JSON.stringify({ arch: { lCycles: 1 }, train: { lr: 0 } }));
    const m = parseReproduceArgs(["--config", file, "--dtype", "bf16"]).configPatch!;
    assert.deepEqual(m.patch, { arch: { lCycles: 1, dtype: "bf16" }, train: { lr: 0 } });
    assert.equal(m.source, `${file} with --dtype bf16`);
  } finally {
    await Deno.remove(file);
  }
});

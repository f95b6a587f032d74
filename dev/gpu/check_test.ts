/**
 * dev/gpu/check.sh's control flow without a GPU: nvidia-smi, deno and python are fakes that print
 * what the real tools would (test summaries, memory plans, timed rows, an out-of-memory at one
 * plan, PyTorch JSON lines); only summary.ts runs for real. Checks that both parts run their steps
 * in order, that the plan of the memory-plan step reaches our steps and the peer, that an
 * out-of-memory doubles the micro-batches, and that the summary pairs our time with the peer's.
 */
import assert from "node:assert/strict";
import { parse } from "csv-parse/sync";

const FAKE_DENO = `#!/bin/bash
args="$*"
arg() { echo "$args" | sed -n "s/.*--$1 \\([^ ]*\\).*/\\1/p"; }
case "$args" in
  --version) echo "deno 0 (fake)" ;;
  *summary.ts*) exec "$REAL_DENO" "$@" ;;
  *build.ts* | *dev/cuda/lab.ts*) echo "built (fake)" ;;
  test*)
    echo "$args" >> "$LOG"
    echo "\${FAKE_TEST_OUT:-ok | 7 passed | 0 failed (1s)}"; exit "\${FAKE_TEST_RC:-0}" ;;
  *reproduce/cli.ts*)
    echo "verify: passed — 8 ok, 0 failed"; echo "reproduce: finished in 0.1 min; x" ;;
  *memory_plan.ts*)
    for b in $(arg batch | tr , ' '); do
      echo "plan trm-attn $b 4 false (100 GiB of 120)"
      echo "plan tr-mamba2attn $b 8 true (110 GiB of 120)"
    done ;;
  *"train_check.ts loss"*) echo "trm-attn,loss-vs-cpu-f32-step1,4,true,lm=1,cpu,c0ffee,fake GPU,2026-01-01T00:00:00Z" >> "$(arg out)" ;;
  *"train_check.ts time"*)
    m=$(arg model); b=$(arg batch); c=$(arg check); [ -n "$c" ] || c="step-seconds-$(arg math)"
    echo "time $args" >> "$LOG"
    if [ "$m" = tr-mamba2attn ] && [ "$b" = 768 ] && [ "$(arg micro-batches)" = 8 ]; then
      echo "$m,$c,$b,true,oom,fake,c0ffee,fake GPU,2026-01-01T00:00:00Z" >> "$(arg out)"; exit 3
    fi
    echo "$m,$c,$b,true,8.0,fake,c0ffee,fake GPU,2026-01-01T00:00:00Z" >> "$(arg out)" ;;
  *) echo "fake deno: unexpected: $args" >&2; echo "$args" >> "$LOG" ;;
esac
`;

const FAKE_PYTHON = `#!/bin/bash
echo "torch $*" >> "$LOG"
args="$*"
m=$(echo "$args" | sed -n 's/.*--models \\([^ ]*\\).*/\\1/p')
b=$(echo "$args" | sed -n 's/.*--batch \\([^ ]*\\).*/\\1/p')
echo '{"name": "torch_step", "torch": "9.9", "gpu": "fake", "peer_vs_torch_trm_rel_diff": 1e-7}'
for d in $(echo "$args" | sed -n 's/.*--dtypes \\([^ ]*\\).*/\\1/p' | tr , ' '); do
  c=false; case "$args" in *--compile*) c=true ;; esac
  echo "{\\"model\\": \\"$m\\", \\"batch\\": $b, \\"dtype\\": \\"$d\\", \\"seconds\\": 10.0, \\"compile\\": $c, \\"finite\\": true, \\"reps\\": 2, \\"tflops\\": 1}"
done
`;

/**
 * Runs check.sh with the fakes; `env` adds variables: FAKE_TEST_OUT and FAKE_TEST_RC set what the
 * fake `deno test` prints and its exit status (default: 7 passed, exit 0).
 */
async function runCheck(part: string, env: Record<string, string> = {}) {
  const dir = await Deno.makeTempDir({ prefix: "trm-check-" });
  const bin = `${dir}/bin`;
  await Deno.mkdir(bin);
  const files: [string, string][] = [
    ["deno", FAKE_DENO],
    ["python", FAKE_PYTHON],
    ["nvidia-smi", `#!/bin/sh\necho "NVIDIA H200, 999.0, 143771 MiB"\n`],
  ];
  for (const [name, text] of files) {
    await Deno.writeTextFile(`${bin}/${name}`, text);
    await Deno.chmod(`${bin}/${name}`, 0o755);
  }
  const out = await new Deno.Command("bash", {
    args: ["dev/gpu/check.sh"],
    cwd: new URL("../..", import.meta.url).pathname,
    env: {
      PATH: `${bin}:${Deno.env.get("PATH")}`,
      DENO: `${bin}/deno`,
      TORCH_PY: `${bin}/python`,
      REAL_DENO: Deno.execPath(),
      OUT: `${dir}/out`,
      LOG: `${dir}/calls.log`,
      PART: part,
      NO_COLOR: "1",
      ...env,
    },
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  const csv = await Deno.readTextFile(`${dir}/out/gpu.csv`);
  const calls = await Deno.readTextFile(`${dir}/calls.log`).catch(() => "");
  await Deno.remove(dir, { recursive: true });
  const rows = parse(csv, { columns: false, from_line: 2 }) as string[][];
  const has = (model: string, check: string, batch: string) =>
    rows.find((r) => r[0] === model && r[1] === check && r[2] === batch);
  return { code: out.code, text, rows, has, calls };
}

Deno.test("check.sh PART=kernels: the kernel, operator, SSD and attention test steps", async () => {
  const r = await runCheck("kernels");
  assert.equal(r.code, 0, r.text);
  for (const c of ["own", "auto"]) {
    assert.equal(r.has("", `cuda-tests-${c}`, "")?.[3], "true", `cuda-tests-${c}\n${r.text}`);
  }
  for (const v of ["ssd-chunked", "ssd-chunked-tc", "attention-tc"]) {
    assert.equal(r.has("", `lab-tests-${v}`, "")?.[3], "true", `lab-tests-${v}\n${r.text}`);
    assert.ok(r.calls.includes(`--filter [${v}] dev/cuda/lab_test.ts`), `${v}\n${r.calls}`);
  }
  assert.match(r.text, /built \(fake\)[^]*built \(fake\)[^]*built \(fake\)/, "lab built too");
  assert.equal(r.has("", "operator-tests-cuda", "")?.[3], "true", r.text);
  assert.match(r.calls, /operators\/attention_test\.ts operators\/mamba2_test\.ts/);
  assert.ok(!r.rows.some((x) => x[1] === "memory-plan"), "no steps in the kernels part");
});

Deno.test("check.sh PART=steps: plans reach our steps and the peer; an OOM doubles micro-batches", async () => {
  const r = await runCheck("steps");
  assert.equal(r.code, 0, r.text);
  for (const m of ["trm-attn", "tr-mamba2attn"]) {
    for (const b of ["768", "192"]) assert.ok(r.has(m, "memory-plan", b), `${m} ${b}\n${r.text}`);
  }
  assert.equal(r.has("trm-attn", "paper-batch-plan", "768")?.[4], "--micro-batches 4");
  // tr-mamba2attn: the plan (8, recompute) ran out of memory at 768; 16 was tried and ran
  assert.ok(r.has("tr-mamba2attn", "paper-batch-step-bf16-retry", "768"), r.text);
  assert.equal(
    r.has("tr-mamba2attn", "paper-batch-plan", "768")?.[4],
    "--micro-batches 16 --recompute",
  );
  assert.match(r.calls, /time .*--model tr-mamba2attn --batch 192 .*--micro-batches 8 --recompute/);
  assert.match(r.calls, /torch .*--models tr-mamba2attn --batch 192 --micro-batches 8 --recompute/);
  for (const m of ["trm-attn", "tr-mamba2attn"]) {
    assert.equal(r.has(m, "ratio-bf16", "192")?.[4], "0.800", `${m}\n${r.text}`);
    assert.ok(r.has(m, "goal", "192"), m);
  }
  assert.equal(r.has("", "smoke-cuda", "")?.[3], "true", r.text);
  // Every row check.sh writes names its commit, the GPU and the time.
  const own = r.rows.find((x) => x[1] === "smoke-cuda")!;
  assert.equal(own.length, 9);
  assert.ok(own[6] !== "" && !Number.isNaN(Date.parse(own[8])), own.join(","));
});

// The negative controls of tests(): a failed run, an ignored test, a run with no test passed.
for (
  const [what, out, rc, detail] of [
    ["a failing test (exit 1)", "FAILED | 6 passed | 1 failed (1s)", "1", /FAILED/],
    [
      "an ignored test",
      "ok | 6 passed | 0 failed | 1 ignored (1s)",
      "0",
      /skipped, ignored or none ran/,
    ],
    ["no test run", "ok | 0 passed | 0 failed (1s)", "0", /skipped, ignored or none ran/],
  ] as const
) {
  Deno.test(`check.sh PART=kernels: ${what} makes a not-ok row and a failed check`, async () => {
    const r = await runCheck("kernels", { FAKE_TEST_OUT: out, FAKE_TEST_RC: rc });
    assert.equal(r.code, 1, r.text);
    for (const c of ["cuda-tests-own", "cuda-tests-auto", "operator-tests-cuda"]) {
      const row = r.has("", c, "");
      assert.equal(row?.[3], "false", `${c}\n${r.text}`);
      assert.match(row![5], detail, c);
    }
    assert.match(r.text, /FAIL +cuda-tests-own/);
  });
}

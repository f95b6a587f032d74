/**
 * op-check against the committed PyTorch golden fixtures (fixtures/ops/, written by
 * `benchmarks/peers/torch_ops.py write-cases fixtures/ops --golden`), on ref and on cpu; and every
 * kind of bad CASE it must refuse.
 *
 * Tolerance vs PyTorch: both sides compute in f32 with different summation orders, so elementwise
 * |ours − torch| ≤ 1e-5·max|torch| + 1e-4·|torch| (TOL_OPS_F32) — the rule the peer script's
 * `compare` applies; measured errors are ≤ 1e-6 of the tensor's scale.
 */
import assert from "node:assert/strict";
import { getBackend, nativeStatus } from "../engine/backends/mod.ts";
import { createRefBackend } from "../engine/backends/ref/mod.ts";
import { readSafetensors, type SafeTensor, writeSafetensors } from "../engine/safetensors.ts";
import { main, parseOpCase, runOpCheck } from "./op_check.ts";
import { assertCloseScaled, TOL_OPS_F32 } from "./testing.ts";

const FIXTURES = new URL("../fixtures/ops/", import.meta.url);
const native = nativeStatus();
if (!native.ok) console.warn(`SKIPPING op-check fixtures on cpu: ${native.reason}`);

const stems = [...Deno.readDirSync(FIXTURES)]
  .map((e) => e.name)
  .filter((n) => n.endsWith(".case.safetensors"))
  .map((n) => n.slice(0, -".case.safetensors".length))
  .sort();

Deno.test("op-check fixtures: one per op is committed", () => {
  for (const op of ["attention", "swiglu", "mlp_t", "rmsnorm", "mamba2"]) {
    assert.ok(stems.some((s) => s.startsWith(op)), `no fixture for ${op} in ${FIXTURES}`);
  }
});

for (const stem of stems) {
  for (const name of ["ref", "cpu"] as const) {
    Deno.test({
      name: `op-check ${stem} on ${name} matches PyTorch`,
      ignore: name === "cpu" && !native.ok,
      async fn() {
        const c = await readSafetensors(new URL(`${stem}.case.safetensors`, FIXTURES).pathname);
        const want = await readSafetensors(new URL(`${stem}.torch.safetensors`, FIXTURES).pathname);
        const got = runOpCheck(c.tensors, c.metadata, { backend: getBackend(name) });
        assert.deepEqual(Object.keys(got).sort(), Object.keys(want.tensors).sort());
        for (const [k, t] of Object.entries(want.tensors)) {
          assert.deepEqual(got[k].shape, t.shape, `${k}: shape`);
          assert.equal(got[k].dtype, "F32");
          assertCloseScaled(got[k].data as Float32Array, t.data as Float32Array, TOL_OPS_F32, k);
        }
      },
    });
  }
}

// ------------------------------------------------------------------ bad cases

const f32 = (shape: number[], fill = 0.5): SafeTensor => ({
  dtype: "F32",
  shape,
  data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(fill),
});

/** A valid swiglu CASE (hidden 4 → inter 256) to break one piece at a time. */
function swigluCase(): Record<string, SafeTensor> {
  return {
    input: f32([1, 2, 4]),
    grad_output: f32([1, 2, 4]),
    "gate_up_proj.weight": f32([512, 4], 0.01),
    "down_proj.weight": f32([4, 256], 0.01),
  };
}
const swigluMeta = { op: "swiglu", config: '{"hidden": 4}', backend: "ref" };

Deno.test("op-check: a valid hand-made CASE runs and names every output", () => {
  const out = runOpCheck(swigluCase(), swigluMeta);
  assert.deepEqual(Object.keys(out).sort(), [
    "grad.down_proj.weight",
    "grad.gate_up_proj.weight",
    "grad.input",
    "output",
  ]);
  assert.deepEqual(out.output.shape, [1, 2, 4]);
  // F64 tensors are accepted and computed in the backend's precision.
  const c = swigluCase();
  c.input = { dtype: "F64", shape: [1, 2, 4], data: new Float64Array(8).fill(0.5) };
  const out64 = runOpCheck(c, swigluMeta, { backend: createRefBackend({ precision: "f64" }) });
  assertCloseScaled(out64.output.data as Float32Array, out.output.data as Float32Array);
});

Deno.test("op-check: bad CASE files are refused with a message naming what is wrong", () => {
  const bad = (
    tensors: Record<string, SafeTensor>,
    meta: Record<string, string>,
    re: RegExp,
    cls: ErrorConstructor = TypeError,
  ) =>
    assert.throws(() => runOpCheck(tensors, meta), (e: Error) => {
      assert.ok(e instanceof cls, `expected ${cls.name}, got ${e.constructor.name}: ${e.message}`);
      assert.match(e.message, re);
      return true;
    });
  bad(swigluCase(), { ...swigluMeta, op: "conv" }, /unknown op: "conv"/, RangeError);
  bad(swigluCase(), { config: "{}" }, /no "op"/);
  bad(swigluCase(), { ...swigluMeta, backend: "gpu" }, /unknown backend/, RangeError);
  bad(swigluCase(), { ...swigluMeta, config: "{hidden: 4" }, /not valid JSON/, SyntaxError);
  bad(swigluCase(), { ...swigluMeta, config: "[4]" }, /must be a JSON object/);
  bad(
    swigluCase(),
    { ...swigluMeta, config: '{"hidden": 4, "width": 4}' },
    /unknown config key "width"/,
  );
  bad(swigluCase(), { ...swigluMeta, config: '{"expansion": 4}' }, /lacks "hidden"/);
  bad(swigluCase(), { ...swigluMeta, config: '{"hidden": 4.5}' }, /"hidden".*positive integer/);
  bad(
    swigluCase(),
    { op: "attention", config: '{"hidden": 4, "num_heads": 1, "rope": "yes"}' },
    /"rope".*bool/,
  );

  const missing = swigluCase();
  delete missing["down_proj.weight"];
  bad(missing, swigluMeta, /lacks tensor "down_proj.weight" \(expected shape \[4, 256\]\)/);
  const noInput = swigluCase();
  delete noInput.input;
  bad(noInput, swigluMeta, /lacks tensor "input"/);

  const wrongW = swigluCase();
  wrongW["gate_up_proj.weight"] = f32([256, 4]);
  bad(wrongW, swigluMeta, /"gate_up_proj.weight" has shape \[256, 4\], expected \[512, 4\]/);
  const wrongX = swigluCase();
  wrongX.input = f32([1, 2, 5]);
  wrongX.grad_output = f32([1, 2, 5]);
  bad(wrongX, swigluMeta, /"input" has shape \[1, 2, 5\], expected \[B, L, 4\]/);
  const rank2 = swigluCase();
  rank2.input = f32([2, 4]);
  bad(rank2, swigluMeta, /"input" has shape \[2, 4\], expected a rank-3/);
  const wrongG = swigluCase();
  wrongG.grad_output = f32([1, 3, 4]);
  bad(wrongG, swigluMeta, /"grad_output" has shape \[1, 3, 4\], expected \[1, 2, 4\]/);
  const mlpT = { op: "mlp_t", config: '{"seq_len": 3}', backend: "ref" };
  bad(
    { input: f32([1, 2, 4]), grad_output: f32([1, 2, 4]) },
    mlpT,
    /expected \[B, 3, D\] \(config seq_len = 3\)/,
  );
  const extra = swigluCase();
  extra["o_proj.weight"] = f32([4, 4]);
  bad(extra, swigluMeta, /unexpected tensors for swiglu: o_proj.weight/);
  const ints = swigluCase();
  ints.input = { dtype: "I32", shape: [1, 2, 4], data: new Int32Array(8) };
  bad(ints, swigluMeta, /"input" must be F32 or F64: got I32/);
});

Deno.test("op-check: config defaults and key mapping", () => {
  const a = parseOpCase({ op: "attention", config: '{"hidden": 8, "num_heads": 2}' });
  assert.ok(a.op === "attention" && a.spec.kind === "attention");
  assert.equal(a.spec.rope, true);
  assert.equal(a.backend, "auto");
  const r = parseOpCase({ op: "rmsnorm", config: "{}" });
  assert.ok(r.op === "rmsnorm" && r.eps === 1e-5);
  const m = parseOpCase({
    op: "mamba2",
    config: '{"d_model": 16, "d_state": 8, "headdim": 4, "chunk_size": 4, "ngroups": 1}',
  });
  assert.ok(m.op === "mamba2" && m.spec.kind === "mamba2");
  assert.deepEqual(
    [m.spec.dModel, m.spec.dState, m.spec.headdim, m.spec.chunkSize, m.spec.ngroups],
    [16, 8, 4, 4, 1],
  );
});

Deno.test("op-check CLI: writes OUT, exit 1 on a bad CASE, 2 on bad usage", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const casePath = `${dir}/c.safetensors`, outPath = `${dir}/o.safetensors`;
    await writeSafetensors(casePath, swigluCase(), swigluMeta);
    assert.equal(await main([casePath, outPath]), 0);
    const out = await readSafetensors(outPath);
    assert.deepEqual(out.tensors.output.shape, [1, 2, 4]);
    assert.equal(out.metadata.op, "swiglu");
    const broken = swigluCase();
    delete broken.grad_output;
    await writeSafetensors(casePath, broken, swigluMeta);
    const err = console.error;
    const said: string[] = [];
    console.error = (m: string) => said.push(m);
    try {
      assert.equal(await main([casePath, `${dir}/o2.safetensors`]), 1);
      assert.equal(await main([casePath]), 2);
    } finally {
      console.error = err;
    }
    assert.match(said[0], /lacks tensor "grad_output"/);
    assert.match(said[1], /usage/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

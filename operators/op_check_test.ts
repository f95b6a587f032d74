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
import { backward } from "../engine/autograd.ts";
import { Rng } from "../engine/rng.ts";
import { tensor } from "../engine/tensor.ts";
import { randomArray } from "../engine/testing.ts";
import { createGla } from "./gla.ts";
import { OPERATOR_KINDS } from "./mod.ts";
import { CONFIG_KEYS, main, parseOpCase, runOpCheck } from "./op_check.ts";
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

// ------------------------------------------------------------------ gla (no PyTorch peer)

Deno.test("op-check gla: config mapping and defaults", () => {
  const g = parseOpCase({
    op: "gla",
    config: '{"hidden": 8, "heads": 2, "key_dim": 2, "causal": true, "rope": false}',
  });
  assert.ok(g.op === "gla" && g.spec.kind === "gla");
  assert.deepEqual(
    [g.spec.hidden, g.spec.heads, g.spec.keyDim, g.spec.valueDim, g.spec.causal, g.spec.rope],
    [8, 2, 2, undefined, true, false],
  );
  assert.throws(() => parseOpCase({ op: "gla", config: '{"hidden": 8}' }), /lacks "heads"/);
  assert.throws(
    () => parseOpCase({ op: "gla", config: '{"hidden": 8, "heads": 2, "num_heads": 2}' }),
    /unknown config key "num_heads" for gla/,
  );
});

Deno.test("op-check gla: a CASE gives the operator's own output and gradients", () => {
  // benchmarks/peers/torch_ops.py has no GLA: the CASE is checked against the operator run
  // directly (gla_test.ts checks the operator against a float64 recurrence oracle).
  const be = createRefBackend({ precision: "f64" });
  const cfg = { hidden: 8, heads: 2, keyDim: 4, causal: false };
  const op = createGla(be, new Rng(7), cfg);
  const rng = new Rng(8);
  const xs = randomArray(rng, 2 * 5 * 8, { std: 1 }), gs = randomArray(rng, 2 * 5 * 8, { std: 1 });
  const c: Record<string, SafeTensor> = {
    input: { dtype: "F64", shape: [2, 5, 8], data: Float64Array.from(xs) },
    grad_output: { dtype: "F64", shape: [2, 5, 8], data: Float64Array.from(gs) },
  };
  for (const [k, p] of Object.entries(op.params)) {
    c[k] = { dtype: "F64", shape: [...p.shape], data: Float64Array.from(p.toArray()) };
  }
  const meta = { op: "gla", config: '{"hidden": 8, "heads": 2, "key_dim": 4}', backend: "ref" };
  const out = runOpCheck(c, meta, { backend: be });
  const x = tensor(be, xs, [2, 5, 8], { requiresGrad: true });
  const y = op.forward(x);
  backward(y, tensor(be, gs, [2, 5, 8]));
  assert.deepEqual(Object.keys(out).sort(), [
    "grad.decay_bias",
    "grad.in_proj.weight",
    "grad.input",
    "grad.norm.weight",
    "grad.out_proj.weight",
    "output",
  ]);
  const tol = { atol: 1e-6, rtol: 1e-5 }; // OUT is F32
  assertCloseScaled(out.output.data as Float32Array, y.toArray(), tol, "output");
  assertCloseScaled(out["grad.input"].data as Float32Array, x.grad!.toArray(), tol, "input");
  for (const [k, p] of Object.entries(op.params)) {
    assertCloseScaled(out[`grad.${k}`].data as Float32Array, p.grad!.toArray(), tol, k);
  }
  const wrong = { ...c, input: f32([2, 5, 6]), grad_output: f32([2, 5, 6]) };
  assert.throws(
    () => runOpCheck(wrong, meta, { backend: be }),
    /"input" has shape \[2, 5, 6\], expected \[B, L, 8\] \(config hidden = 8\)/,
  );
});

Deno.test("op-check: every registry operator is an op (with rmsnorm)", () => {
  assert.deepEqual(Object.keys(CONFIG_KEYS).sort(), [...OPERATOR_KINDS, "rmsnorm"].sort());
});

/**
 * The Mamba-2 operator: parameter count against the closed-form formula and known values (and the
 * enumerated parameters), the initialisation ranges, cpu (chunked SSD) against ref (recurrence,
 * f64) on the output and every gradient, finite differences of the whole module on ref f64, the
 * bidirectional option, and the recurrent decode of upstream `Mamba2.step` written out here in
 * plain float64 (an oracle independent of the engine) against the parallel forward, plus causality.
 * cpu tests skip loudly where the native library cannot be built.
 */
import assert from "node:assert/strict";
import type { Backend } from "../engine/backend.ts";
import { createRefBackend } from "../engine/backends/ref/mod.ts";
import { Rng } from "../engine/rng.ts";
import { type Tensor, tensor } from "../engine/tensor.ts";
import { noGrad } from "../engine/autograd.ts";
import { assertClose, TOL_F64 } from "../engine/testing.ts";
import { createMamba2, type Mamba2Config, mamba2ParamCount, mamba2Sizes } from "./mamba2.ts";
import { countParams } from "./operator.ts";
import { assertBackendsAgree, fastBackend, gradcheckOperator } from "./testing.ts";

const ref64 = createRefBackend({ precision: "f64" });
// cpu, or the backend TRM_TEST_BACKEND names (operators/testing.ts fastBackend)
const fast = fastBackend(), cpu = fast.be;
if (!cpu) console.warn(`mamba2_test: ${fast.name} backend tests SKIPPED: ${fast.reason}`);
function cpuTest(name: string, fn: (cpu: Backend) => void) {
  Deno.test({ name: `mamba2 ${fast.name}: ${name}`, ignore: cpu === null, fn: () => fn(cpu!) });
}

const SMALL: Mamba2Config = { dModel: 32, dState: 8, headdim: 8, chunkSize: 16 };

Deno.test("mamba2: parameter count = spec formula = enumeration (1,719,600 at the defaults)", () => {
  assert.equal(mamba2ParamCount({ dModel: 512 }), 1_719_600);
  const op = createMamba2(ref64, new Rng(0), { dModel: 512 });
  assert.equal(countParams(op), 1_719_600);
  const shapes = Object.fromEntries(Object.entries(op.params).map(([k, t]) => [k, t.shape]));
  assert.deepEqual(shapes, {
    "in_proj.weight": [2320, 512],
    "conv1d.weight": [1280, 1, 4],
    "conv1d.bias": [1280],
    "dt_bias": [16],
    "A_log": [16],
    "D": [16],
    "norm.weight": [1024],
    "out_proj.weight": [512, 1024],
  });
  // the closed-form count for Dm = 512, G = 1, K = 4 and other module defaults
  for (
    const [expand, headdim, dState, want] of [
      [1, 32, 16, 814_288],
      [1, 64, 64, 859_800],
      [2, 32, 128, 1_727_840],
      [2, 64, 16, 1_603_792],
    ]
  ) {
    assert.equal(mamba2ParamCount({ dModel: 512, expand, headdim, dState }), want);
  }
  // each extra group adds 2N·(Dm + K + 1); enumeration agrees off the defaults too
  assert.equal(mamba2ParamCount({ dModel: 512, ngroups: 2 }), 1_719_600 + 2 * 128 * 517);
  for (const cfg of [{ dModel: 6, expand: 2, headdim: 3, dState: 4, ngroups: 2 }, SMALL]) {
    assert.equal(countParams(createMamba2(ref64, new Rng(1), cfg)), mamba2ParamCount(cfg));
  }
  assert.equal(
    countParams(createMamba2(ref64, new Rng(1), { ...SMALL, bidirectional: "shared" })),
    mamba2ParamCount(SMALL),
  );
});

Deno.test("mamba2: config validation", () => {
  assert.throws(() => mamba2Sizes({ dModel: 32, headdim: 24 }), /multiple of headdim/);
  assert.throws(() => mamba2Sizes({ dModel: 32, headdim: 8, ngroups: 3 }), /multiple of ngroups/);
  assert.throws(() => mamba2Sizes({ dModel: 0 }), RangeError);
  assert.throws(() => mamba2Sizes({ dModel: 32, dstate: 8 } as Mamba2Config), /unknown config key/);
  const op = createMamba2(ref64, new Rng(0), SMALL);
  assert.throws(
    () => op.forward(tensor(ref64, new Float64Array(2 * 3 * 31), [2, 3, 31])),
    TypeError,
  );
});

Deno.test("mamba2: initialisation follows upstream Mamba2 and is seeded", () => {
  const p = createMamba2(ref64, new Rng(3), { dModel: 64 }).params;
  const arr = (k: string) => Array.from(p[k].toArray());
  const within = (k: string, lo: number, hi: number) => {
    for (const v of arr(k)) assert.ok(v >= lo && v <= hi, `${k}: ${v} outside [${lo}, ${hi}]`);
  };
  within("in_proj.weight", -1 / 8, 1 / 8);
  within("out_proj.weight", -1 / Math.sqrt(128), 1 / Math.sqrt(128));
  within("conv1d.weight", -0.5, 0.5);
  within("conv1d.bias", -0.5, 0.5);
  within("A_log", 0, Math.log(16));
  assert.deepEqual(arr("D"), [1, 1]);
  assert.ok(arr("norm.weight").every((v) => v === 1));
  for (const b of arr("dt_bias")) {
    const d0 = Math.log1p(Math.exp(b)); // softplus(dt_bias) is the initial Δ
    assert.ok(d0 >= 1e-3 * (1 - 1e-6) && d0 <= 0.1 * (1 + 1e-6), `initial Δ ${d0}`);
  }
  const again = createMamba2(ref64, new Rng(3), { dModel: 64 }).params;
  assert.deepEqual(Array.from(again["in_proj.weight"].toArray()), arr("in_proj.weight"));
});

// ------------------------------------------------------------------ cpu vs ref

const make = (cfg: Mamba2Config) => (be: Backend, rng: Rng) => createMamba2(be, rng, cfg);

cpuTest("output and every gradient = ref f64 (L 1/7/97, G 1/2, block, bidirectional)", (cpu) => {
  for (
    const [cfg, shape] of [
      [SMALL, [2, 7, 32]],
      [SMALL, [1, 1, 32]],
      [{ ...SMALL, ngroups: 2 }, [2, 97, 32]],
      [{ ...SMALL, bidirectional: "shared" }, [2, 7, 32]],
    ] as [Mamba2Config, number[]][]
  ) {
    assertBackendsAgree(cpu, ref64, make(cfg), shape, "forward");
  }
  assertBackendsAgree(cpu, ref64, make({ ...SMALL, ngroups: 2 }), [2, 7, 32], "block");
});

cpuTest("L = 916 (chunk 64, ragged tail): output and gradients = ref f64", (cpu) => {
  assertBackendsAgree(cpu, ref64, make({ dModel: 16, dState: 8, headdim: 8, chunkSize: 64 }), [
    1,
    916,
    16,
  ]);
});

cpuTest("the chunk size does not change the result (16 vs 256 vs 5)", (cpu) => {
  const x = tensor(cpu, Float32Array.from({ length: 2 * 97 * 32 }, (_, i) => Math.sin(i)), [
    2,
    97,
    32,
  ]);
  const out = (chunkSize: number) =>
    noGrad(() => createMamba2(cpu, new Rng(5), { ...SMALL, chunkSize }).forward(x)).toArray();
  const want = out(256);
  for (const q of [16, 5]) assertClose(out(q), want, { atol: 2e-6, rtol: 1e-4, msg: `Q=${q}` });
});

// ------------------------------------------------------------------ finite differences

/** A tiny whole layer for finite differences: Dm 6, E 2, P 3, N 4, G 2, K 4, T 9, norm w ≠ 1. */
const TINY: Mamba2Config = {
  dModel: 6,
  expand: 2,
  headdim: 3,
  dState: 4,
  ngroups: 2,
  chunkSize: 4,
};

function tinyOp(cfg: Mamba2Config) {
  const op = createMamba2(ref64, new Rng(11), cfg);
  const rng = new Rng(12);
  const w = op.params["norm.weight"], d = op.params["D"];
  ref64.upload(w.buf, Array.from(w.toArray(), () => 1 + 0.1 * rng.normal()));
  ref64.upload(d.buf, Array.from(d.toArray(), () => 1 + 0.5 * rng.normal()));
  return op;
}

for (
  const [name, cfg, which] of [
    ["forward", TINY, "forward"],
    ["block", TINY, "block"],
    ["bidirectional forward", { ...TINY, bidirectional: "shared" }, "forward"],
  ] as [string, Mamba2Config, "forward" | "block"][]
) {
  Deno.test(`mamba2 gradcheck (ref f64): ${name}, input and every parameter`, () => {
    const r = gradcheckOperator(ref64, tinyOp(cfg), [2, 9, 6], which, {
      maxPerInput: 1000, // every element: the tiny layer and input have 608 scalars
      atol: 1e-7,
      rtol: 1e-5,
    });
    assert.ok(r.checked === 608, `only ${r.checked} checked`);
    assert.deepEqual(
      r.failures.slice(0, 3),
      [],
      `${r.failures.length} mismatches, max ${r.maxErr}`,
    );
  });
}

// ------------------------------------------------------------------ decode, causality, bidirectional

/**
 * The recurrent decode (upstream `Mamba2.step`), one token at a time in float64 from the
 * parameters: conv state of the last K pre-conv xBC vectors, SSM state S ← exp(Δ·A)·S + Δ·x⊗B,
 * y = S·C + D·x, gated RMSNorm, out_proj.
 */
function decode(
  op: ReturnType<typeof createMamba2>,
  cfg: Mamba2Config,
  u: Float64Array,
  b: number,
  l: number,
) {
  const s = mamba2Sizes(cfg);
  const P = Object.fromEntries(
    Object.entries(op.params).map(([k, t]) => [k, Float64Array.from(t.toArray())]),
  );
  const { dModel: dm, dInner: din, nheads: H, headdim: hp, ngroups: G, dState: N, dConv: K } = s;
  const conv = s.convDim, gs = din / G, hpg = H / G;
  const silu = (v: number) => v / (1 + Math.exp(-v));
  const out = new Float64Array(b * l * dm);
  for (let bi = 0; bi < b; bi++) {
    const cstate = new Float64Array(K * conv);
    const S = new Float64Array(H * hp * N);
    for (let t = 0; t < l; t++) {
      const ut = u.subarray((bi * l + t) * dm, (bi * l + t + 1) * dm);
      const zx = new Float64Array(s.dInProj);
      for (let r = 0; r < s.dInProj; r++) {
        for (let c = 0; c < dm; c++) zx[r] += P["in_proj.weight"][r * dm + c] * ut[c];
      }
      cstate.copyWithin(0, conv); // shift left by one slot, newest last
      cstate.set(zx.subarray(din, din + conv), (K - 1) * conv);
      const xbc = new Float64Array(conv);
      for (let c = 0; c < conv; c++) {
        let acc = P["conv1d.bias"][c];
        for (let k = 0; k < K; k++) acc += cstate[k * conv + c] * P["conv1d.weight"][c * K + k];
        xbc[c] = silu(acc);
      }
      const y = new Float64Array(din);
      for (let h = 0; h < H; h++) {
        const g = Math.floor(h / hpg), r = zx[din + conv + h] + P["dt_bias"][h];
        const dt = r > 20 ? r : Math.log1p(Math.exp(r));
        const decay = Math.exp(dt * -Math.exp(P["A_log"][h]));
        const bo = din + g * N, co = din + G * N + g * N;
        for (let p = 0; p < hp; p++) {
          const xv = xbc[h * hp + p];
          let acc = P["D"][h] * xv;
          for (let n = 0; n < N; n++) {
            const i = (h * hp + p) * N + n;
            S[i] = decay * S[i] + dt * xv * xbc[bo + n];
            acc += S[i] * xbc[co + n];
          }
          y[h * hp + p] = acc;
        }
      }
      const o = new Float64Array(din);
      for (let g = 0; g < G; g++) {
        let ms = 0;
        for (let c = g * gs; c < (g + 1) * gs; c++) {
          o[c] = y[c] * silu(zx[c]);
          ms += o[c] * o[c];
        }
        const rstd = 1 / Math.sqrt(ms / gs + 1e-5);
        for (let c = g * gs; c < (g + 1) * gs; c++) o[c] *= rstd * P["norm.weight"][c];
      }
      for (let r = 0; r < dm; r++) {
        let acc = 0;
        for (let c = 0; c < din; c++) acc += P["out_proj.weight"][r * din + c] * o[c];
        out[(bi * l + t) * dm + r] = acc;
      }
    }
  }
  return out;
}

Deno.test("mamba2: parallel forward (ref f64) = token-by-token decode (Mamba2.step), G 1 and 2", () => {
  for (const cfg of [SMALL, { ...SMALL, ngroups: 2, dConv: 3 }, TINY]) {
    const op = tinyOp(cfg);
    const [b, l, dm] = [2, 21, cfg.dModel];
    const rng = new Rng(99);
    const u = Float64Array.from({ length: b * l * dm }, () => rng.normal());
    const par = noGrad(() => op.forward(tensor(ref64, u, [b, l, dm]))).toArray();
    assertClose(par, decode(op, cfg, u, b, l), { ...TOL_F64, msg: JSON.stringify(cfg) });
  }
});

/** Forward on inputs that differ only from step `t0` on; returns both outputs. */
function perturbAfter(
  be: Backend,
  cfg: Mamba2Config,
  t0: number,
): [ArrayLike<number>, ArrayLike<number>] {
  const op = createMamba2(be, new Rng(8), cfg);
  const [b, l, dm] = [2, 40, cfg.dModel];
  const rng = new Rng(9);
  const u = Float64Array.from({ length: b * l * dm }, () => rng.normal());
  const v = u.slice();
  for (let bi = 0; bi < b; bi++) {
    for (let i = (bi * l + t0) * dm; i < (bi + 1) * l * dm; i++) v[i] += rng.normal();
  }
  const run = (data: Float64Array): Tensor =>
    noGrad(() => op.forward(tensor(be, data, [b, l, dm])));
  return [run(u).toArray(), run(v).toArray()];
}

function prefixEqual(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  t0: number,
  l: number,
  dm: number,
) {
  for (let bi = 0; bi < 2; bi++) {
    for (let i = bi * l * dm; i < (bi * l + t0) * dm; i++) if (a[i] !== b[i]) return false;
  }
  return true;
}

Deno.test("mamba2: causal (ref): outputs before t do not change when inputs from t on do", () => {
  const [a, b] = perturbAfter(ref64, SMALL, 17);
  assert.ok(prefixEqual(a, b, 17, 40, 32), "causal output changed before the perturbation");
  assert.ok(!prefixEqual(a, b, 18, 40, 32), "perturbation had no effect");
});

cpuTest("causal (chunked, chunk 16 so t = 17 is mid-chunk): prefix bitwise unchanged", (cpu) => {
  const [a, b] = perturbAfter(cpu, SMALL, 17);
  assert.ok(prefixEqual(a, b, 17, 40, 32), "causal output changed before the perturbation");
});

Deno.test("mamba2: bidirectional 'shared' sees the future, differs from causal, same weights", () => {
  const bi: Mamba2Config = { ...SMALL, bidirectional: "shared" };
  const [a, b] = perturbAfter(ref64, bi, 30);
  assert.ok(!prefixEqual(a, b, 1, 40, 32), "bidirectional output at t=0 ignored the future");
  const x = tensor(ref64, Float64Array.from({ length: 2 * 5 * 32 }, (_, i) => Math.cos(i)), [
    2,
    5,
    32,
  ]);
  const causal = noGrad(() => createMamba2(ref64, new Rng(4), SMALL).forward(x)).toArray();
  const both = noGrad(() => createMamba2(ref64, new Rng(4), bi).forward(x)).toArray();
  assert.ok(causal.some((v, i) => Math.abs(v - both[i]) > 1e-3), "bidirectional = causal");
});

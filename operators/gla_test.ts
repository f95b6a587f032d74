/**
 * The GLA operator: parameter count (formula = enumeration, 1,053,192 at paper size), config
 * validation, seeded initialisation, shapes (L = 1, odd widths, rectangular heads), the forward
 * against an independent plain-float64 oracle written here (the recurrences S_t = α_t S_{t−1} +
 * k_t v_tᵀ run left to right and, for the non-causal form, right to left — not the parallel form
 * the operator computes), causality, finite differences of every parameter and the input on ref
 * f64 (forward, block, preBlock), the fast backend against ref, and a long sequence with fast
 * decays staying finite and equal across backends.
 */
import assert from "node:assert/strict";
import type { Backend } from "../engine/backend.ts";
import { createRefBackend } from "../engine/backends/ref/mod.ts";
import { noGrad } from "../engine/autograd.ts";
import { Rng } from "../engine/rng.ts";
import { tensor } from "../engine/tensor.ts";
import { randomArray } from "../engine/testing.ts";
import {
  createGla,
  type GlaConfig,
  glaDefaultKeyDim,
  glaInitialDecays,
  glaParamCount,
  glaSizes,
} from "./gla.ts";
import { countParams } from "./operator.ts";
import {
  assertBackendsAgree,
  assertCloseScaled,
  fastBackend,
  gradcheckOperator,
  runOperator,
} from "./testing.ts";

const ref64 = createRefBackend({ precision: "f64" });
const fast = fastBackend();
if (!fast.be) console.warn(`SKIPPING gla ${fast.name}-vs-ref tests: ${fast.reason}`);

Deno.test("gla: parameter count = formula = enumeration; 1,053,192 at D 512, 8 heads, dk 32", () => {
  assert.equal(glaParamCount({ hidden: 512, heads: 8 }), 1_053_192); // dk defaults to 32
  assert.equal(512 * 8 * (2 * 32 + 3 * 64 + 1) + 8 * (64 + 1), 1_053_192);
  const op = createGla(ref64, new Rng(0), { hidden: 512, heads: 8, keyDim: 32 });
  assert.equal(countParams(op), 1_053_192);
  const shapes = Object.fromEntries(Object.entries(op.params).map(([k, t]) => [k, t.shape]));
  assert.deepEqual(shapes, {
    "in_proj.weight": [8 * (64 + 128 + 1), 512],
    "decay_bias": [8],
    "norm.weight": [512],
    "out_proj.weight": [512, 512],
  });
  for (
    const cfg of [
      { hidden: 5, heads: 2, valueDim: 3, keyDim: 3, rope: false },
      { hidden: 6, heads: 3, keyDim: 4 },
      { hidden: 16, heads: 1 },
    ] as GlaConfig[]
  ) {
    assert.equal(countParams(createGla(ref64, new Rng(1), cfg)), glaParamCount(cfg));
  }
});

Deno.test("gla: config defaults and validation", () => {
  const s = glaSizes({ hidden: 64, heads: 4 });
  assert.deepEqual([s.valueDim, s.keyDim, s.rope, s.causal, s.ropeBase], [16, 8, true, false, 1e4]);
  assert.deepEqual([2, 3, 8, 64].map(glaDefaultKeyDim), [2, 2, 4, 32]);
  assert.throws(() => glaSizes({ hidden: 10, heads: 4 }), /not a multiple of heads/);
  assert.throws(() => glaSizes({ hidden: 8, heads: 2, keyDim: 3 }), /even key dim/);
  assert.throws(() => glaSizes({ hidden: 8, heads: 0 }), /heads must be a positive integer/);
  assert.throws(
    () => glaSizes({ hidden: 8, heads: 2, keydim: 4 } as GlaConfig),
    /unknown config key: keydim/,
  );
  const op = createGla(ref64, new Rng(0), { hidden: 8, heads: 2 });
  assert.throws(() => op.forward(tensor(ref64, new Float64Array(12), [1, 2, 6])), /\[B, L, 8\]/);
});

Deno.test("gla: initialisation is seeded; decays log-spaced 1/2 … 1/256; norm weight 1", () => {
  const cfg = { hidden: 32, heads: 4 };
  const a = createGla(ref64, new Rng(3), cfg).params, b = createGla(ref64, new Rng(3), cfg).params;
  const c = createGla(ref64, new Rng(4), cfg).params;
  for (const k of Object.keys(a)) {
    assert.deepEqual(Array.from(a[k].toArray()), Array.from(b[k].toArray()), k);
  }
  assert.notDeepEqual(
    Array.from(a["in_proj.weight"].toArray()),
    Array.from(c["in_proj.weight"].toArray()),
  );
  // softplus(−bias) is the initial λ of each head
  const lam = Array.from(a["decay_bias"].toArray(), (v) => Math.log1p(Math.exp(-v)));
  const want = glaInitialDecays(4);
  lam.forEach((l, h) => assert.ok(Math.abs(l - want[h]) < 1e-12, `head ${h}: ${l}`));
  assert.ok(want[0] < 0.5 && want[3] > 1 / 256 && want.every((l, h) => h === 0 || l < want[h - 1]));
  assert.ok(Array.from(a["norm.weight"].toArray()).every((v) => v === 1));
  // truncated LeCun normal: |w| ≤ 2 std·(truncation rescale) — at least bounded by 3/√fanIn
  for (const v of a["in_proj.weight"].toArray()) assert.ok(Math.abs(v) <= 3 / Math.sqrt(32));
});

// ------------------------------------------------------------------ the oracle

/**
 * The operator in plain float64 from its parameters, by the recurrences (no L×L matrix): causal
 * S_t = α_t S_{t−1} + k̂_t v_tᵀ, o_t = S_tᵀ q̂_t; non-causal adds the right-to-left state
 * R_t = α_{t+1}(k̂_{t+1} v_{t+1}ᵀ + R_{t+1}). Then y = out_proj(groupRMS(o ⊙ silu(g)) ⊙ w).
 */
function oracle(cfg: GlaConfig, p: Record<string, ArrayLike<number>>, x: number[], b: number) {
  const s = glaSizes(cfg);
  const { hidden: d, heads: h, keyDim: dk, valueDim: dv } = s;
  const l = x.length / (b * d), pw = s.projDim;
  const win = p["in_proj.weight"], wout = p["out_proj.weight"];
  const bias = p["decay_bias"], nw = p["norm.weight"];
  const out: number[] = [];
  const sp = (z: number) => Math.log1p(Math.exp(z));
  for (let bi = 0; bi < b; bi++) {
    const proj = Array.from({ length: l }, (_, t) =>
      Array.from({ length: pw }, (_, o) => {
        let acc = 0;
        for (let i = 0; i < d; i++) acc += win[o * d + i] * x[(bi * l + t) * d + i];
        return acc;
      }));
    const o = Array.from({ length: l }, () => new Float64Array(h * dv));
    for (let hh = 0; hh < h; hh++) {
      const vec = (t: number, off: number, n: number) =>
        Array.from({ length: n }, (_, j) => proj[t][off + hh * n + j]);
      const rope = (v: number[], t: number) => {
        if (!s.rope) return v;
        const half = dk / 2;
        return v.map((_, j) => {
          const jj = j % half, inv = Math.fround(1 / Math.pow(s.ropeBase, (2 * jj) / dk));
          const ang = Math.fround(t * inv), rot = j < half ? -v[j + half] : v[j - half];
          // the tables hold f32 cos and sin (engine/ops_nn.ts ropeTables)
          return v[j] * Math.fround(Math.cos(ang)) + rot * Math.fround(Math.sin(ang));
        });
      };
      const q = (t: number) => rope(vec(t, 0, dk), t).map((z) => z / Math.sqrt(dk));
      const k = (t: number) => rope(vec(t, h * dk, dk), t);
      const v = (t: number) => vec(t, 2 * h * dk, dv);
      const alpha = (t: number) => Math.exp(-sp(-(proj[t][2 * h * (dk + dv) + hh] + bias[hh])));
      const readout = (st: number[][], qt: number[], t: number, add: boolean) => {
        for (let j = 0; j < dv; j++) {
          let acc = 0;
          for (let i = 0; i < dk; i++) acc += st[i][j] * qt[i];
          o[t][hh * dv + j] = (add ? o[t][hh * dv + j] : 0) + acc;
        }
      };
      let st = Array.from({ length: dk }, () => new Array(dv).fill(0));
      for (let t = 0; t < l; t++) {
        const a = alpha(t), kt = k(t), vt = v(t);
        st = st.map((row, i) => row.map((z, j) => a * z + kt[i] * vt[j]));
        readout(st, q(t), t, false);
      }
      if (!s.causal) {
        let rs = Array.from({ length: dk }, () => new Array(dv).fill(0));
        for (let t = l - 1; t >= 0; t--) {
          readout(rs, q(t), t, true);
          if (t === 0) break;
          const a = alpha(t), kt = k(t), vt = v(t);
          rs = rs.map((row, i) => row.map((z, j) => a * (z + kt[i] * vt[j])));
        }
      }
    }
    for (let t = 0; t < l; t++) {
      const y = new Float64Array(h * dv);
      for (let hh = 0; hh < h; hh++) {
        let ms = 0;
        for (let j = 0; j < dv; j++) {
          const c = hh * dv + j, g = proj[t][2 * h * dk + h * dv + c];
          y[c] = o[t][c] * g / (1 + Math.exp(-g));
          ms += y[c] * y[c] / dv;
        }
        for (let j = 0; j < dv; j++) y[hh * dv + j] *= nw[hh * dv + j] / Math.sqrt(ms + 1e-5);
      }
      for (let m = 0; m < d; m++) {
        let acc = 0;
        for (let c = 0; c < h * dv; c++) acc += wout[m * h * dv + c] * y[c];
        out.push(acc);
      }
    }
  }
  return out;
}

for (
  const [name, cfg, shape] of [
    ["non-causal, RoPE", { hidden: 8, heads: 2, keyDim: 4 }, [2, 5, 8]],
    ["causal, RoPE", { hidden: 8, heads: 2, keyDim: 4, causal: true }, [2, 5, 8]],
    ["non-causal, no RoPE, odd widths", {
      hidden: 5,
      heads: 2,
      keyDim: 3,
      valueDim: 3,
      rope: false,
    }, [1, 4, 5]],
    ["causal, L = 1", { hidden: 6, heads: 3, causal: true }, [2, 1, 6]],
    ["non-causal, L = 1", { hidden: 6, heads: 3 }, [1, 1, 6]],
  ] as [string, GlaConfig, number[]][]
) {
  Deno.test(`gla: forward = the float64 recurrence oracle (${name})`, () => {
    const op = createGla(ref64, new Rng(5), cfg);
    // a non-zero bias spread makes the decays differ visibly between positions
    const x = randomArray(new Rng(6), shape.reduce((a, b) => a * b, 1), { std: 1 });
    const y = noGrad(() => op.forward(tensor(ref64, x, shape)));
    assert.deepEqual(y.shape, shape);
    const p = Object.fromEntries(Object.entries(op.params).map(([k, t]) => [k, t.toArray()]));
    const want = oracle(cfg, p, Array.from(x), shape[0]);
    assertCloseScaled(y.toArray(), want, { atol: 1e-12, rtol: 1e-10 }, name);
  });
}

Deno.test("gla: a hand-computed case (D 2, one head, dk 1, dv 2, no RoPE, L 2)", () => {
  // in_proj rows (q | k | v0 v1 | g0 g1 | a) over x = (x0, x1): q = k = v0 = g0 = g1 = x0,
  // v1 = x1, a = 0; decay_bias ln 3 → α = σ(ln 3) = 3/4 at every position; out_proj = identity.
  // x_1 = (1, 0), x_2 = (1, 3): q = k = 1 at both positions, v_1 = (1, 0), v_2 = (1, 3).
  //   causal:     o_1 = v_1 = (1, 0)                 o_2 = α·v_1 + v_2 = (1.75, 3)
  //   non-causal: o_1 = v_1 + α·v_2 = (1.75, 2.25)   o_2 = α·v_1 + v_2 = (1.75, 3)
  // then y = z / √(mean(z²) + 1e-5) with z = o·silu(1) (g = x0 = 1 on both channels).
  const x = [1, 0, 1, 3];
  const norm = (o: number[]) => {
    const z = o.map((v) => v / (1 + Math.exp(-1)));
    const ms = (z[0] ** 2 + z[1] ** 2) / 2;
    return z.map((v) => v / Math.sqrt(ms + 1e-5));
  };
  for (
    const [causal, want] of [
      [true, [...norm([1, 0]), ...norm([1.75, 3])]],
      [false, [...norm([1.75, 2.25]), ...norm([1.75, 3])]],
    ] as [boolean, number[]][]
  ) {
    const op = createGla(ref64, new Rng(0), {
      hidden: 2,
      heads: 1,
      keyDim: 1,
      valueDim: 2,
      rope: false,
      causal,
    });
    const rows = [[1, 0], [1, 0], [1, 0], [0, 1], [1, 0], [1, 0], [0, 0]];
    ref64.upload(op.params["in_proj.weight"].buf, rows.flat());
    ref64.upload(op.params["decay_bias"].buf, [Math.log(3)]);
    ref64.upload(op.params["out_proj.weight"].buf, [1, 0, 0, 1]);
    const y = noGrad(() => op.forward(tensor(ref64, x, [1, 2, 2]))).toArray();
    for (let i = 0; i < 4; i++) {
      assert.ok(
        Math.abs(y[i] - want[i]) < 1e-12,
        `causal ${causal}: y[${i}] ${y[i]} vs ${want[i]}`,
      );
    }
  }
});

Deno.test("gla: causal ignores the future, non-causal does not", () => {
  for (const causal of [true, false]) {
    const op = createGla(ref64, new Rng(2), { hidden: 8, heads: 2, causal });
    const x = Array.from(randomArray(new Rng(3), 2 * 6 * 8, { std: 1 }));
    const y0 = noGrad(() => op.forward(tensor(ref64, x, [2, 6, 8]))).toArray();
    x[(0 * 6 + 4) * 8 + 3] += 1; // batch 0, position 4
    const y1 = noGrad(() => op.forward(tensor(ref64, x, [2, 6, 8]))).toArray();
    const changed = (t: number, b = 0) =>
      [...Array(8).keys()].some((c) => y0[(b * 6 + t) * 8 + c] !== y1[(b * 6 + t) * 8 + c]);
    assert.equal(changed(3), !causal, `causal ${causal}: position 3`);
    assert.ok(changed(4) && changed(5));
    assert.ok(![0, 1, 2, 3, 4, 5].some((t) => changed(t, 1)), "other batch rows untouched");
  }
});

Deno.test("gla: block and preBlock shapes; block normalises the feature axis", () => {
  const make = (b: Backend, r: Rng) => createGla(b, r, { hidden: 6, heads: 3 });
  const out = runOperator(ref64, make, [2, 3, 6], "block").output;
  for (let r = 0; r < 6; r++) {
    let ms = 0;
    for (let c = 0; c < 6; c++) ms += out[r * 6 + c] ** 2 / 6;
    assert.ok(Math.abs(ms - 1) < 1e-3, `row ${r}: mean square ${ms}`);
  }
  const op = make(ref64, new Rng(1));
  assert.deepEqual(op.preBlock(tensor(ref64, new Float64Array(18), [1, 3, 6])).shape, [1, 3, 6]);
});

for (
  const [name, cfg, shape] of [
    ["non-causal + RoPE", { hidden: 8, heads: 2 }, [2, 5, 8]],
    ["causal + RoPE", { hidden: 8, heads: 2, causal: true }, [2, 5, 8]],
    ["odd widths, no RoPE", { hidden: 5, heads: 2, keyDim: 3, valueDim: 3, rope: false }, [
      2,
      3,
      5,
    ]],
    ["L = 1", { hidden: 6, heads: 3 }, [2, 1, 6]],
  ] as [string, GlaConfig, number[]][]
) {
  Deno.test(`gla: finite differences of every parameter and the input on ref f64 (${name})`, () => {
    const op = createGla(ref64, new Rng(2), cfg);
    for (const which of ["forward", "block", "preBlock"] as const) {
      const r = gradcheckOperator(ref64, op, shape, which, { maxPerInput: 30 });
      assert.ok(r.checked >= 30, `${which}: checked ${r.checked}`);
      assert.deepEqual(r.failures.slice(0, 3), [], `${which}: max err ${r.maxErr}`);
    }
  });
}

for (
  const [cfg, shape] of [
    [{ hidden: 32, heads: 4 }, [2, 7, 32]],
    [{ hidden: 32, heads: 4, causal: true }, [2, 7, 32]],
    [{ hidden: 32, heads: 2, keyDim: 6 }, [3, 1, 32]],
    [{ hidden: 24, heads: 3, causal: true, rope: false, keyDim: 5 }, [2, 33, 24]],
  ] as [GlaConfig, number[]][]
) {
  Deno.test({
    name: `gla: ${fast.name} matches ref, output and all gradients, ${JSON.stringify(cfg)} [${
      shape.join(", ")
    }]`,
    ignore: !fast.be,
    fn() {
      const make = (be: Backend, r: Rng) => createGla(be, r, cfg);
      for (const which of ["forward", "block"] as const) {
        assertBackendsAgree(fast.be!, createRefBackend(), make, shape, which);
      }
    },
  });
}

Deno.test({
  name: `gla: L = 300 with fast decays stays finite; ${fast.name} = ref f64`,
  ignore: !fast.be,
  fn() {
    const make = (be: Backend, r: Rng) => {
      const op = createGla(be, r, { hidden: 16, heads: 2 });
      // λ ≈ 8 per position: Λ reaches ~2400, the decay between neighbours e^−8
      be.upload(op.params["decay_bias"].buf, [-8, -8]);
      return op;
    };
    const got = runOperator(fast.be!, make, [1, 300, 16]);
    assert.ok(Array.from(got.output).every(Number.isFinite));
    for (const [k, g] of Object.entries(got.grads)) {
      assert.ok(Array.from(g).every(Number.isFinite), k);
    }
    assertBackendsAgree(fast.be!, ref64, make, [1, 300, 16], "forward", { atol: 1e-4, rtol: 1e-3 });
  },
});

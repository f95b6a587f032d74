/**
 * Mamba-2 primitives. The reference ladder of the scan: the `cpu` chunked SSD (f32, rung 2) against
 * the `ref` sequential recurrence (f64, rung 1) on outputs, the final state and every gradient
 * through one shared random cotangent, for lengths that chunk sizes do not divide; the conv
 * likewise; then every backward rule of ops_ssm.ts (and sliceLastAxis) by central finite
 * differences on ref f64. cpu tests skip loudly where the native library cannot be built.
 */
import assert from "node:assert/strict";
import type { Backend, Buf, SsdDims } from "./backend.ts";
import { createCpuBackend } from "./backends/cpu/mod.ts";
import { createRefBackend } from "./backends/ref/mod.ts";
import { assertGradients } from "./gradcheck.ts";
import { mul, reshape, rmsnorm, silu, sliceLastAxis } from "./ops.ts";
import {
  conv1dCausal,
  conv1dCausalSilu,
  flipAxis1,
  gatedRmsnorm,
  mulRowVector,
  ssdFinalState,
  ssdScan,
} from "./ops_ssm.ts";
import { Rng } from "./rng.ts";
import { type Tensor, tensor } from "./tensor.ts";
import { assertClose, assertSameBits, cpuOrSkip, outputAndGrads } from "./testing.ts";

const ref = createRefBackend({ precision: "f64" });
const cpu = cpuOrSkip("ops_ssm_test: cpu (chunked SSD, conv) tests");

function cpuTest(name: string, fn: (cpu: Backend) => void) {
  Deno.test({ name: `ssm cpu: ${name}`, ignore: cpu === null, fn: () => fn(cpu!) });
}

/**
 * f32 (cpu) against the f64 oracle: |a − e| ≤ atol·max|e| + rtol·|e|. The absolute term scales
 * with the tensor's largest value because state sums over N·P terms cancel towards zero, where a
 * purely relative bound means nothing. Measured worst case on these tests: ~1e-5·max|e| (the
 * Δ gradient at chunk 256, where the f32 sums inside a chunk are longest).
 */
const TOL_CHUNKED = { atol: 5e-5, rtol: 1e-3 };
function assertScaled(a: ArrayLike<number>, e: ArrayLike<number>, msg: string, tol = TOL_CHUNKED) {
  let s = 0;
  for (let i = 0; i < e.length; i++) s = Math.max(s, Math.abs(e[i]));
  assertClose(a, e, { atol: tol.atol * Math.max(s, 1e-30), rtol: tol.rtol, msg });
}
/** Max |a − e| / max(1, max|e|), for the printed ladder errors. */
function relErr(a: ArrayLike<number>, e: ArrayLike<number>): number {
  let m = 0, s = 0;
  for (let i = 0; i < e.length; i++) {
    m = Math.max(m, Math.abs(a[i] - e[i]));
    s = Math.max(s, Math.abs(e[i]));
  }
  return m / Math.max(1, s);
}

// ------------------------------------------------------------------ scan ladder

interface ScanCase {
  dims: SsdDims;
  host: Record<string, Float64Array>;
}

/** A random scan problem: Δ = softplus(N(0,1) − 1), −A in [1, 16) (the A_log init range). */
function scanCase(dims: SsdDims, seed: number, opts: { dtShift?: number; dtScale?: number } = {}) {
  const { batch: b, seq: t, heads: h, headDim: p, groups: g, dState: n } = dims;
  const rng = new Rng(seed);
  const normal = (k: number) => Float64Array.from({ length: k }, () => rng.normal());
  const sp = (v: number) => (v > 20 ? v : Math.log1p(Math.exp(v)));
  const host = {
    x: normal(b * t * h * p),
    dt: Float64Array.from(
      { length: b * t * h },
      () => sp((opts.dtScale ?? 1) * rng.normal() + (opts.dtShift ?? -1)),
    ),
    A: Float64Array.from({ length: h }, () => -(1 + 15 * rng.uniform())),
    B: normal(b * t * g * n),
    C: normal(b * t * g * n),
    D: normal(h),
    init: normal(b * h * p * n),
    dy: normal(b * t * h * p),
    dFinal: normal(b * h * p * n),
  };
  return { dims, host } satisfies ScanCase;
}

/** Runs forward and backward of the scan kernels on `be`; returns every result on the host. */
function runScan(be: Backend, c: ScanCase, withInit = true): Record<string, Float64Array> {
  const { dims, host } = c;
  const put = (a: Float64Array) => {
    const buf = be.alloc("f32", a.length);
    be.upload(buf, a);
    return buf;
  };
  const i: Record<string, Buf> = {};
  for (const [k, v] of Object.entries(host)) i[k] = put(v);
  const init = withInit ? i.init : null;
  const out = (n: number) => be.alloc("f32", n);
  const y = out(host.x.length), fin = out(host.init.length);
  be.ssdScan(dims, i.x, i.dt, i.A, i.B, i.C, i.D, init, y, fin);
  const g = {
    dx: out(host.x.length),
    ddt: out(host.dt.length),
    dA: out(host.A.length),
    dB: out(host.B.length),
    dC: out(host.C.length),
    dD: out(host.D.length),
    dInit: out(host.init.length),
  };
  be.ssdScanBackward(
    dims,
    i.x,
    i.dt,
    i.A,
    i.B,
    i.C,
    i.D,
    init,
    i.dy,
    i.dFinal,
    g.dx,
    g.ddt,
    g.dA,
    g.dB,
    g.dC,
    g.dD,
    g.dInit,
  );
  const res: Record<string, Float64Array> = { y: Float64Array.from(be.download(y)) };
  res.finalState = Float64Array.from(be.download(fin));
  for (const [k, v] of Object.entries(g)) res[k] = Float64Array.from(be.download(v));
  return res;
}

/** The ladder comparison of one case; returns the worst relative error per result. */
function ladder(cpu: Backend, c: ScanCase, withInit = true): Record<string, number> {
  const want = runScan(ref, c, withInit), got = runScan(cpu, c, withInit);
  const errs: Record<string, number> = {};
  const d = c.dims;
  const at =
    `T=${d.seq} Q=${d.chunk} G=${d.groups} H=${d.heads} P=${d.headDim} N=${d.dState} B=${d.batch}`;
  for (const k of Object.keys(want)) {
    for (const v of got[k]) assert.ok(Number.isFinite(v), `${at}: ${k} has non-finite values`);
    assertScaled(got[k], want[k], `${at}: ${k}`);
    errs[k] = relErr(got[k], want[k]);
  }
  return errs;
}

const dimsOf = (seq: number, chunk: number, groups: number, heads = 4, batch = 2): SsdDims => ({
  batch,
  seq,
  heads,
  headDim: 8,
  groups,
  dState: 16,
  chunk,
});

cpuTest(
  "chunked SSD = recurrence: y, final state, all gradients (T 1/7/97, Q 16/64/256)",
  (cpu) => {
    let worst = 0, seed = 1;
    for (const seq of [1, 7, 97]) {
      for (const chunk of [16, 64, 256]) {
        for (const groups of [1, 2]) {
          const errs = ladder(cpu, scanCase(dimsOf(seq, chunk, groups), seed++));
          worst = Math.max(worst, ...Object.values(errs));
        }
      }
    }
    console.log(
      `  ladder T ∈ {1, 7, 97}: worst max|Δ|/max(1, max|ref|) = ${worst.toExponential(2)}`,
    );
  },
);

cpuTest(
  "chunked SSD = recurrence at T = 916 (Q 16/64/256 with ragged tails, one small H)",
  (cpu) => {
    const errs: string[] = [];
    for (const [chunk, groups] of [[16, 1], [64, 2], [256, 1]]) {
      const e = ladder(cpu, scanCase(dimsOf(916, chunk, groups, 2, 1), 100 + chunk));
      errs.push(`Q=${chunk}: ${Math.max(...Object.values(e)).toExponential(2)}`);
    }
    console.log(`  ladder T = 916: ${errs.join(", ")}`);
  },
);

cpuTest("chunked SSD without an initial state, chunk 1 and chunk > T", (cpu) => {
  for (const [seq, chunk] of [[5, 1], [9, 4], [12, 100]]) {
    ladder(cpu, scanCase(dimsOf(seq, chunk, 2), 7 + seq), false);
  }
});

cpuTest(
  "chunked SSD stress (spec T6): Δ up to ~30, −A = 16, T = 600, Q = 256: finite, = ref",
  (cpu) => {
    const c = scanCase(dimsOf(600, 256, 1, 2, 1), 77, { dtShift: 0, dtScale: 15 });
    c.host.A.fill(-16);
    ladder(cpu, c);
  },
);

cpuTest("chunked SSD backward is bitwise deterministic across thread counts", (cpu) => {
  const one = createCpuBackend({ threads: 1 }), two = createCpuBackend({ threads: 2 });
  const c = scanCase(dimsOf(97, 16, 2, 4, 3), 5);
  const a = runScan(one, c), b = runScan(two, c), again = runScan(cpu, c);
  for (const k of Object.keys(a)) {
    assert.deepEqual(a[k], b[k], `${k}: 1 vs 2 threads`);
    assert.deepEqual(again[k], b[k], `${k}: run to run`);
  }
});

cpuTest(
  "ssdScan and conv1dCausal reject short buffers and bad dims (RangeError naming them)",
  (cpu) => {
    const d = dimsOf(4, 2, 1);
    const buf = (n: number) => cpu.alloc("f32", n);
    const nx = 2 * 4 * 4 * 8, nb = 2 * 4 * 16;
    assert.throws(
      () =>
        cpu.ssdScan(d, buf(nx - 1), buf(32), buf(4), buf(nb), buf(nb), buf(4), null, buf(nx), null),
      (e: Error) => e instanceof RangeError && /^ssdScan: x has/.test(e.message),
    );
    assert.throws(
      () =>
        cpu.ssdScan(
          { ...d, groups: 3 },
          buf(nx),
          buf(32),
          buf(4),
          buf(nb),
          buf(nb),
          buf(4),
          null,
          buf(nx),
          null,
        ),
      (e: Error) => e instanceof RangeError && /^ssdScan: heads must be/.test(e.message),
    );
    assert.throws(
      () => cpu.conv1dCausal(2, 3, 5, 4, buf(30), buf(19), buf(5), buf(30)),
      (e: Error) => e instanceof RangeError && /^conv1dCausal: w has 19/.test(e.message),
    );
  },
);

// ------------------------------------------------------------------ conv ladder

cpuTest("conv1dCausal forward and backward = ref (T < K, channel blocks with tails)", (cpu) => {
  for (
    const [b, t, c, k] of [[1, 1, 3, 4], [2, 3, 70, 4], [3, 9, 130, 4], [2, 17, 5, 2], [1, 6, 7, 1]]
  ) {
    const rng = new Rng(b * 1000 + t * 10 + c);
    const rnd = (n: number) => Float64Array.from({ length: n }, () => rng.normal());
    const h = { x: rnd(b * t * c), w: rnd(c * k), bias: rnd(c), dy: rnd(b * t * c) };
    const run = (be: Backend) => {
      const put = (a: Float64Array) => {
        const buf = be.alloc("f32", a.length);
        be.upload(buf, a);
        return buf;
      };
      const x = put(h.x), w = put(h.w), bias = put(h.bias), dy = put(h.dy);
      const out = be.alloc("f32", b * t * c), dx = be.alloc("f32", b * t * c);
      const dw = be.alloc("f32", c * k), db = be.alloc("f32", c);
      be.conv1dCausal(b, t, c, k, x, w, bias, out);
      be.conv1dCausalBackward(b, t, c, k, x, w, dy, dx, dw, db);
      return [out, dx, dw, db].map((z) => Array.from(be.download(z)));
    };
    const want = run(ref), got = run(cpu);
    ["out", "dx", "dw", "dbias"].forEach((name, i) =>
      assertScaled(got[i], want[i], `conv [${b}, ${t}, ${c}] K=${k}: ${name}`, {
        atol: 1e-6,
        rtol: 1e-5,
      })
    );
  }
});

// ------------------------------------------------------------------ finite differences (ref f64)

function rand(rng: Rng, shape: number[], map: (v: number) => number = (v) => v): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tensor(ref, Array.from({ length: n }, () => map(rng.normal())), shape, {
    requiresGrad: true,
  });
}

const check = (name: string, f: (...x: Tensor[]) => Tensor, inputs: Tensor[]) =>
  assertGradients(name, f, inputs, { atol: 1e-7, rtol: 1e-6 });

const softplus = (v: number) => Math.log1p(Math.exp(v));

/** Scan inputs of a tiny check: B=2, T=5, H=2, P=3, N=4, G groups, with an init. */
function scanInputs(seed: number, groups: number): Tensor[] {
  const rng = new Rng(seed);
  const [b, t, h, p, n] = [2, 5, 2, 3, 4];
  return [
    rand(rng, [b, t, h, p]),
    rand(rng, [b, t, h], (v) => softplus(v - 1)),
    rand(rng, [h], (v) => -Math.exp(0.5 * v)),
    rand(rng, [b, t, groups, n]),
    rand(rng, [b, t, groups, n]),
    rand(rng, [h]),
    rand(rng, [b, h, p, n]),
  ];
}

for (const groups of [1, 2]) {
  Deno.test(`ssm gradcheck: ssdScan and ssdFinalState, G=${groups}, with initial state`, () => {
    const inp = scanInputs(10 + groups, groups);
    const opts = (init: Tensor) => ({ chunk: 2, init });
    check(
      `ssdScan G=${groups}`,
      (x, dt, a, bm, cm, d, init) => ssdScan(x, dt, a, bm, cm, d, opts(init)),
      inp,
    );
    check(
      `ssdFinalState G=${groups}`,
      (x, dt, a, bm, cm, d, init) => ssdFinalState(x, dt, a, bm, cm, d, opts(init)),
      inp,
    );
  });
}

Deno.test("ssm gradcheck: ssdScan without initial state", () => {
  const inp = scanInputs(3, 1).slice(0, 6);
  check("ssdScan", (x, dt, a, bm, cm, d) => ssdScan(x, dt, a, bm, cm, d), inp);
});

Deno.test("ssm gradcheck: conv1dCausal (T < K and T > K)", () => {
  for (const t of [2, 7]) {
    const rng = new Rng(20 + t);
    check(`conv1dCausal T=${t}`, conv1dCausal, [
      rand(rng, [2, t, 3]),
      rand(rng, [3, 1, 4]),
      rand(rng, [3]),
    ]);
  }
});

Deno.test("ssm gradcheck: flipAxis1, mulRowVector, sliceLastAxis", () => {
  const rng = new Rng(30);
  check("flipAxis1", flipAxis1, [rand(rng, [2, 5, 3])]);
  check("mulRowVector", mulRowVector, [rand(rng, [2, 3, 4]), rand(rng, [4])]);
  check("sliceLastAxis", (x) => sliceLastAxis(x, 2, 3), [rand(rng, [2, 3, 7])]);
});

/** Mamba-2's gated RMSNorm composed from single ops (what the fused op replaced). */
function gatedComposed(y: Tensor, z: Tensor, w: Tensor, groups: number): Tensor {
  const v = mul(y, silu(z));
  if (groups === 1) return rmsnorm(v, 1e-5, w);
  const c = v.shape[v.rank - 1];
  const n = rmsnorm(reshape(v, [...v.shape.slice(0, -1), groups, c / groups]), 1e-5);
  return mulRowVector(reshape(n, v.shape), w);
}

Deno.test("ssm gradcheck: gatedRmsnorm with 1, 2 and 4 groups; forward = the composition", () => {
  for (const groups of [1, 2, 4]) {
    const rng = new Rng(40 + groups);
    const inp = [rand(rng, [2, 3, 8]), rand(rng, [2, 3, 8], (v) => 2 * v), rand(rng, [8])];
    check(`gatedRmsnorm groups=${groups}`, (y, z, w) => gatedRmsnorm(y, z, w, groups), inp);
    const got = gatedRmsnorm(inp[0], inp[1], inp[2], groups).toList();
    const want = gatedComposed(inp[0], inp[1], inp[2], groups).toList();
    assertClose(Float64Array.from(got), Float64Array.from(want), { atol: 1e-14, rtol: 1e-13 });
  }
  const y = rand(new Rng(1), [2, 6]);
  assert.throws(() => gatedRmsnorm(y, y, rand(new Rng(2), [6]), 4), /groups must divide/);
  assert.throws(() => gatedRmsnorm(y, y, rand(new Rng(2), [5]), 1), /weight must be/);
});

cpuTest(
  "fused ops bitwise the compositions they replaced: gatedRmsnorm (1 group), conv+silu",
  (be) => {
    const rng = new Rng(45);
    const [b, l, c, k] = [3, 37, 96, 4];
    const data = (n: number, std: number) =>
      Float32Array.from({ length: n }, () => Math.fround(std * rng.normal()));
    const s3 = [b, l, c];
    const gated = [data(b * l * c, 1), data(b * l * c, 3), data(c, 1)];
    assertSameBits(
      outputAndGrads(be, (y, z, w) => gatedRmsnorm(y, z, w, 1), gated, [s3, s3, [c]]),
      outputAndGrads(be, (y, z, w) => gatedComposed(y, z, w, 1), gated, [s3, s3, [c]]),
      ["out", "dy", "dz", "dweight"],
    );
    const conv = [data(b * l * c, 2), data(c * k, 0.5), data(c, 0.5)];
    const shapes = [s3, [c, 1, k], [c]];
    assertSameBits(
      outputAndGrads(be, conv1dCausalSilu, conv, shapes),
      outputAndGrads(be, (x, w, bias) => silu(conv1dCausal(x, w, bias)), conv, shapes),
      ["out", "dx", "dw", "dbias"],
    );
  },
);

Deno.test("ssm gradcheck: conv1dCausalSilu", () => {
  const rng = new Rng(46);
  check("conv1dCausalSilu", conv1dCausalSilu, [
    rand(rng, [2, 6, 3]),
    rand(rng, [3, 1, 4]),
    rand(rng, [3]),
  ]);
});

Deno.test("ssm ops: conv taps, flip and slice values; shape errors", () => {
  const x = tensor(ref, [1, 2, 3], [1, 3, 1]);
  const y = conv1dCausal(x, tensor(ref, [0.5, 1], [1, 1, 2]), tensor(ref, [0.25], [1]));
  assert.deepEqual(y.toList(), [1.25, 2.75, 4.25]); // tap K−1 = current token
  assert.deepEqual(flipAxis1(tensor(ref, [1, 2, 3, 4, 5, 6], [1, 3, 2])).toList(), [
    5,
    6,
    3,
    4,
    1,
    2,
  ]);
  assert.deepEqual(sliceLastAxis(tensor(ref, [1, 2, 3, 4, 5, 6], [2, 3]), 1, 2).toList(), [
    2,
    3,
    5,
    6,
  ]);
  const inp = scanInputs(1, 2);
  assert.throws(
    () => ssdScan(inp[0], inp[1], inp[2], inp[3], inp[4], inp[5], { chunk: 0 }),
    RangeError,
  );
  assert.throws(() => ssdScan(inp[0], inp[1], inp[2], inp[3], inp[0], inp[5]), /Cm must be/);
  assert.throws(() => ssdScan(inp[0], inp[0], inp[2], inp[3], inp[4], inp[5]), /dt must be/);
});

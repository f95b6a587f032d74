/**
 * The kernel lab's tensor-core CUDA attention (attention_tc.cu, labBackend("attention-tc")) WITHOUT
 * a GPU: the lab library's
 * host entry points `trm_cuda_attention_tc_host` / `_host_backward` run the very block programs
 * the GPU runs (attention_tc.cuh), each block's threads one after another with barrier semantics,
 * on host arrays. Checked against the cpu backend's attention / attentionBackward (or, without
 * the native library, the float64 ref backend) on seeded N(0, 1) inputs, q, k, v as slices of a
 * fused qkv row (ld = 3·H·D, or more: gaps that must stay untouched), at awkward shapes: L = 1,
 * 37, 64, 97, 130, 916 (ragged last tiles of 64), headDim 16, 32, 64, 128, heads 1–3.
 *
 * Each case runs with 256 threads per block (the device's count) in order and in reverse order,
 * and with 37 threads (two "warps", one of 5 lanes): all results must be BITWISE equal — a step
 * whose result depends on its threads' order or count has a race, and the arithmetic of every
 * element is fixed by the programs, not by the partition.
 *
 * Two arithmetic modes of the host's tile products:
 * - f32 (exact products, f32 sums): checks the tiling, masking, online softmax and backward
 *   algebra tightly — f32 tolerances as engine/backends/kernels_test.ts's attention cases:
 *   atol 2e-5, rtol 1e-4 (L = 916: atol 5e-5, rtol 1e-3), relative to the output's scale
 *   (max |oracle|, ≥ 1);
 * - tf32 (operands rounded as cvt.rna.tf32.f32 does on the device, f32 sums): the numbers the GPU
 *   should give up to f32 summation order, checked with the tf32 tolerances `TF32_TOL` of lab.ts,
 *   which lab_test.ts's tc attention test uses on the GPU.
 * What this cannot show: the wmma calls (fragment layouts, ldm and alignment rules, the tf32
 * conversion), shared-memory limits and the launch configuration — device-only; the GPU test in
 * lab_test.ts (`[attention-tc]`) and dev/gpu/attn_bench.ts cover them.
 */
import assert from "node:assert/strict";
import { Rng } from "../../engine/rng.ts";
import { assertClose, randomArray } from "../../engine/testing.ts";
import {
  bitsEqual,
  hostOracle,
  hostSimTest,
  maxDiff,
  openCudaLibrary,
} from "../../engine/backends/cuda/testing.ts";
import { buildLab, TF32_TOL, TF32_U } from "./lab.ts";

const I64 = "i64" as const, F32 = "f32" as const, BUF = "buffer" as const;
const SYMBOLS = {
  trm_cuda_attention_tc_host: {
    parameters: [I64, I64, I64, I64, F32, BUF, BUF, BUF, I64, BUF, BUF, I64, I64, I64],
    result: "i32",
  },
  trm_cuda_attention_tc_host_backward: {
    parameters: [I64, I64, I64, I64, F32, ...Array(3).fill(BUF), I64, ...Array(6).fill(BUF)]
      .concat([I64, I64, I64]),
    result: "i32",
  },
  trm_cuda_attention_tc_smem: { parameters: [I64, I64], result: I64 },
} as const;

const lib = openCudaLibrary(SYMBOLS, "attention_tc_test", () => buildLab());
const { oracle, oracleName } = hostOracle();

interface Shape {
  B: number;
  L: number;
  H: number;
  D: number;
  gap: number; // ld = 3·H·D + gap
}
interface Outs {
  out: Float32Array;
  lse: Float32Array;
  dqkv: Float32Array;
}
interface Inputs {
  qkv: Float32Array;
  dout: Float32Array;
  dqkv0: Float32Array; // initial dqkv: the gaps must keep it
}

const ld = (s: Shape) => 3 * s.H * s.D + s.gap;
const scaleOf = (s: Shape) => 1 / Math.sqrt(s.D);

function inputs(s: Shape): Inputs {
  const rng = new Rng(20261201).fork(`attention tc ${JSON.stringify(s)}`);
  const n = s.B * s.L * ld(s);
  return {
    qkv: randomArray(rng, n, { std: 1 }),
    dout: randomArray(rng, s.B * s.L * s.H * s.D, { std: 1 }),
    dqkv0: randomArray(rng, n, { std: 1 }),
  };
}

/** Forward + backward through the host simulation of the block programs. */
function hostRun(s: Shape, inp: Inputs, nt: number, rev: boolean, tf32: boolean): Outs {
  const hd = s.H * s.D;
  const o: Outs = {
    out: new Float32Array(s.B * s.L * hd).fill(NaN),
    lse: new Float32Array(s.B * s.H * s.L).fill(NaN),
    dqkv: inp.dqkv0.slice(),
  };
  const dims = [s.B, s.L, s.H, s.D].map(BigInt) as [bigint, bigint, bigint, bigint];
  const q = inp.qkv, k = q.subarray(hd), v = q.subarray(2 * hd), LD = BigInt(ld(s));
  const tail = [BigInt(nt), rev ? 1n : 0n, tf32 ? 1n : 0n] as const;
  const L = lib!.symbols;
  const r1 = L.trm_cuda_attention_tc_host(...dims, scaleOf(s), q, k, v, LD, o.out, o.lse, ...tail);
  assert.equal(r1, 0, "host forward returned an error");
  const d = o.dqkv;
  const r2 = L.trm_cuda_attention_tc_host_backward(
    ...[...dims, scaleOf(s), q, k, v, LD, o.out, o.lse, inp.dout] as const,
    ...[d, d.subarray(hd), d.subarray(2 * hd), ...tail] as const,
  );
  assert.equal(r2, 0, "host backward returned an error");
  return o;
}

/** The same through the oracle backend. */
function oracleRun(s: Shape, inp: Inputs): Outs {
  const be = oracle, hd = s.H * s.D, span = (s.B * s.L - 1) * ld(s) + hd;
  const put = (a: Float32Array) => {
    const b = be.alloc("f32", a.length);
    be.upload(b, a);
    return b;
  };
  const qkv = put(inp.qkv), dout = put(inp.dout), dqkv = put(inp.dqkv0);
  const out = be.alloc("f32", s.B * s.L * hd), lse = be.alloc("f32", s.B * s.H * s.L);
  const part = (b: typeof qkv, i: number) => be.view(b, i * hd, span);
  const [q, k, v] = [0, 1, 2].map((i) => part(qkv, i));
  be.attention(s.B, s.L, s.H, s.D, scaleOf(s), q, k, v, ld(s), out, lse);
  be.attentionBackward(
    ...[s.B, s.L, s.H, s.D, scaleOf(s), q, k, v, ld(s), out, lse, dout] as const,
    ...[part(dqkv, 0), part(dqkv, 1), part(dqkv, 2)] as const,
  );
  const get = (b: typeof qkv) => Float32Array.from(be.download(b));
  const r = { out: get(out), lse: get(lse), dqkv: get(dqkv) };
  for (const b of [qkv, dout, dqkv, out, lse]) be.free(b);
  return r;
}

/**
 * Runs one shape: f32 host mode in order, reversed and with 37 threads (bitwise equal), checked
 * with f32 tolerances; tf32 host mode checked with TF32_TOL. Logs max |Δ| per output (tf32: in
 * units of u, relative to the tolerance's scale).
 */
function check(s: Shape) {
  const inp = inputs(s);
  const want = oracleRun(s, inp);
  const fwd = hostRun(s, inp, 256, false, false), tf = hostRun(s, inp, 256, false, true);
  const others = [
    ["reverse thread order", hostRun(s, inp, 256, true, false)],
    ["37 threads", hostRun(s, inp, 37, true, false)],
  ] as const;
  const f32Tol = s.L > 500 ? { atol: 5e-5, rtol: 1e-3 } : { atol: 2e-5, rtol: 1e-4 };
  const report: string[] = [];
  for (const key of ["out", "lse", "dqkv"] as const) {
    const msg = `${JSON.stringify(s)} ${key}`;
    for (const [label, r] of others) assert.ok(bitsEqual(fwd[key], r[key]), `${msg}: ${label}`);
    const [d32, scale] = maxDiff(fwd[key], want[key]), [dtf] = maxDiff(tf[key], want[key]);
    const sc = Math.max(1, scale);
    assertClose(fwd[key], want[key], { atol: f32Tol.atol * sc, rtol: f32Tol.rtol, msg });
    const grad = key === "dqkv", t = TF32_TOL[grad ? "grad" : key], tsc = grad ? scale : 1;
    assertClose(tf[key], want[key], { atol: t.atol * tsc, rtol: t.rtol, msg: `${msg} tf32` });
    report.push(
      `${key} ${d32.toExponential(1)} / ${(dtf / tsc / TF32_U).toFixed(2)}u` +
        (grad ? `·${scale.toPrecision(3)}` : ""),
    );
  }
  console.log(`  ${JSON.stringify(s)}: max |tc − ${oracleName}| f32 / tf32: ${report.join(", ")}`);
}

const test = hostSimTest("cuda tc attention", lib, oracleName);

test("ragged seq (1, 37, 64, 97, 130), headDim 16 / 32 / 64, 1–3 heads, fused qkv with gaps", () => {
  check({ B: 1, L: 1, H: 1, D: 16, gap: 0 });
  check({ B: 2, L: 37, H: 3, D: 16, gap: 5 });
  check({ B: 1, L: 64, H: 2, D: 32, gap: 0 });
  check({ B: 2, L: 97, H: 2, D: 64, gap: 0 }); // Sudoku: 81 + 16
  check({ B: 1, L: 130, H: 3, D: 32, gap: 7 });
  check({ B: 1, L: 65, H: 1, D: 64, gap: 3 });
});

test("headDim 128 (forward only on an H200: the dK/dV block exceeds shared memory)", () => {
  check({ B: 1, L: 70, H: 1, D: 128, gap: 0 });
});

test("ARC paper length: L = 916 (900 + 16), headDim 64, 2 heads", () => {
  check({ B: 1, L: 916, H: 2, D: 64, gap: 0 });
});

test("shapes the tc kernels do not take are refused (the device falls back to attention.cu)", () => {
  const L = lib!.symbols, a = new Float32Array(3 * 20 * 4), o = new Float32Array(64);
  const call = (D: number, nt: number) =>
    L.trm_cuda_attention_tc_host(
      1n,
      1n,
      1n,
      BigInt(D),
      1,
      a,
      a,
      a,
      BigInt(3 * D),
      o,
      o,
      BigInt(nt),
      0n,
      0n,
    );
  assert.equal(call(20, 256), 1, "headDim 20 is not a multiple of 16");
  assert.equal(call(144, 256), 1, "headDim above 128");
  assert.equal(call(16, 0), 1, "no threads");
  assert.equal(call(16, 256), 0);
  const smem = [0, 1, 2].map((w) => Number(L.trm_cuda_attention_tc_smem(64n, BigInt(w))));
  console.log(
    `  shared memory per block at headDim 64: fwd ${smem[0]}, dQ ${smem[1]}, dK/dV ${smem[2]} B`,
  );
  assert.ok(smem.every((b) => b <= 227 * 1024), "each block fits an H100/H200 (227 KB opt-in)");
});

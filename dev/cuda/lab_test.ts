/**
 * The kernel lab (dev/cuda/README.md).
 *
 * Here (any machine): the mainline holds one kernel per op — its build compiles no lab file, no
 * engine source reads the old variant switches (TRM_CUDA_ATTN, TRM_CUDA_SSD) or names a variant's
 * symbols, `createCudaBackend` has no `attention` / `ssd` option (checked by the type checker),
 * the mainline library exports no variant symbol — and the lab library (mainline sources plus
 * dev/cuda/'s) exports the mainline symbols and every variant's, so `labBackend` gets as far as
 * the device (without one: "no CUDA driver").
 *
 * With a GPU: each variant inside the real cuda backend (`labBackend`) against the host oracle
 * (the cpu backend, or the float64 ref backend without the native library) on the cases of
 * engine/backends/cuda/testing.ts, and at the paper shape against the mainline cuda backend
 * (the kernel it would replace); bitwise equal run to run. Ignored, with a warning saying why,
 * without a GPU. A device fault in a variant leaves a sticky CUDA error that fails every later
 * test of the process: dev/gpu/check.sh runs each variant in a process of its own
 * (`--filter "[<variant>]"`).
 *
 * Tolerances: the f32 ones of engine/backends/kernels_test.ts (SSD: rtol 1e-3, atol 1e-4·√(batch·seq·headDim));
 * the tf32 variants the ones of lab.ts, derived there from u = 2⁻¹¹ — attention TF32_TOL (atol 8u,
 * rtol 4u; out and lse absolute, gradients relative to their largest magnitude), chunked-tc SSD
 * SSD_TF32_TOL (atol 16u × max |oracle| per output, rtol 4u) — measured by the host simulations
 * (attention_tc_test.ts, ssd_chunked_test.ts) at ≤ 2u and ≤ 3.2u × max. Each tf32 variant must
 * also differ from the oracle by more than f32 rounding somewhere (proof its tensor cores ran).
 */
import assert from "node:assert/strict";
import type { Backend, Buf, SsdDims } from "../../engine/backend.ts";
import { NativeUnavailableError } from "../../engine/errors.ts";
import { buildCuda, cudaCompileSources, cudaSources } from "../../engine/backends/cuda/build.ts";
import { createCudaBackend, type CudaOptions } from "../../engine/backends/cuda/cuda.ts";
import {
  ATTN,
  ATTN_BACKWARD,
  SSD_SCAN,
  SSD_SCAN_BACKWARD,
  SYMBOLS,
} from "../../engine/backends/cuda/symbols.ts";
import {
  attentionCase,
  bits,
  hostOracle,
  normal,
  put,
  rngFor,
  ssdCase,
  ssdF32Tol,
  type Tol,
  type TolFor,
  uniform,
} from "../../engine/backends/cuda/testing.ts";
import {
  buildLab,
  LAB_DIR,
  LAB_VARIANT_NAMES,
  LAB_VARIANTS,
  labBackend,
  type LabVariant,
  SSD_TF32_TOL,
  TF32_TOL,
} from "./lab.ts";

const ENGINE = new URL("../../engine/", import.meta.url);
const MAINLINE_DIR = new URL("backends/cuda/", ENGINE);

// ------------------------------------------------------------------------------------ mainline

Deno.test("lab: the mainline build compiles no lab file; the lab build compiles both sets", () => {
  const lab = cudaSources(LAB_DIR), mainline = cudaSources();
  for (const f of ["attention_tc.cu", "attention_tc.cuh", "ssd_chunked.cu", "ssd_chunk.cuh"]) {
    assert.ok(lab.includes(f), `dev/cuda/${f} is a lab file`);
  }
  for (const f of lab) assert.ok(!mainline.includes(f), `${f} must not be in the mainline`);
  for (const f of ["attention.cu", "ssd.cu", "norm_fused.cu", "block_prog.cuh", "trm_cuda.cuh"]) {
    assert.ok(mainline.includes(f), `${f} stays in the mainline`);
  }
  const compiled = cudaCompileSources();
  assert.ok(compiled.length > 0);
  for (const p of compiled) {
    assert.ok(p.startsWith(MAINLINE_DIR.pathname), `mainline build compiles ${p}`);
  }
  const labCompiled = cudaCompileSources(LAB_DIR);
  assert.deepEqual(labCompiled.slice(0, compiled.length), compiled);
  assert.deepEqual(
    labCompiled.slice(compiled.length),
    lab.filter((f) => f.endsWith(".cu")).map((f) => new URL(f, LAB_DIR).pathname),
  );
  assert.throws(() => buildCuda({ extraSourceDir: LAB_DIR }), /needs a name of its own/);
  assert.throws(() => buildCuda({ extraSourceDir: LAB_DIR, name: "trm_cuda" }), RangeError);
});

/** The files of `dir` (recursively) whose names end with one of `exts`. */
function walk(dir: URL, exts: string[], out: URL[] = []): URL[] {
  for (const e of Deno.readDirSync(dir)) {
    if (e.isDirectory && e.name !== "build") walk(new URL(`${e.name}/`, dir), exts, out);
    else if (e.isFile && exts.some((x) => e.name.endsWith(x))) out.push(new URL(e.name, dir));
  }
  return out;
}

Deno.test("lab: engine/ reads no variant switch, names no variant symbol, includes no lab file", () => {
  const symbols = LAB_VARIANT_NAMES.flatMap((v) => [LAB_VARIANTS[v].forward]);
  const forbidden = [
    /TRM_CUDA_(ATTN|SSD)\b/,
    new RegExp(`\\b(${symbols.join("|")})`),
    /#include\s+"(attention_tc|ssd_chunk)/,
  ];
  const files = walk(ENGINE, [".ts", ".cu", ".cuh", ".c", ".h"]);
  assert.ok(files.length > 20, `engine/ sources found: ${files.length}`);
  for (const f of files) {
    const text = Deno.readTextFileSync(f);
    for (const re of forbidden) {
      const m = re.exec(text);
      assert.equal(m, null, `${f.pathname.slice(ENGINE.pathname.length)}: ${m?.[0]}`);
    }
  }
  // type level (deno test type-checks this file): the variant options are gone
  type Leftover = Extract<keyof CudaOptions, "attention" | "ssd">;
  const gone: [Leftover] extends [never] ? true : false = true;
  assert.equal(gone, true);
  const _wouldNotCompile = () => {
    // @ts-expect-error: no attention option (the lab's `lab` option replaces it)
    createCudaBackend({ attention: "tc" });
    // @ts-expect-error: no ssd option
    createCudaBackend({ ssd: "chunked" });
  };
});

// ------------------------------------------------------------------------------------ libraries

let nvccMissing = false;
try {
  buildCuda();
  buildLab();
} catch (e) {
  if (!(e instanceof NativeUnavailableError) || !/no nvcc found/.test(e.reason)) throw e;
  nvccMissing = true;
  console.warn(`lab_test: library tests SKIPPED: ${e.message}`);
}

/** Each variant's entry points, bound to the mainline kernels' signatures. */
function variantSymbols() {
  const out: Record<string, Deno.ForeignFunction> = {};
  for (const v of LAB_VARIANT_NAMES) {
    const { op, forward, backward } = LAB_VARIANTS[v];
    out[forward] = op === "attention" ? ATTN : SSD_SCAN;
    out[backward] = op === "attention" ? ATTN_BACKWARD : SSD_SCAN_BACKWARD;
  }
  return out;
}

Deno.test({
  name: "lab: the lab library exports the mainline symbols and the variants'; the mainline none",
  ignore: nvccMissing,
  fn() {
    const labPath = buildLab().path, mainPath = buildCuda().path;
    assert.match(labPath, /\/libtrm_cuda_lab-[0-9a-f]{16}\.so$/);
    assert.match(mainPath, /\/libtrm_cuda-[0-9a-f]{16}\.so$/);
    Deno.dlopen(labPath, { ...SYMBOLS, ...variantSymbols() }).close();
    for (const [name, sig] of Object.entries(variantSymbols())) {
      assert.throws(() => Deno.dlopen(mainPath, { [name]: sig }), `${name} in the mainline`);
    }
  },
});

// ------------------------------------------------------------------------------------ device

const { oracle, oracleName } = hostOracle();
const lab: Partial<Record<LabVariant, Backend>> = {};
let cuda: Backend | null = null;
let whyNot = "";
if (!nvccMissing) {
  try {
    cuda = createCudaBackend();
    for (const v of LAB_VARIANT_NAMES) lab[v] = labBackend(v);
  } catch (e) {
    if (!(e instanceof NativeUnavailableError)) throw e;
    cuda = null;
    whyNot = e.message;
    console.warn(`lab_test: GPU tests of the lab variants SKIPPED (no GPU here): ${e.message}`);
  }
}

Deno.test({
  name: "lab: labBackend gets to the device (lab library and symbols load); labels in info",
  ignore: nvccMissing,
  fn() {
    for (const v of LAB_VARIANT_NAMES) {
      const be = lab[v];
      if (!be) {
        // the library loaded with the variant's symbols: the failure is the device's
        assert.throws(
          () => labBackend(v),
          (e: Error) =>
            e instanceof NativeUnavailableError &&
            /cuda backend unavailable: no CUDA (driver: cudaGetDeviceCount → |device)/.test(
              e.message,
            ),
        );
        continue;
      }
      const { op, label } = LAB_VARIANTS[v];
      assert.equal(be.info[op], label);
      assert.match(String(be.info.lab), /libtrm_cuda_lab-[0-9a-f]{16}\.so$/);
      assert.equal(
        be.info[op === "ssd" ? "attention" : "ssd"],
        cuda!.info[op === "ssd" ? "attention" : "ssd"],
      );
    }
    assert.throws(() => labBackend("x" as LabVariant), /unknown variant x/);
    assert.throws(
      () => createCudaBackend({ lab: { library: "/nonexistent/lib.so" } }),
      /names no variant/,
    );
    if (!cuda) assert.match(whyNot, /no CUDA/);
  },
});

/** Registers the GPU test of `variant` (ignored without a GPU). */
function gpuTest(variant: LabVariant, what: string, fn: (be: Backend) => void) {
  Deno.test({
    name: `lab [${variant}] vs ${oracleName}: ${what}`,
    ignore: !lab[variant],
    fn: () => fn(lab[variant]!),
  });
}

/** SSD_TF32_TOL for an output whose oracle values are `want` (atol × max |want|), at least `f32`. */
function tcTol(want: number[], f32: { atol: number; rtol: number }): Tol {
  const m = want.reduce((a, x) => Math.max(a, Math.abs(x)), 0);
  return {
    atol: Math.max(f32.atol, SSD_TF32_TOL.atol * m),
    rtol: Math.max(f32.rtol, SSD_TF32_TOL.rtol),
  };
}

/** The chunked SSD variants: the mainline SSD shapes, chunk 256, the Δ·A stress, reruns. */
function chunkedSsd(variant: "ssd-chunked" | "ssd-chunked-tc") {
  const tc = variant === "ssd-chunked-tc";
  const tolOf = (d: SsdDims): TolFor => {
    const f32 = ssdF32Tol(d);
    return tc ? (_o, want) => tcTol(want, f32) : f32;
  };
  gpuTest(
    variant,
    "shapes of kernels_test.ts, chunk 256, Δ·A stress, vs mainline, bitwise reruns",
    (be) => {
      assert.match(String(be.info.ssd), new RegExp(`^lab ${variant}:`));
      const run = (d: SsdDims, withState: boolean, stress = false, ref = oracle) =>
        ssdCase(be, ref, d, withState, { stress, tol: tolOf(d) });
      const base = { batch: 2, seq: 37, heads: 4, headDim: 8, groups: 2, dState: 5, chunk: 16 };
      run(base, true);
      run(base, false);
      run({ batch: 1, seq: 1, heads: 1, headDim: 1, groups: 1, dState: 1, chunk: 1 }, true);
      run({ batch: 2, seq: 130, heads: 2, headDim: 64, groups: 1, dState: 128, chunk: 64 }, true);
      run({ batch: 3, seq: 33, heads: 6, headDim: 40, groups: 3, dState: 16, chunk: 64 }, true);
      run({ batch: 2, seq: 45, heads: 4, headDim: 16, groups: 1, dState: 16, chunk: 64 }, true);
      const paper = {
        batch: 2,
        seq: 300,
        heads: 4,
        headDim: 64,
        groups: 1,
        dState: 128,
        chunk: 256,
      };
      const dPaper = run(paper, true);
      if (tc) {
        // f32 kernels: ≤ 3e-4 here (host simulation, max |oracle| ≈ 700); tf32 products: ≈ u·700
        assert.ok(
          dPaper > 1e-2,
          `max |Δ| ${dPaper} at the paper shape: are the tensor cores in use?`,
        );
      }
      run({ ...paper, seq: 270, groups: 2 }, true, true);
      // against the mainline kernel it would replace (the seq kernels of the cuda backend)
      run(paper, true, false, cuda!);
      // determinism: the chunked backward reduces dA, dD, dB, dC in a fixed order
      const d = paper, rng = rngFor("ssd chunked det");
      const nx = d.batch * d.seq * d.heads * d.headDim, ndt = d.batch * d.seq * d.heads;
      const nbc = d.batch * d.seq * d.groups * d.dState;
      const x = put(be, normal(rng, nx)), dy = put(be, normal(rng, nx));
      const dt = put(be, uniform(rng, ndt, 0.01, 0.5)),
        A = put(be, uniform(rng, d.heads, -4, -0.5));
      const Bm = put(be, normal(rng, nbc)), Cm = put(be, normal(rng, nbc));
      const D = put(be, normal(rng, d.heads));
      const runs = [0, 1].map(() => {
        const o = [nx, nx, ndt, d.heads, nbc, nbc, d.heads].map((n) => be.alloc("f32", n));
        be.ssdScan(d, x, dt, A, Bm, Cm, D, null, o[0], null);
        be.ssdScanBackward(
          ...[d, x, dt, A, Bm, Cm, D, null, dy, null] as const,
          ...[o[1], o[2], o[3], o[4], o[5], o[6], null] as const,
        );
        return o.map((b) => bits(be, b));
      });
      runs[0].forEach((b, j) => assert.deepEqual(b, runs[1][j], `${variant} output ${j} differs`));
    },
  );
}

// ssd first, attention last: the order the device tests ran in before the lab
chunkedSsd("ssd-chunked");
chunkedSsd("ssd-chunked-tc");

/** TF32_TOL per output: out and lse absolute, the gradients times their largest magnitude. */
function tf32Tol(o: string, want: number[]): Tol {
  if (o !== "dqkv") return TF32_TOL[o as "out" | "lse"];
  const m = want.reduce((a, x) => Math.max(a, Math.abs(x)), 0);
  return { atol: TF32_TOL.grad.atol * m, rtol: TF32_TOL.grad.rtol };
}

gpuTest("attention-tc", "odd shapes, L = 916, fallbacks, vs mainline, reruns", (be) => {
  assert.match(String(be.info.attention), /^lab attention-tc:/);
  const shapes = [[1, 1, 1, 16], [2, 37, 3, 16], [3, 65, 1, 64], [2, 130, 2, 32], [2, 916, 8, 64]];
  for (const s of shapes) attentionCase(be, oracle, s, tf32Tol);
  // headDim 80 (not a multiple of 16: simt), 128 (forward tc, backward simt: shared memory)
  attentionCase(be, oracle, [1, 9, 2, 80], tf32Tol);
  attentionCase(be, oracle, [1, 70, 1, 128], tf32Tol);
  const d = attentionCase(be, oracle, [1, 97, 2, 64], tf32Tol);
  assert.ok(d > 2e-5, `max |Δ| ${d} at L=97, D=64: are the tf32 tensor-core kernels in effect?`);
  // against the mainline kernel it would replace (the simt kernels of the cuda backend)
  attentionCase(be, cuda!, [2, 916, 8, 64], tf32Tol);
  // bitwise equal run to run (no atomics)
  const [B, L, H, D] = [2, 130, 3, 64], rng = rngFor("tc det");
  const ld = 3 * H * D, span = (B * L - 1) * ld + H * D;
  const qkv = put(be, normal(rng, B * L * ld)), dout = put(be, normal(rng, B * L * H * D));
  const part = (buf: Buf, i: number) => be.view(buf, i * H * D, span);
  const runs = [0, 1].map(() => {
    const out = be.alloc("f32", B * L * H * D), lse = be.alloc("f32", B * H * L);
    const dqkv = be.alloc("f32", B * L * ld);
    be.attention(B, L, H, D, 0.125, part(qkv, 0), part(qkv, 1), part(qkv, 2), ld, out, lse);
    be.attentionBackward(
      ...[B, L, H, D, 0.125, part(qkv, 0), part(qkv, 1), part(qkv, 2), ld, out, lse] as const,
      ...[dout, part(dqkv, 0), part(dqkv, 1), part(dqkv, 2)] as const,
    );
    return [out, lse, dqkv].map((b) => bits(be, b));
  });
  runs[0].forEach((b, j) => assert.deepEqual(b, runs[1][j], `tc attention output ${j} differs`));
});

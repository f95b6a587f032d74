/**
 * The backends' family modules against the kernel table (engine/kernels.ts): the table's families
 * cover every kernel once, in table order; for ref, cpu and cuda each family module
 * (`<backend>/<family>.ts`) returns exactly the table's kernels of that family; and each assembled
 * backend implements every kernel once (cpu when its native library builds, cuda when a GPU is
 * present; each loudly skipped otherwise). A family module only makes closures over its context,
 * so the cpu and cuda modules are read with a stand-in context on every machine.
 */
import assert from "node:assert/strict";
import type { Backend } from "../backend.ts";
import { NativeUnavailableError } from "../errors.ts";
import {
  familyKernels,
  type FamilyMethods,
  KERNEL_FAMILIES,
  KERNEL_NAMES,
  type KernelFamily,
  KERNELS,
} from "../kernels.ts";
import { refAttention } from "./ref/attention.ts";
import { refBuffers } from "./ref/buffers.ts";
import { refElementwise } from "./ref/elementwise.ts";
import { refEmbedding } from "./ref/embedding.ts";
import { refGemm } from "./ref/gemm.ts";
import { refLoss } from "./ref/loss.ts";
import { refNorm } from "./ref/norm.ts";
import { refOptim } from "./ref/optim.ts";
import { refSsm } from "./ref/ssm.ts";
import { createRefBackend, type RefContext } from "./ref/mod.ts";
import { cpuAttention } from "./cpu/attention.ts";
import { cpuBuffers } from "./cpu/buffers.ts";
import { cpuElementwise } from "./cpu/elementwise.ts";
import { cpuEmbedding } from "./cpu/embedding.ts";
import { cpuGemm } from "./cpu/gemm.ts";
import { cpuLoss } from "./cpu/loss.ts";
import { cpuNorm } from "./cpu/norm.ts";
import { cpuOptim } from "./cpu/optim.ts";
import { cpuSsm } from "./cpu/ssm.ts";
import { type CpuContext, createCpuBackend } from "./cpu/mod.ts";
import { cudaAttention } from "./cuda/attention.ts";
import { cudaBuffers } from "./cuda/buffers.ts";
import { cudaElementwise } from "./cuda/elementwise.ts";
import { cudaEmbedding } from "./cuda/embedding.ts";
import { cudaGemm } from "./cuda/gemm.ts";
import { cudaLoss } from "./cuda/loss.ts";
import { cudaNorm } from "./cuda/norm.ts";
import { cudaOptim } from "./cuda/optim.ts";
import { cudaSsm } from "./cuda/ssm.ts";
import { createCudaBackend, type CudaContext } from "./cuda/cuda.ts";

/** A backend's family modules by family (the type ties each module to its family's kernels). */
type FamilyModules<C> = { [F in KernelFamily]: (ctx: C) => FamilyMethods<F> };

const REF: FamilyModules<RefContext> = {
  buffers: refBuffers,
  gemm: refGemm,
  elementwise: refElementwise,
  norm: refNorm,
  embedding: refEmbedding,
  attention: refAttention,
  loss: refLoss,
  optim: refOptim,
  ssm: refSsm,
};
const CPU: FamilyModules<CpuContext> = {
  buffers: cpuBuffers,
  gemm: cpuGemm,
  elementwise: cpuElementwise,
  norm: cpuNorm,
  embedding: cpuEmbedding,
  attention: cpuAttention,
  loss: cpuLoss,
  optim: cpuOptim,
  ssm: cpuSsm,
};
const CUDA: FamilyModules<CudaContext> = {
  buffers: cudaBuffers,
  gemm: cudaGemm,
  elementwise: cudaElementwise,
  norm: cudaNorm,
  embedding: cudaEmbedding,
  attention: cudaAttention,
  loss: cudaLoss,
  optim: cudaOptim,
  ssm: cudaSsm,
};

/** Each backend: its family modules, a context to call them with, its entry module and prefix. */
const BACKENDS: [string, FamilyModules<never>, unknown, string, string][] = [
  ["ref", REF, { precision: "f64", Arr: Float64Array } satisfies RefContext, "ref/mod.ts", "ref"],
  // stand-ins: the modules only close over them (nothing is called until a kernel runs)
  ["cpu", CPU, {}, "cpu/mod.ts", "cpu"],
  ["cuda", CUDA, {}, "cuda/cuda.ts", "cuda"],
];

const BUFFER_OPS = ["alloc", "free", "view", "upload", "download", "sync"];
const capital = (s: string) => s[0].toUpperCase() + s.slice(1);

Deno.test("kernel families: every kernel in one family, families contiguous in table order", () => {
  for (const k of KERNEL_NAMES) {
    assert.ok(KERNEL_FAMILIES.includes(KERNELS[k].family), `${k}: ${KERNELS[k].family}`);
  }
  for (const f of KERNEL_FAMILIES) assert.ok(familyKernels(f).length > 0, `${f} is empty`);
  assert.deepEqual(KERNEL_FAMILIES.flatMap((f) => familyKernels(f)), KERNEL_NAMES);
  assert.deepEqual(familyKernels("buffers"), ["copy", "copy2d", "fill"]);
  assert.deepEqual(familyKernels("optim"), ["adamAtan2", "signSgdRows", "ema"]);
});

for (const [name, modules, ctx] of BACKENDS) {
  Deno.test(`${name}: each family module returns exactly the table's kernels of its family`, () => {
    for (const f of KERNEL_FAMILIES) {
      const methods: Record<string, unknown> = modules[f](ctx as never);
      assert.deepEqual(Object.keys(methods).sort(), familyKernels(f).sort(), `${name}/${f}.ts`);
      for (const [k, v] of Object.entries(methods)) {
        assert.equal(typeof v, "function", `${name}/${f}.ts: ${k}`);
      }
    }
  });
}

Deno.test("entry modules: every family module assembled once, nothing else spread in", () => {
  for (const [name, , , entry, prefix] of BACKENDS) {
    const text = Deno.readTextFileSync(new URL(entry, import.meta.url));
    const spreads = [...text.matchAll(/^\s*\.\.\.(\w+)\(ctx\),$/gm)].map((m) => m[1]);
    assert.deepEqual(spreads, KERNEL_FAMILIES.map((f) => prefix + capital(f)), `${name}: ${entry}`);
  }
});

/** Checks `be` has the contract's members: every kernel once, the buffer methods, nothing more. */
function assertAssembled(what: string, be: Backend) {
  const keys = Object.keys(be);
  assert.deepEqual(
    [...keys].sort(),
    ["name", "info", ...BUFFER_OPS, ...KERNEL_NAMES].sort(),
    `${what}: members`,
  );
  for (const k of [...BUFFER_OPS, ...KERNEL_NAMES]) {
    assert.equal(typeof be[k as keyof Backend], "function", `${what}: ${k}`);
  }
  // one kernel through the assembly: sum of 1..4
  const x = be.alloc("f32", 4), out = be.alloc("f32", 1);
  be.upload(x, [1, 2, 3, 4]);
  be.sum(4, x, out);
  assert.equal(be.download(out)[0], 10, `${what}: sum`);
}

Deno.test("ref: the assembled backend implements every kernel once", () => {
  assertAssembled("ref", createRefBackend());
  assertAssembled("ref (f64)", createRefBackend({ precision: "f64" }));
});

/** The backend, or null with a warning when it cannot be made here. */
function orSkip(what: string, make: () => Backend): Backend | null {
  try {
    return make();
  } catch (e) {
    if (!(e instanceof NativeUnavailableError)) throw e;
    console.warn(`families_test: ${what} assembly test SKIPPED: ${e.message}`);
    return null;
  }
}

const cpu = orSkip("cpu", () => createCpuBackend({ blas: "own" }));
Deno.test({
  name: "cpu: the assembled backend implements every kernel once",
  ignore: cpu === null,
  fn: () => assertAssembled("cpu", cpu!),
});

const cuda = orSkip("cuda", () => createCudaBackend());
Deno.test({
  name: "cuda: the assembled backend implements every kernel once",
  ignore: cuda === null,
  fn: () => assertAssembled("cuda", cuda!),
});

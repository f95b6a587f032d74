/**
 * The kernel table against the contract it declares: every kernel method of backend.ts is in the
 * table with its parameters in the same order, every declared operand is a parameter, and every
 * backend available here refuses a bad call with the table's one message.
 */
import assert from "node:assert/strict";
import { createRefBackend } from "./backends/ref/mod.ts";
import { cpuOrSkip } from "./testing.ts";
import { checkKernelCall, KERNEL_NAMES, type KernelDecl, KERNELS } from "./kernels.ts";
import type { Backend } from "./backend.ts";

/** Method name → parameter names, read from the Backend interface's text. */
function contractMethods(): Map<string, string[]> {
  const text = Deno.readTextFileSync(new URL("./backend.ts", import.meta.url));
  const body = text.slice(text.indexOf("export interface Backend {"));
  const end = body.indexOf("\n}\n");
  const src = body.slice(0, end).replace(/\/\*\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
  const out = new Map<string, string[]>();
  for (const m of src.matchAll(/^\s{2}(\w+)\(([\s\S]*?)\):\s*[\w|]+;/gm)) {
    const params = m[2].split(",").map((p) => p.trim()).filter((p) => p)
      .map((p) => p.replace(/\?$/, "").split(/\??:/)[0].trim());
    out.set(m[1], params);
  }
  return out;
}

const BUFFER_OPS = ["alloc", "free", "view", "upload", "download", "sync"];

Deno.test("kernel table: every kernel of backend.ts, parameters in the contract's order", () => {
  const methods = contractMethods();
  assert.ok(methods.size > 40, `parsed only ${methods.size} methods of backend.ts`);
  const kernels = [...methods.keys()].filter((k) => !BUFFER_OPS.includes(k)).sort();
  assert.deepEqual([...KERNEL_NAMES].sort(), kernels);
  for (const k of KERNEL_NAMES) {
    const d: KernelDecl = KERNELS[k];
    assert.deepEqual([...d.params], methods.get(k), k);
    for (const b of Object.keys(d.bufs)) assert.ok(d.params.includes(b), `${k}: operand ${b}`);
    for (const i of d.ints) {
      assert.ok(d.params.includes(i) || d.params.includes("dims"), `${k}: size ${i}`);
    }
    for (const [o, i] of d.inPlace ?? []) {
      assert.ok(d.bufs[o]?.out && d.bufs[i] && !d.bufs[i].out, `${k}: in place ${o} = ${i}`);
    }
    assert.ok(Object.values(d.bufs).some((b) => b.out), `${k} writes nothing`);
  }
});

Deno.test("kernel table: refusals name the kernel, the operand and the sizes", () => {
  const f = (n: number) => new Float32Array(n), i = (n: number) => new Int32Array(n);
  assert.throws(() => checkKernelCall("mul", [3, f(3), f(3), f(2)]), {
    name: "RangeError",
    message: "mul: out has 2 elements, needs 3: n=3",
  });
  assert.throws(() => checkKernelCall("mul", [-1, f(3), f(3), f(3)]), /n must be a non-negative/);
  assert.throws(() => checkKernelCall("mul", [2.5, f(3), f(3), f(3)]), /n must be a non-negative/);
  assert.throws(() => checkKernelCall("embedding", [2, 4, f(2), f(8), f(8)]), {
    name: "TypeError",
    message: "embedding: ids must be an i32 buffer: got f32",
  });
  assert.throws(() => checkKernelCall("copy", [2, f(2), i(2)]), /different dtypes/);
  assert.throws(() => checkKernelCall("rmsnorm", [2, 3, f(6), null, 1e-5, null, f(2)]), {
    name: "TypeError",
    message: "rmsnorm: out is required",
  });
  assert.throws(
    () => checkKernelCall("gatedRmsnorm", [2, 6, 4, f(12), f(12), f(6), 1e-5, f(12), f(4)]),
    /group must divide cols/,
  );
  // An empty problem checks no lengths; optional operands may be null.
  checkKernelCall("gemm", [false, false, 0, 5, 5, 1, f(0), 5, f(0), 5, 0, f(0), 5, 1, 0, 0, 0]);
  checkKernelCall("rmsnorm", [2, 3, f(6), null, 1e-5, f(6), f(2)]);
  const dims = { batch: 1, seq: 2, heads: 2, headDim: 2, groups: 3, dState: 2, chunk: 4 };
  assert.throws(
    () =>
      checkKernelCall("ssdScan", [dims, f(8), f(4), f(2), f(12), f(12), f(2), null, f(8), null]),
    /heads must be a multiple of groups/,
  );
});

Deno.test("kernel table: every backend refuses a bad call with the same message", () => {
  const backends: Backend[] = [createRefBackend(), createRefBackend({ precision: "f64" })];
  const cpu = cpuOrSkip("kernel table messages");
  if (cpu) backends.push(cpu);
  const messages = backends.map((be) => {
    const x = be.alloc("f32", 6), short = be.alloc("f32", 5);
    try {
      be.softmax(2, 3, x, short);
      return "no error";
    } catch (e) {
      return `${(e as Error).name}: ${(e as Error).message}`;
    }
  });
  assert.equal(messages[0], "RangeError: softmax: out has 5 elements, needs 6: rows=2, cols=3");
  for (const m of messages) assert.equal(m, messages[0]);
});

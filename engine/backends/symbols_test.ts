/**
 * The FFI symbol tables against the C sources: every symbol of cpu/symbols.ts (the kernels' ones
 * derived from the kernel table, engine/backends/ffi.ts, and the housekeeping ones listed by hand)
 * has the parameter count, parameter types and result of its definition in engine/native/*.c, and
 * every one of cuda/symbols.ts those of its definition in engine/backends/cuda/*.cu / *.cuh
 * (int64_t, i64, long long → i64; u64 → u64; int, int32_t → i32; uint32_t → u32; float → f32;
 * double → f64; any pointer → buffer; void → void). Every table kernel has a symbol in both
 * libraries (the cpu one unless the table says it runs in TypeScript), and every exported C
 * function is bound. Needs no compiler and no GPU: it reads the sources.
 */
import assert from "node:assert/strict";
import { KERNEL_NAMES, type KernelDecl, KERNELS } from "../kernels.ts";
import { type FfiType, nativeSignature } from "./ffi.ts";
import { SYMBOLS as CPU } from "./cpu/symbols.ts";
import { ATTN, SSD_SCAN, SYMBOLS as CUDA } from "./cuda/symbols.ts";

type CType = FfiType | "void";
interface CProto {
  parameters: CType[];
  result: CType;
  file: string;
}
interface Sig {
  readonly parameters: readonly string[];
  readonly result: string;
}

/** The FFI type of a C type as written in a prototype (a TypeError for one it does not know). */
function ffiOfC(t: string): CType {
  if (t.includes("*")) return "buffer";
  const base = t.replace(/\bconst\b/g, "").replace(/\s+/g, " ").trim();
  const map: Record<string, CType> = {
    "void": "void",
    "int": "i32",
    "int32_t": "i32",
    "uint32_t": "u32",
    "i64": "i64",
    "int64_t": "i64",
    "long long": "i64",
    "u64": "u64",
    "uint64_t": "u64",
    "float": "f32",
    "double": "f64",
  };
  const r = map[base];
  if (r === undefined) throw new TypeError(`unknown C type: ${t}`);
  return r;
}

/** The exported functions (`TRM_EXPORT` / `TRM_API`) of C/CUDA source text, by name. */
function parseExports(text: string, file: string, out = new Map<string, CProto>()) {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
  const re = /\b(?:TRM_EXPORT|TRM_API)\s+([A-Za-z_][\w ]*?)\s+(trm_\w+)\s*\(([^)]*)\)/g;
  for (const m of code.matchAll(re)) {
    const [, ret, name, args] = m;
    const list = args.trim() === "void" || args.trim() === "" ? [] : args.split(",");
    const parameters = list.map((a) => {
      const p = /^(.*?[\s*])(\w+)$/.exec(a.trim());
      if (!p) throw new TypeError(`${file}: ${name}: cannot read parameter "${a.trim()}"`);
      return ffiOfC(p[1]);
    });
    const proto = { parameters, result: ffiOfC(ret), file };
    const seen = out.get(name);
    if (seen) {
      assert.deepEqual(
        [seen.parameters, seen.result],
        [proto.parameters, proto.result],
        `${name}: ${seen.file} and ${file} declare it differently`,
      );
    } else out.set(name, proto);
  }
  return out;
}

function readExports(dir: URL, exts: string[]): Map<string, CProto> {
  const out = new Map<string, CProto>();
  for (const e of [...Deno.readDirSync(dir)].sort((a, b) => a.name.localeCompare(b.name))) {
    if (!e.isFile || !exts.some((x) => e.name.endsWith(x))) continue;
    parseExports(Deno.readTextFileSync(new URL(e.name, dir)), e.name, out);
  }
  return out;
}

/** How a symbol differs from its C definition (empty: it matches). */
function mismatches(name: string, sig: Sig, c: CProto | undefined): string[] {
  if (!c) return [`${name}: no exported C function of that name`];
  const bad: string[] = [];
  if (sig.parameters.length !== c.parameters.length) {
    bad.push(
      `${name}: ${sig.parameters.length} parameters, C (${c.file}) has ${c.parameters.length}`,
    );
  }
  sig.parameters.forEach((t, j) => {
    if (j < c.parameters.length && t !== c.parameters[j]) {
      bad.push(`${name}: parameter ${j} is ${t}, C (${c.file}) has ${c.parameters[j]}`);
    }
  });
  if (sig.result !== c.result) bad.push(`${name}: result ${sig.result}, C has ${c.result}`);
  return bad;
}

const CPU_C = readExports(new URL("../native/", import.meta.url), [".c", ".h"]);
const CUDA_C = readExports(new URL("./cuda/", import.meta.url), [".cu", ".cuh"]);

const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

Deno.test("symbols: the C sources were read (a sanity floor for the parser)", () => {
  assert.ok(CPU_C.size >= 40, `cpu exports: ${CPU_C.size}`);
  assert.ok(CUDA_C.size >= 50, `cuda exports: ${CUDA_C.size}`);
  const rope = ["i64", "i64", "i64", "i64", "buffer", "i64", "buffer", "buffer", "i32", "buffer"];
  assert.deepEqual(CPU_C.get("trm_rope")?.parameters, [...rope, "i64"]);
  assert.deepEqual(CUDA_C.get("trm_cuda_fill"), {
    parameters: ["i64", "u32", "u64"],
    result: "i32",
    file: "core.cu",
  });
});

for (const [lib, symbols, c] of [["cpu", CPU, CPU_C], ["cuda", CUDA, CUDA_C]] as const) {
  Deno.test(`symbols: every ${lib} symbol has the parameters and result of its C definition`, () => {
    const bad = Object.entries(symbols as Record<string, Sig>).flatMap(([name, sig]) =>
      mismatches(name, sig, c.get(name))
    );
    assert.deepEqual(bad, []);
  });
}

Deno.test("symbols: every table kernel has a symbol in both libraries", () => {
  const cpu = CPU as Record<string, Sig>, cuda = CUDA as Record<string, Sig>;
  for (const k of KERNEL_NAMES) {
    const g = nativeSignature(k, "cuda");
    assert.ok(g && cuda[g.name], `${k}: no cuda symbol`);
    const s = nativeSignature(k, "cpu");
    if ((KERNELS[k] as KernelDecl).native?.cpu === false) {
      // it runs in TypeScript: then the C library must not have one the table ignores
      assert.equal(s, null);
      assert.ok(!CPU_C.has(`trm_${snake(k)}`), `${k}: declared without C, but C has one`);
    } else assert.ok(s && cpu[s.name], `${k}: no cpu symbol`);
  }
});

Deno.test("symbols: every exported C function is bound (cuda: but the host simulations)", () => {
  const unbound = (c: Map<string, CProto>, symbols: object) =>
    [...c.keys()].filter((n) => !(n in symbols) && !n.endsWith("_host"));
  assert.deepEqual(unbound(CPU_C, CPU), []);
  assert.deepEqual(unbound(CUDA_C, CUDA), []);
});

Deno.test("symbols: a wrong declaration is caught (the check can fail)", () => {
  const c = CPU_C.get("trm_embedding")!;
  const ok = CPU.trm_embedding;
  assert.deepEqual(mismatches("trm_embedding", ok, c), []);
  const noRows = { parameters: ok.parameters.filter((_, j) => j !== 4), result: ok.result };
  assert.equal(mismatches("trm_embedding", noRows, c).length > 0, true);
  assert.match(
    mismatches("trm_embedding", { ...ok, result: "void" }, c).join(),
    /result void, C has i64/,
  );
  const swapped = { parameters: ["f32", ...ok.parameters.slice(1)], result: ok.result };
  assert.match(mismatches("trm_embedding", swapped, c).join(), /parameter 0 is f32, C .* has i64/);
});

// The typed view (ffi.ts `KernelSymbols`) gives literal tuples, as `Deno.dlopen` needs: these only
// compile when the derived types are exact.
const _typed: [
  readonly ["i64", "i64", "buffer", "buffer", "i64", "buffer"],
  "i64",
  readonly ["u64", "u64", "i64"],
  readonly ["i64", "u32", "u64"],
  readonly ["i64", "i64", "i64", "i64", "f32", "u64", "u64", "u64", "i64", "u64", "u64"],
  readonly ["i64", "i64", "i64", "i64", "i64", "i64", "i64", ...("u64")[]],
  readonly ["i32", "i64", "buffer", "buffer"],
] = [
  CPU.trm_embedding.parameters,
  CPU.trm_embedding.result,
  CUDA.trm_cuda_copy.parameters,
  CUDA.trm_cuda_fill.parameters,
  ATTN.parameters,
  SSD_SCAN.parameters,
  CPU.trm_unary.parameters,
];

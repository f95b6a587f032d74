/**
 * op-check: runs one operator forward and backward on tensors from a CASE safetensors file and
 * writes the results, so other frameworks (benchmarks/peers/torch_ops.py) can check us and we them.
 *
 *   deno task op-check CASE.safetensors OUT.safetensors [--backend ref|cpu|auto]
 *
 * CASE `__metadata__`: `op` (attention | swiglu | mlp_t | mamba2 | gla | rmsnorm), `config` (JSON of the
 * op's options, snake_case as in PyTorch; unknown keys are rejected), optional `backend`
 * (ref | cpu | auto, default auto). CASE tensors (F32 or F64; computed in the backend's
 * precision): `input` [B, L, D], `grad_output` [B, L, D] and every parameter under its PyTorch
 * state-dict name. The operator runs bare (no residual, no post-norm); OUT (F32) holds `output`,
 * `grad.input` and `grad.<param>` for every parameter.
 *
 * Config keys and defaults (each operator's are its registry entry's, mod.ts `opCheck`):
 * - attention: hidden, num_heads (required), rope (true), rope_base (10000), prefix_len (16)
 * - swiglu: hidden (required), expansion (4), inter (TRM's rule)
 * - mlp_t: seq_len (required), expansion (4)
 * - rmsnorm: eps (1e-5)
 * - mamba2: d_model (required), d_state, d_conv, expand, headdim, ngroups, chunk_size,
 *   bidirectional (the module's defaults)
 * - gla: hidden, heads (required), key_dim (value_dim/2), value_dim (hidden/heads), rope (true),
 *   rope_base (10000), causal (false)
 *
 * @example
 * ```ts
 * import { runOpCheck } from "./op_check.ts";
 * const x = { dtype: "F32" as const, shape: [1, 2, 2], data: new Float32Array([1, 2, 3, 4]) };
 * const out = runOpCheck({ input: x, grad_output: x }, { op: "rmsnorm", config: "{}" });
 * ```
 */
import { parseCli, printCliResult, runMain } from "../engine/cli.ts";
import type { Backend } from "../engine/backend.ts";
import { backward } from "../engine/autograd.ts";
import { type BackendName, getBackend } from "../engine/backends/mod.ts";
import { fmtShape } from "../engine/errors.ts";
import { fromSafeTensor, toSafeTensor } from "../engine/io.ts";
import { Rng } from "../engine/rng.ts";
import { readSafetensors, type SafeTensor, writeSafetensors } from "../engine/safetensors.ts";
import { type Tensor, zeros } from "../engine/tensor.ts";
import {
  createOperator,
  type OpCheckKey,
  OPERATOR_KINDS,
  operatorEntry,
  type OperatorKind,
  OPERATORS,
  type OperatorSpec,
} from "./mod.ts";
import { RMS_EPS, rmsNorm } from "./rmsnorm.ts";

/** The ops op-check runs: the operators of the registry (mod.ts) plus the bare RMSNorm. */
export type OpName = OperatorKind | "rmsnorm";

/** Allowed config keys per op (snake_case, as the PyTorch side writes them): the registry's. */
export const CONFIG_KEYS: Readonly<Record<OpName, Readonly<Record<string, OpCheckKey>>>> = {
  ...Object.fromEntries(OPERATOR_KINDS.map((k) => [k, OPERATORS[k].opCheck.keys])) as Record<
    OperatorKind,
    Readonly<Record<string, OpCheckKey>>
  >,
  rmsnorm: { eps: { type: "number" } },
};

/** A parsed CASE: which op, its typed options, and the backend it asks for. */
export type OpCase =
  | { op: "rmsnorm"; eps: number; backend: BackendName }
  | { op: OperatorKind; spec: OperatorSpec; backend: BackendName };

function isOpName(s: string): s is OpName {
  return Object.hasOwn(CONFIG_KEYS, s);
}

function checkValue(op: string, key: string, spec: OpCheckKey, v: unknown): void {
  const ok = spec.type === "int"
    ? Number.isSafeInteger(v) && (v as number) > 0
    : spec.type === "number"
    ? typeof v === "number" && Number.isFinite(v)
    : spec.type === "bool"
    ? typeof v === "boolean"
    : typeof v === "boolean" || typeof v === "string";
  if (!ok) {
    throw new TypeError(
      `op-check: config key "${key}" of ${op} must be ${
        spec.type === "int" ? "a positive integer" : spec.type
      }: got ${JSON.stringify(v)}`,
    );
  }
}

/** Parses and validates CASE metadata (unknown op or config keys, bad JSON, bad types throw). */
export function parseOpCase(metadata: Record<string, string>): OpCase {
  const op = metadata.op;
  if (op === undefined) throw new TypeError(`op-check: CASE metadata has no "op"`);
  if (!isOpName(op)) {
    throw new RangeError(
      `op-check: unknown op: ${JSON.stringify(op)} (expected one of ${
        Object.keys(CONFIG_KEYS).join(", ")
      })`,
    );
  }
  const backend = (metadata.backend ?? "auto") as BackendName;
  if (!["auto", "ref", "cpu"].includes(backend)) {
    throw new RangeError(`op-check: unknown backend: ${JSON.stringify(backend)} (ref, cpu, auto)`);
  }
  let cfg: unknown;
  try {
    cfg = JSON.parse(metadata.config ?? "{}");
  } catch (e) {
    throw new SyntaxError(
      `op-check: config is not valid JSON: ${(e as Error).message}: ${metadata.config}`,
    );
  }
  if (typeof cfg !== "object" || cfg === null || Array.isArray(cfg)) {
    throw new TypeError(`op-check: config must be a JSON object: ${metadata.config}`);
  }
  const c = cfg as Record<string, unknown>;
  const keys = CONFIG_KEYS[op];
  for (const k of Object.keys(c)) {
    if (!Object.hasOwn(keys, k)) {
      throw new TypeError(
        `op-check: unknown config key "${k}" for ${op} (allowed: ${Object.keys(keys).join(", ")})`,
      );
    }
    checkValue(op, k, keys[k], c[k]);
  }
  for (const [k, s] of Object.entries(keys)) {
    if (s.required && !(k in c)) throw new TypeError(`op-check: config of ${op} lacks "${k}"`);
  }
  if (op === "rmsnorm") return { op, eps: (c.eps as number | undefined) ?? RMS_EPS, backend };
  return { op, backend, spec: OPERATORS[op].opCheck.spec(c) };
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** The CASE tensor `name`, checked for presence, float dtype and (when given) its shape. */
function take(
  tensors: Record<string, SafeTensor>,
  name: string,
  expected?: readonly number[],
): SafeTensor {
  const t = tensors[name];
  if (!t) {
    throw new TypeError(
      `op-check: CASE lacks tensor "${name}"${
        expected ? ` (expected shape ${fmtShape(expected)})` : ""
      }: it has ${Object.keys(tensors).join(", ") || "no tensors"}`,
    );
  }
  if (t.dtype !== "F32" && t.dtype !== "F64") {
    throw new TypeError(`op-check: tensor "${name}" must be F32 or F64: got ${t.dtype}`);
  }
  if (expected && !sameShape(t.shape, expected)) {
    throw new TypeError(
      `op-check: tensor "${name}" has shape ${fmtShape(t.shape)}, expected ${fmtShape(expected)}`,
    );
  }
  return t;
}

/** What the op needs of the input's shape [B, L, D], as a message when it does not hold. */
function inputProblem(c: OpCase, shape: readonly number[]): string | null {
  if (shape.length !== 3) return "a rank-3 [B, L, D] tensor";
  if (c.op === "rmsnorm") return null;
  const need = operatorEntry(c.spec).input(c.spec);
  if (shape[need.axis] === need.size) return null;
  const want = need.axis === 1 ? `[B, ${need.size}, D]` : `[B, L, ${need.size}]`;
  return `${want} (config ${need.key} = ${need.size})`;
}

/**
 * Runs the op of a CASE (its tensors and metadata) forward and backward and returns the OUT
 * tensors (F32). `opts.backend` overrides the CASE's backend (tests run fixtures on each).
 * Throws TypeError/RangeError/SyntaxError on a bad CASE, naming the tensor and both shapes.
 */
export function runOpCheck(
  caseTensors: Record<string, SafeTensor>,
  metadata: Record<string, string>,
  opts: { backend?: Backend } = {},
): Record<string, SafeTensor> {
  const c = parseOpCase(metadata);
  const be = opts.backend ?? getBackend(c.backend);
  const inp = take(caseTensors, "input");
  const problem = inputProblem(c, inp.shape);
  if (problem) {
    throw new TypeError(
      `op-check: tensor "input" has shape ${fmtShape(inp.shape)}, expected ${problem}`,
    );
  }
  const gout = take(caseTensors, "grad_output", inp.shape);

  const x = fromSafeTensor(be, "input", inp);
  x.requiresGrad = true;
  let params: Record<string, Tensor> = {};
  let forward: (x: Tensor) => Tensor;
  if (c.op === "rmsnorm") {
    forward = (t) => rmsNorm(t, c.eps);
  } else {
    const op = createOperator(be, new Rng(0), c.spec);
    params = op.params;
    for (const [name, p] of Object.entries(params)) {
      be.upload(p.buf, take(caseTensors, name, p.shape).data as ArrayLike<number>);
    }
    forward = (t) => op.forward(t);
  }
  const known = new Set(["input", "grad_output", ...Object.keys(params)]);
  const extra = Object.keys(caseTensors).filter((k) => !known.has(k));
  if (extra.length) {
    throw new TypeError(
      `op-check: CASE has unexpected tensors for ${c.op}: ${extra.join(", ")} (expected ${
        [...known].join(", ")
      })`,
    );
  }
  const y = forward(x);
  backward(y, fromSafeTensor(be, "grad_output", gout));
  const out: Record<string, SafeTensor> = {
    output: toSafeTensor(y),
    "grad.input": toSafeTensor(x.grad ?? zeros(be, x.shape)),
  };
  for (const [name, p] of Object.entries(params)) {
    out[`grad.${name}`] = toSafeTensor(p.grad ?? zeros(be, p.shape));
  }
  return out;
}

const USAGE = "usage: deno task op-check CASE.safetensors OUT.safetensors [--backend ref|cpu|auto]";

/** The CLI: reads CASE, writes OUT; exit 1 on a bad CASE (message on stderr), 2 on bad usage. */
export async function main(argv: string[]): Promise<number> {
  const parsed = parseCli("op-check", USAGE, { backend: { type: "string" } }, argv, {
    positionals: { min: 2, max: 2 },
  });
  if ("exit" in parsed) return printCliResult(parsed);
  const [casePath, outPath] = parsed.positionals;
  try {
    const { tensors, metadata } = await readSafetensors(casePath);
    const name = parsed.values.backend as BackendName | undefined;
    const backend = name ? getBackend(name) : undefined;
    const out = runOpCheck(tensors, metadata, { backend });
    const used = (backend ?? getBackend((metadata.backend ?? "auto") as BackendName)).name;
    await writeSafetensors(outPath, out, {
      op: metadata.op,
      config: metadata.config ?? "{}",
      backend: used,
    });
    const names = Object.keys(out).sort();
    console.log(`op-check: ${metadata.op} on ${used}: wrote ${outPath} (${names.join(", ")})`);
    return 0;
  } catch (e) {
    if (!(e instanceof Error) || e instanceof Deno.errors.NotCapable) throw e; // runMain says it
    console.error(`op-check: ${casePath}: ${e.message}`);
    return 1;
  }
}

if (import.meta.main) await runMain(main, { name: "op-check", usage: USAGE });

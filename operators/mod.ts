/**
 * The operators of the recursion, behind ONE registry table (`OPERATORS`): per kind, the function
 * that creates it, its exact parameter count (without building it), its forward FLOPs, the width
 * knobs a parity search may vary, the input axis its config fixes, and its op-check config keys.
 * A model's operator stack is a list of `OperatorSpec`s (a discriminated union, checked by the
 * compiler). Adding an operator is one new file, one union member below and one entry in
 * `OPERATORS` (the compiler asks for the entry): see operators/README.md.
 *
 * @example
 * ```ts
 * import { getBackend } from "../engine/backends/mod.ts";
 * import { Rng } from "../engine/rng.ts";
 * import { createOperator, operatorParamCount } from "./mod.ts";
 * const op = createOperator(getBackend("ref"), new Rng(0), { kind: "swiglu", hidden: 16 });
 * operatorParamCount({ kind: "gla", hidden: 512, heads: 8 }); // 1,053,192
 * ```
 */
import type { Backend } from "../engine/backend.ts";
import type { Rng } from "../engine/rng.ts";
import { type AttentionConfig, createAttention } from "./attention.ts";
import { createGla, type GlaConfig, glaForwardFlops, glaParamCount, glaSizes } from "./gla.ts";
import { createMamba2, type Mamba2Config, mamba2ParamCount } from "./mamba2.ts";
import { createMlpT, type MlpTConfig } from "./mlp_t.ts";
import type { Operator } from "./operator.ts";
import { createSwiGLU, type SwiGLUConfig, swigluInter } from "./swiglu.ts";

export { countParams, type Operator } from "./operator.ts";
export { createAttention } from "./attention.ts";
export { createGla, type GlaConfig, glaParamCount } from "./gla.ts";
export { createMamba2, type Mamba2Config, mamba2ParamCount } from "./mamba2.ts";
export { createMlpT } from "./mlp_t.ts";
export { createSwiGLU, swigluInter } from "./swiglu.ts";
export { postNorm, preNorm, rmsNorm } from "./rmsnorm.ts";

/** One operator's configuration, tagged by kind. */
export type OperatorSpec =
  | ({ kind: "attention" } & AttentionConfig)
  | ({ kind: "swiglu" } & SwiGLUConfig)
  | ({ kind: "mlp_t" } & MlpTConfig)
  | ({ kind: "mamba2" } & Mamba2Config)
  | ({ kind: "gla" } & GlaConfig);

/** The operator kinds; a model's stack is a list of these. */
export type OperatorKind = OperatorSpec["kind"];

/** The spec of one kind. */
export type SpecOf<K extends OperatorKind> = Extract<OperatorSpec, { kind: K }>;

/** Type of one op-check config key (the snake_case keys a CASE's `config` JSON may carry). */
export interface OpCheckKey {
  type: "int" | "number" | "bool" | "bool|string";
  required?: boolean;
}

/**
 * A width a parity search may vary (recursion/parity.ts `--match`): a name, the candidate values
 * (given the spec, with every other knob of the search already set), and how to read and set it.
 */
export interface WidthKnob<S> {
  name: string;
  values(spec: S): readonly number[];
  /** The spec's value, defaults filled in. */
  get(spec: S): number;
  set(spec: S, value: number): S;
}

/** What the project needs of one operator kind. */
export interface OperatorEntry<S> {
  /** The operator, its parameters initialised from `rng`. */
  create(be: Backend, rng: Rng, spec: S): Operator;
  /** Exact trainable parameter count, without building it (tests check it against `create`). */
  paramCount(spec: S): number;
  /**
   * Forward FLOPs on an input [b, l, width] (matmul-like work, 2 per multiply-add: the convention
   * of recursion/flops.ts).
   */
  forwardFlops(spec: S, b: number, l: number, width: number): number;
  /** Widths a parity search may vary; [] = none (the paper fixes them, or they cost nothing). */
  knobs: readonly WidthKnob<S>[];
  /** The input axis of [B, L, D] the config fixes, its size and op-check key (for messages). */
  input(spec: S): { axis: 1 | 2; size: number; key: string };
  /** op-check: the allowed snake_case config keys, and the spec a validated config gives. */
  opCheck: {
    keys: Readonly<Record<string, OpCheckKey>>;
    spec(config: Record<string, unknown>): S;
  };
}

/** The registry: one entry per kind (the compiler insists on every kind). */
export type OperatorTable = { readonly [K in OperatorKind]: OperatorEntry<SpecOf<K>> };

/** Multiples of `step` in [lo, hi] (lo rounded up to a multiple). */
function steps(lo: number, hi: number, step: number): number[] {
  const out: number[] = [];
  for (let v = Math.ceil(Math.max(lo, step) / step) * step; v <= hi; v += step) out.push(v);
  return out;
}

const int = { type: "int" } as const, num = { type: "number" } as const;
const bool = { type: "bool" } as const, required = { type: "int", required: true } as const;

export const OPERATORS: OperatorTable = {
  attention: {
    create: createAttention,
    paramCount: (s) => 4 * s.hidden * s.hidden,
    forwardFlops: (s, b, l) => {
      const d = s.hidden, t = b * l;
      return 8 * t * d * d + 4 * b * l * l * d; // qkv + o projections; QKᵀ and PV
    },
    knobs: [], // heads do not change the count
    input: (s) => ({ axis: 2, size: s.hidden, key: "hidden" }),
    opCheck: {
      keys: { hidden: required, num_heads: required, rope: bool, rope_base: num, prefix_len: int },
      spec: (c) => ({
        kind: "attention",
        hidden: c.hidden as number,
        numHeads: c.num_heads as number,
        rope: (c.rope as boolean | undefined) ?? true,
        ropeBase: c.rope_base as number | undefined,
        prefixLen: c.prefix_len as number | undefined,
      }),
    },
  },
  swiglu: {
    create: createSwiGLU,
    paramCount: (s) => 3 * s.hidden * (s.inter ?? swigluInter(s.hidden, s.expansion)),
    forwardFlops: (s, b, l) =>
      6 * b * l * s.hidden * (s.inter ?? swigluInter(s.hidden, s.expansion)),
    knobs: [{
      // TRM's rule round_up_256(4·W·2/3), and multiples of 64 from half of it to twice it
      name: "inter",
      values: (s) => {
        const rule = swigluInter(s.hidden, s.expansion);
        return steps(Math.floor(rule / 2), 2 * rule, 64);
      },
      get: (s) => s.inter ?? swigluInter(s.hidden, s.expansion),
      set: (s, inter) => ({ ...s, inter }),
    }],
    input: (s) => ({ axis: 2, size: s.hidden, key: "hidden" }),
    opCheck: {
      keys: { hidden: required, expansion: num, inter: int },
      spec: (c) => ({
        kind: "swiglu",
        hidden: c.hidden as number,
        expansion: c.expansion as number | undefined,
        inter: c.inter as number | undefined,
      }),
    },
  },
  mlp_t: {
    create: createMlpT,
    paramCount: (s) => 3 * s.seqLen * swigluInter(s.seqLen, s.expansion),
    // Mixes along the sequence (its width is l), for every one of the `width` feature columns.
    forwardFlops: (s, b, l, width) => 6 * b * width * l * swigluInter(l, s.expansion),
    knobs: [],
    input: (s) => ({ axis: 1, size: s.seqLen, key: "seq_len" }),
    opCheck: {
      keys: { seq_len: required, expansion: num },
      spec: (c) => ({
        kind: "mlp_t",
        seqLen: c.seq_len as number,
        expansion: c.expansion as number | undefined,
      }),
    },
  },
  mamba2: {
    create: createMamba2,
    paramCount: mamba2ParamCount,
    forwardFlops: (s, b, l) => {
      const d = s.dModel, n = s.dState ?? 128, e = s.expand ?? 2, t = b * l;
      const p = s.headdim ?? 64, g = s.ngroups ?? 1, k = s.dConv ?? 4;
      const din = e * d, h = din / p, proj = 2 * din + 2 * g * n + h, conv = din + 2 * g * n;
      // projections + the sequential recurrence (≈ 5·N·Din per token: state update 3 and readout
      // 2 per state element) and conv; the chunked SSD does more
      return 2 * t * d * (proj + din) + t * (5 * n * din + 2 * k * conv);
    },
    knobs: [], // the paper's module defaults (Wang & Reid's 6.86M): not searched
    input: (s) => ({ axis: 2, size: s.dModel, key: "d_model" }),
    opCheck: {
      keys: {
        d_model: required,
        d_state: int,
        d_conv: int,
        expand: int,
        headdim: int,
        ngroups: int,
        chunk_size: int,
        bidirectional: { type: "bool|string" },
      },
      spec: (c) => ({
        kind: "mamba2",
        dModel: c.d_model as number,
        dState: c.d_state as number | undefined,
        dConv: c.d_conv as number | undefined,
        expand: c.expand as number | undefined,
        headdim: c.headdim as number | undefined,
        ngroups: c.ngroups as number | undefined,
        chunkSize: c.chunk_size as number | undefined,
        bidirectional: c.bidirectional as boolean | "shared" | undefined,
      }),
    },
  },
  gla: {
    create: createGla,
    paramCount: glaParamCount,
    forwardFlops: (s, b, l) => glaForwardFlops(s, b, l),
    knobs: [{
      // every key dim up to twice the value dim (even with RoPE, which rotates pairs)
      name: "keyDim",
      values: (s) => {
        const z = glaSizes(s);
        return z.rope ? steps(2, 2 * z.valueDim, 2) : steps(1, 2 * z.valueDim, 1);
      },
      get: (s) => glaSizes(s).keyDim,
      set: (s, keyDim) => ({ ...s, keyDim }),
    }],
    input: (s) => ({ axis: 2, size: s.hidden, key: "hidden" }),
    opCheck: {
      keys: {
        hidden: required,
        heads: required,
        key_dim: int,
        value_dim: int,
        rope: bool,
        rope_base: num,
        causal: bool,
      },
      spec: (c) => ({
        kind: "gla",
        hidden: c.hidden as number,
        heads: c.heads as number,
        keyDim: c.key_dim as number | undefined,
        valueDim: c.value_dim as number | undefined,
        rope: c.rope as boolean | undefined,
        ropeBase: c.rope_base as number | undefined,
        causal: c.causal as boolean | undefined,
      }),
    },
  },
};

/** The operator kinds, in registry order. */
export const OPERATOR_KINDS = Object.keys(OPERATORS) as OperatorKind[];

/** The registry entry of a spec's kind (a RangeError for an unknown kind). */
export function operatorEntry<S extends OperatorSpec>(spec: S): OperatorEntry<S> {
  if (!Object.hasOwn(OPERATORS, spec.kind)) {
    throw new RangeError(
      `unknown operator kind: ${JSON.stringify(spec.kind)} (expected one of ${
        OPERATOR_KINDS.join(", ")
      })`,
    );
  }
  return OPERATORS[spec.kind] as unknown as OperatorEntry<S>;
}

/** Creates the operator `spec` describes, its parameters initialised from `rng`. */
export function createOperator(be: Backend, rng: Rng, spec: OperatorSpec): Operator {
  return operatorEntry(spec).create(be, rng, spec);
}

/** Exact trainable parameter count of the operator `spec` describes, without building it. */
export function operatorParamCount(spec: OperatorSpec): number {
  return operatorEntry(spec).paramCount(spec);
}

/** Forward FLOPs of the operator `spec` describes on an input [b, l, width]. */
export function operatorForwardFlops(
  spec: OperatorSpec,
  b: number,
  l: number,
  width: number,
): number {
  return operatorEntry(spec).forwardFlops(spec, b, l, width);
}

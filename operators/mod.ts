/**
 * The operators of the recursion, behind one factory over a discriminated union of their
 * configurations (a model's operator stack is a list of `OperatorSpec`s, checked by the compiler).
 *
 * @example
 * ```ts
 * import { getBackend } from "../engine/backends/mod.ts";
 * import { Rng } from "../engine/rng.ts";
 * import { createOperator } from "./mod.ts";
 * const op = createOperator(getBackend("ref"), new Rng(0), { kind: "swiglu", hidden: 16 });
 * ```
 */
import type { Backend } from "../engine/backend.ts";
import type { Rng } from "../engine/rng.ts";
import { type AttentionConfig, createAttention } from "./attention.ts";
import { createMamba2, type Mamba2Config } from "./mamba2.ts";
import { createMlpT, type MlpTConfig } from "./mlp_t.ts";
import type { Operator } from "./operator.ts";
import { createSwiGLU, type SwiGLUConfig } from "./swiglu.ts";

export { countParams, type Operator, type OperatorKind } from "./operator.ts";
export { createAttention } from "./attention.ts";
export { createMamba2, type Mamba2Config, mamba2ParamCount } from "./mamba2.ts";
export { createMlpT } from "./mlp_t.ts";
export { createSwiGLU, swigluInter } from "./swiglu.ts";
export { postNorm, preNorm, rmsNorm } from "./rmsnorm.ts";

/** One operator's configuration, tagged by kind. */
export type OperatorSpec =
  | ({ kind: "attention" } & AttentionConfig)
  | ({ kind: "swiglu" } & SwiGLUConfig)
  | ({ kind: "mlp_t" } & MlpTConfig)
  | ({ kind: "mamba2" } & Mamba2Config);

/** Creates the operator `spec` describes, its parameters initialised from `rng`. */
export function createOperator(be: Backend, rng: Rng, spec: OperatorSpec): Operator {
  switch (spec.kind) {
    case "attention":
      return createAttention(be, rng, spec);
    case "swiglu":
      return createSwiGLU(be, rng, spec);
    case "mlp_t":
      return createMlpT(be, rng, spec);
    case "mamba2":
      return createMamba2(be, rng, spec);
    default: {
      const never: never = spec;
      throw new RangeError(`createOperator: unknown operator kind: ${JSON.stringify(never)}`);
    }
  }
}

/**
 * Operators release intermediates as soon as no derivative rule reads them (ops_fused.ts,
 * attention's RoPE copy, Mamba-2's in_proj and conv outputs, the post-norm branch). A release too
 * early would read a buffer the caching allocator has handed out again. Here every operator runs
 * forward and block, forward and backward, on a pool that fills every freed buffer with NaN and
 * reuses it at once, against the same arithmetic (ref f64) without a pool: output and every
 * gradient must agree to the bit.
 */
import { withPool } from "../engine/backends/pool.ts";
import { createRefBackend } from "../engine/backends/ref/mod.ts";
import type { Backend } from "../engine/backend.ts";
import type { Rng } from "../engine/rng.ts";
import { createAttention } from "./attention.ts";
import { createGla } from "./gla.ts";
import { createMamba2 } from "./mamba2.ts";
import { createMlpT } from "./mlp_t.ts";
import type { Operator } from "./operator.ts";
import { createSwiGLU } from "./swiglu.ts";
import { assertBackendsAgree } from "./testing.ts";

const OPERATORS: [string, (be: Backend, rng: Rng) => Operator, number[]][] = [
  [
    "attention + RoPE",
    (be, rng) => createAttention(be, rng, { hidden: 16, numHeads: 2, rope: true }),
    [2, 7, 16],
  ],
  ["attention", (be, rng) => createAttention(be, rng, { hidden: 16, numHeads: 2, rope: false }), [
    2,
    7,
    16,
  ]],
  ["swiglu", (be, rng) => createSwiGLU(be, rng, { hidden: 16 }), [2, 7, 16]],
  ["mlp_t", (be, rng) => createMlpT(be, rng, { seqLen: 7 }), [2, 7, 16]],
  [
    "mamba2",
    (be, rng) => createMamba2(be, rng, { dModel: 16, dState: 4, headdim: 8, chunkSize: 4 }),
    [2, 7, 16],
  ],
  [
    "mamba2 bidirectional",
    (be, rng) =>
      createMamba2(be, rng, {
        dModel: 16,
        dState: 4,
        headdim: 8,
        chunkSize: 4,
        bidirectional: "shared",
      }),
    [2, 7, 16],
  ],
  ["gla", (be, rng) => createGla(be, rng, { hidden: 16, heads: 2 }), [2, 7, 16]],
  [
    "gla causal, no RoPE",
    (be, rng) => createGla(be, rng, { hidden: 16, heads: 2, causal: true, rope: false }),
    [2, 7, 16],
  ],
];

for (const [name, make, shape] of OPERATORS) {
  Deno.test(`${name}: a NaN-poisoning pool that reuses freed buffers changes no bit`, () => {
    const plain = createRefBackend({ precision: "f64" });
    const poisoned = withPool(createRefBackend({ precision: "f64" }), { poison: true });
    for (const which of ["forward", "block"] as const) {
      assertBackendsAgree(poisoned, plain, make, shape, which, { atol: 0, rtol: 0 });
    }
    if (poisoned.poolStats().hits === 0) throw new Error(`${name}: the pool reused nothing`);
  });
}

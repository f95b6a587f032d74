/**
 * The pre-norm sub-layer (`preBlock`, the post-norm ablation of recursion/config.ts `norm: "pre"`)
 * of every operator: it is x + forward(RMSNorm(x)) over the axis `block` normalises (the feature
 * axis; the sequence axis for MLP-t), and its gradients match finite differences in f64.
 */
import assert from "node:assert/strict";
import { createRefBackend } from "../engine/backends/ref/mod.ts";
import { Rng } from "../engine/rng.ts";
import { type Tensor, tensor } from "../engine/tensor.ts";
import { transpose } from "../engine/ops.ts";
import { createOperator, type OperatorSpec, rmsNorm } from "./mod.ts";
import { gradcheckOperator } from "./testing.ts";

const be = createRefBackend({ precision: "f64" });
const [B, L, D] = [2, 5, 8];

const SPECS: OperatorSpec[] = [
  { kind: "attention", hidden: D, numHeads: 2, rope: true, prefixLen: 1, maxSeq: L },
  { kind: "swiglu", hidden: D, expansion: 2 },
  { kind: "mlp_t", seqLen: L, expansion: 2 },
  {
    kind: "mamba2",
    dModel: D,
    dState: 4,
    dConv: 4,
    expand: 2,
    headdim: 8,
    ngroups: 1,
    chunkSize: 4,
    bidirectional: false,
  },
  { kind: "gla", hidden: D, heads: 2, keyDim: 4 },
  { kind: "gla", hidden: D, heads: 2, keyDim: 3, rope: false, causal: true },
];

function input(seed: number): Tensor {
  const rng = new Rng(seed);
  return tensor(be, Array.from({ length: B * L * D }, () => 3 * rng.normal()), [B, L, D]);
}

/** A test name's operator: the kind, or "gla causal". */
const label = (s: OperatorSpec) => s.kind === "gla" && s.causal ? "gla causal" : s.kind;

for (const spec of SPECS) {
  Deno.test(`${label(spec)}: preBlock is x + forward(RMSNorm(x)) and differs from block`, () => {
    const op = createOperator(be, new Rng(3), spec);
    const x = input(11);
    const got = op.preBlock(x).toArray();
    // MLP-t normalises over the sequence axis (as its post-norm block does): transpose around it.
    const normed = spec.kind === "mlp_t" ? transpose(rmsNorm(transpose(x))) : rmsNorm(x);
    const f = op.forward(normed).toArray();
    const xs = x.toArray();
    for (let i = 0; i < got.length; i++) {
      assert.ok(Math.abs(got[i] - (xs[i] + f[i])) <= 1e-12 * (1 + Math.abs(got[i])), `at ${i}`);
    }
    const post = op.block(x).toArray();
    assert.ok(got.some((v, i) => Math.abs(v - post[i]) > 1e-3), "pre-norm equals post-norm");
  });

  Deno.test(`${label(spec)}: preBlock gradients match finite differences (f64)`, () => {
    const op = createOperator(be, new Rng(5), spec);
    const r = gradcheckOperator(be, op, [B, L, D], "preBlock", { maxPerInput: 30 });
    assert.ok(r.checked > 0);
    assert.deepEqual(r.failures, [], `max error ${r.maxErr}`);
  });
}

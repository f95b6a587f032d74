/**
 * The operator registry (mod.ts `OPERATORS`): for every kind, the count it states without building
 * equals the built operator's, `createOperator` builds that kind, the FLOPs are positive, the
 * width knobs read back what they set (and move the count as the operator does), and the input
 * axis is the one the operator checks. `SAMPLES` is keyed by kind, so a new operator without a
 * sample here does not compile.
 */
import assert from "node:assert/strict";
import { createRefBackend } from "../engine/backends/ref/mod.ts";
import { Rng } from "../engine/rng.ts";
import { tensor } from "../engine/tensor.ts";
import { noGrad } from "../engine/autograd.ts";
import {
  countParams,
  createOperator,
  OPERATOR_KINDS,
  operatorEntry,
  type OperatorKind,
  operatorParamCount,
  type SpecOf,
} from "./mod.ts";

const be = createRefBackend({ precision: "f64" });

/** A small spec of every kind (and the input shape it takes). */
const SAMPLES: { [K in OperatorKind]: [SpecOf<K>, number[]] } = {
  attention: [{ kind: "attention", hidden: 8, numHeads: 2, rope: true }, [1, 3, 8]],
  swiglu: [{ kind: "swiglu", hidden: 8, expansion: 2 }, [1, 3, 8]],
  mlp_t: [{ kind: "mlp_t", seqLen: 3, expansion: 2 }, [1, 3, 8]],
  mamba2: [{ kind: "mamba2", dModel: 8, dState: 4, headdim: 4, chunkSize: 4 }, [1, 3, 8]],
  gla: [{ kind: "gla", hidden: 8, heads: 2 }, [1, 3, 8]],
};

for (const kind of OPERATOR_KINDS) {
  Deno.test(`registry ${kind}: count, create, FLOPs, knobs and input axis agree with the operator`, () => {
    const [spec, shape] = SAMPLES[kind];
    const entry = operatorEntry(spec);
    const op = createOperator(be, new Rng(0), spec);
    assert.equal(op.kind, kind);
    assert.equal(operatorParamCount(spec), countParams(op));
    assert.ok(entry.forwardFlops(spec, 2, 3, 8) > 0);
    for (const knob of entry.knobs) {
      const values = knob.values(spec);
      assert.ok(values.length > 1, `${kind}.${knob.name}: one value`);
      assert.ok(
        values.includes(knob.get(spec)),
        `${kind}.${knob.name}: its own value is a candidate`,
      );
      for (const v of [values[0], values[values.length - 1]]) {
        const moved = knob.set(spec, v);
        assert.equal(knob.get(moved), v);
        assert.equal(
          operatorParamCount(moved),
          countParams(createOperator(be, new Rng(0), moved)),
          `${kind}.${knob.name} = ${v}`,
        );
      }
    }
    // the input axis the entry names is the one the operator insists on
    const { axis, size } = entry.input(spec);
    assert.equal(shape[axis], size);
    noGrad(() => op.forward(tensor(be, new Float64Array(shape.reduce((a, b) => a * b)), shape)));
    const bad = [...shape];
    bad[axis] += 1;
    assert.throws(() => op.forward(tensor(be, new Float64Array(bad.reduce((a, b) => a * b)), bad)));
  });
}

Deno.test("registry: an unknown kind is a RangeError naming the kinds", () => {
  assert.throws(
    () => createOperator(be, new Rng(0), { kind: "conv" } as unknown as SpecOf<"swiglu">),
    /unknown operator kind: "conv" \(expected one of attention, swiglu, mlp_t, mamba2, gla\)/,
  );
});

import assert from "node:assert/strict";
import { cachedChoice, choiceKey, decide, MARGIN, measure, SHAPES } from "./gemm_choice.ts";

Deno.test("gemm choice: OpenBLAS only when clearly faster; measured once per key, then cached", async () => {
  assert.equal(decide(1, 0.5), "openblas");
  assert.equal(decide(1, MARGIN), "openblas");
  assert.equal(decide(1, 0.99), "own", "a tie goes to our GEMM");
  assert.equal(decide(0.5, 1), "own");
  assert.notEqual(
    choiceKey({ library: "x", OPENBLAS_CORETYPE: "" }),
    choiceKey({ library: "x", OPENBLAS_CORETYPE: "Haswell" }),
    "the OpenBLAS environment is part of the key",
  );
  const dir = await Deno.makeTempDir({ prefix: "trm-gemm-choice-" });
  try {
    let runs = 0;
    const run = () => {
      runs++;
      return { seconds: [2, 1] as [number, number], flop: 4e9 };
    };
    const first = cachedChoice(dir, "k1", run);
    assert.equal(first.use, "openblas");
    assert.equal(first.cached, false);
    assert.equal(first.ownGflops, 2);
    const again = cachedChoice(dir, "k1", run);
    assert.equal(again.cached, true);
    assert.equal(runs, 1, "a cached choice is not measured again");
    assert.equal(cachedChoice(dir, "k2", () => ({ seconds: [1, 2], flop: 1 })).use, "own");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gemm choice: the measurement interleaves the two implementations over every shape", () => {
  const calls: string[] = [];
  const m = measure((impl, s) => calls.push(`${impl}:${s}`), 2);
  const round = [0, 1].flatMap((i) => SHAPES.map((_, s) => `${i}:${s}`));
  assert.deepEqual(calls, [...round, ...round, ...round], "warm-up, then own/OpenBLAS per rep");
  assert.equal(m.flop, SHAPES.reduce((a, [x, y, z]) => a + 2 * x * y * z, 0));
});

import assert from "node:assert/strict";
import { createRefBackend } from "./backends/ref/mod.ts";
import { loadTensors, saveTensors } from "./io.ts";
import { tensor } from "./tensor.ts";

Deno.test("tensors round-trip through a safetensors file with metadata", async () => {
  const be = createRefBackend();
  const dir = await Deno.makeTempDir();
  try {
    const a = tensor(be, [1.5, -2, 3.25, 0], [2, 2]);
    const ids = tensor(be, [7, -1, 3], [3], { dtype: "i32" });
    await saveTensors(`${dir}/t.safetensors`, { a, ids }, { step: "12" });
    const { tensors, metadata } = await loadTensors(be, `${dir}/t.safetensors`);
    assert.deepEqual(metadata, { step: "12" });
    assert.deepEqual(tensors.a.shape, [2, 2]);
    assert.deepEqual(tensors.a.toList(), [1.5, -2, 3.25, 0]);
    assert.equal(tensors.ids.dtype, "i32");
    assert.deepEqual(tensors.ids.toList(), [7, -1, 3]);
    await assert.rejects(() => loadTensors(be, `${dir}/missing.safetensors`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

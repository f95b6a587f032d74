/**
 * One ACT step against PyTorch (benchmarks/peers/torch_trm.py): committed cases with PyTorch's
 * logits, losses, new carry and every gradient (fixtures/trm/<model>/), for all four models, on
 * the ref and cpu backends. Regenerate with:
 *   /usr/bin/python3 benchmarks/peers/torch_trm.py make-case fixtures/trm/MODEL --model MODEL
 *   /usr/bin/python3 benchmarks/peers/torch_trm.py golden fixtures/trm/MODEL
 */
import { assertClose } from "../engine/testing.ts";
import { createRefBackend } from "../engine/backends/ref/mod.ts";
import { getBackend, nativeStatus } from "../engine/backends/mod.ts";
import { readSafetensors } from "../engine/safetensors.ts";
import { MODEL_NAMES } from "./config.ts";
import { runGoldenCase } from "./golden.ts";
import assert from "node:assert/strict";
import { readSwitch } from "../engine/switches.ts";

const dir = readSwitch("TRM_GOLDEN_DIR") ?? new URL("../fixtures/trm", import.meta.url).pathname;
const native = nativeStatus();
if (!native.ok) console.warn(`SKIPPING cpu golden steps: ${native.reason}`);

for (const model of MODEL_NAMES) {
  for (const backend of ["ref", "cpu"] as const) {
    Deno.test({
      name: `golden ACT step vs PyTorch: ${model} on ${backend}`,
      ignore: backend === "cpu" && !native.ok,
      async fn() {
        const c = await readSafetensors(`${dir}/${model}/case.safetensors`);
        const want = (await readSafetensors(`${dir}/${model}/torch.safetensors`)).tensors;
        const be = backend === "ref" ? createRefBackend() : getBackend("cpu");
        const { out } = runGoldenCase(be, c.tensors, c.metadata);
        assert.deepEqual(Object.keys(out).sort(), Object.keys(want).sort(), "same outputs");
        for (const [name, t] of Object.entries(want)) {
          const ref = Array.from(t.data as ArrayLike<number>);
          // Both sides compute in f32 through 2·(n+1) recursive network calls; errors relative
          // to each tensor's scale stay ~1e-6, so the absolute part scales with max|ref|.
          const scale = Math.max(1e-3, ...ref.map(Math.abs));
          assertClose(out[name], ref, { atol: 2e-5 * scale, rtol: 2e-4, msg: `${model} ${name}` });
        }
      },
    });
  }
}

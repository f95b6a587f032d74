/**
 * The ablation switches of ModelConfig (`norm`, `stack`): absent they leave every preset's
 * configuration and hash as before; set, they are validated, change the hash, build the stack
 * they name, and a pre-norm model differs from the post-norm one with the same parameters.
 */
import assert from "node:assert/strict";
import { createRefBackend } from "../engine/backends/ref/mod.ts";
import { Rng } from "../engine/rng.ts";
import { tensor } from "../engine/tensor.ts";
import { defaultStack, operatorStack, paperConfig, stackError } from "./config.ts";
import { createTrm, trmParamCount } from "./model.ts";
import { TASK_SHAPES } from "./parity.ts";
import { presetConfig } from "./presets.ts";
import { configHash, mergeConfig } from "./run/config.ts";
import { tinyModelConfig } from "./testing.ts";

Deno.test("ablation switches: absent from every preset, so preset hashes are unchanged", () => {
  const c = presetConfig("cpu-study", "sudoku", "tr-mamba2mlpt");
  assert.equal("norm" in c.arch, false);
  assert.equal("stack" in c.arch, false);
  const pre = mergeConfig(c, { arch: { norm: "pre" } });
  assert.equal(pre.arch.norm, "pre");
  assert.notEqual(configHash(pre), configHash(c));
  // Setting the paper's own values explicitly is a different configuration text, same model.
  const stack = mergeConfig(c, { arch: { stack: "MXMS" } });
  assert.equal(stack.arch.stack, "MXMS");
});

Deno.test("ablation switches: bad values are refused with the key named", () => {
  const c = presetConfig("cpu-study", "sudoku", "trm-attn");
  assert.throws(() => mergeConfig(c, { arch: { norm: "mid" } }), /arch\.norm must be one of/);
  assert.throws(() => mergeConfig(c, { arch: { norm: 1 } }), /arch\.norm must be a string/);
  assert.throws(() => mergeConfig(c, { arch: { stack: "MXS" } }), /no Mamba-2 in a trm-\* model/);
  assert.throws(() => mergeConfig(c, { arch: { stack: "XS//XS" } }), /empty layer/);
  assert.throws(() => mergeConfig(c, { arch: { stacks: "XS" } }), /unknown key: arch\.stacks/);
  const h = presetConfig("cpu-study", "sudoku", "tr-mamba2attn");
  assert.throws(() => mergeConfig(h, { arch: { stack: "MMQS" } }), /may only use X, M, S/);
  assert.equal(stackError("tr-mamba2attn", "MS/XS"), null);
});

Deno.test("stack letters: the default letters build the model's own stack", () => {
  for (const model of ["trm-attn", "trm-mlp-t", "tr-mamba2attn", "tr-mamba2mlpt"] as const) {
    const cfg = tinyModelConfig(model);
    const kinds = (s: ReturnType<typeof operatorStack>) => s.map((l) => l.map((o) => o.kind));
    assert.deepEqual(
      kinds(operatorStack({ ...cfg, stack: defaultStack(model) })),
      kinds(operatorStack(cfg)),
      model,
    );
  }
  const alt = operatorStack({ ...tinyModelConfig("tr-mamba2mlpt"), stack: "MS/XS" });
  assert.deepEqual(alt.map((l) => l.map((o) => o.kind)), [["mamba2", "swiglu"], [
    "mlp_t",
    "swiglu",
  ]]);
});

Deno.test("stack letters: a reordered hybrid keeps the paper-size parameter count", () => {
  const base = paperConfig("tr-mamba2mlpt", TASK_SHAPES.sudoku);
  const count = (stack?: string) =>
    trmParamCount(createTrm(createRefBackend(), new Rng(0), { ...base, stack }));
  const own = count();
  assert.equal(own, 5_959_778);
  assert.equal(count("MXMS"), own);
  assert.equal(count("XMMS"), own);
  assert.notEqual(count("MS/XS"), own); // one more SwiGLU: another parameter count
});

Deno.test("norm pre: same parameters, a different function, heads read a normalised z_H", () => {
  const be = createRefBackend({ precision: "f64" });
  const cfg = tinyModelConfig("trm-attn");
  const post = createTrm(be, new Rng(4), cfg);
  const pre = createTrm(be, new Rng(4), { ...cfg, norm: "pre" });
  assert.equal(trmParamCount(pre), trmParamCount(post));
  const lp = cfg.seqLen + cfg.prefixLen;
  const rng = new Rng(9);
  const h = tensor(be, Array.from({ length: lp * cfg.hidden }, () => rng.normal()), [
    1,
    lp,
    cfg.hidden,
  ]);
  const zero = tensor(be, new Array(lp * cfg.hidden).fill(0), [1, lp, cfg.hidden]);
  const a = post.net(h, zero).toArray(), b = pre.net(h, zero).toArray();
  assert.ok(a.some((v, i) => Math.abs(v - b[i]) > 1e-3), "pre-norm net equals post-norm net");
  // The heads are invariant to the scale of z_H under pre-norm (a final RMSNorm), not under post.
  const scaled = tensor(be, h.toArray().map((v) => 10 * v), h.shape);
  const l1 = pre.heads(h).logits.toArray(), l2 = pre.heads(scaled).logits.toArray();
  // (up to the eps 1e-5 inside the norm: a relative change of ~5e-6 at unit scale)
  for (let i = 0; i < l1.length; i++) {
    assert.ok(Math.abs(l1[i] - l2[i]) < 1e-4 * (1 + Math.abs(l1[i])), `logit ${i}`);
  }
  const p1 = post.heads(h).logits.toArray(), p2 = post.heads(scaled).logits.toArray();
  assert.ok(p1.some((v, i) => Math.abs(v - p2[i]) > 1e-3));
});

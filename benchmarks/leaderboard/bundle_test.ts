/**
 * Packing and reading bundles: the layout (config, predictions, scores, SHA256SUMS; never a
 * checkpoint), reproducible bytes, the three run-folder layouts, and what pack refuses.
 */
import assert from "node:assert/strict";
import { unzipSync, zipSync } from "fflate";
import { sha256Hex } from "../../tasks/io.ts";
import { scoreGrid, writeAccuracy } from "../score/run.ts";
import { MANIFEST, packRun, readBundle, Refused, zipBundle } from "./bundle.ts";
import { makeRun, removeTemporaries, tempDir } from "./testing.ts";
import { verifyBundle } from "./verify.ts";

const root = await tempDir("lb-bundle-");
const seedDir = await makeRun(root, { task: "sudoku", right: 12 });
// Checkpoints beside the run must stay out of the bundle.
await Deno.writeTextFile(`${seedDir}/train/checkpoint.safetensors`, "weights");

Deno.test("pack a seed folder: config, predictions, scores and checksums; no checkpoint", async () => {
  const { bytes, info } = await packRun(seedDir);
  const files = unzipSync(bytes);
  assert.deepEqual(Object.keys(files).sort(), [
    MANIFEST,
    "bundle.json",
    "seed-0/config.json",
    "seed-0/predictions/pred.jsonl",
    "seed-0/score/accuracy.csv",
  ]);
  const sums = new TextDecoder().decode(files[MANIFEST]).trim().split("\n");
  assert.equal(sums.length, 4);
  for (const line of sums) {
    const [sha, path] = line.split("  ");
    assert.equal(sha256Hex(files[path]), sha, path);
  }
  assert.equal(info.task, "sudoku");
  assert.equal(info.preset, "smoke");
  assert.deepEqual(info.provenance.dtype, "f32");
  assert.match(info.provenance.backend, /^cpu \(blas own, 1 threads\)$/);
  assert.deepEqual(info.seeds[0].predictions, ["pred.jsonl"]);
  // Reproducible: the same run packs to the same bytes.
  assert.deepEqual((await packRun(seedDir)).bytes, bytes);
  assert.equal(readBundle(bytes).size, 5);
});

Deno.test("pack a `deno task train --dump-predictions` folder scored into DIR/score", async () => {
  // The train layout: config.json and predictions/ at the top, scored from the last step's file.
  const dir = `${root}/train-out`;
  await Deno.mkdir(`${dir}/predictions`, { recursive: true });
  await Deno.copyFile(`${seedDir}/train/config.json`, `${dir}/config.json`);
  const pred = `${dir}/predictions/step-00000300.jsonl`;
  await Deno.copyFile(`${seedDir}/pred.jsonl`, pred);
  await Deno.copyFile(`${seedDir}/pred.jsonl`, `${dir}/predictions/step-00000100.jsonl`);
  const { metrics, provenance } = await scoreGrid(pred);
  await writeAccuracy(metrics, { model: "trm-attn", task: "sudoku" }, provenance, `${dir}/score`);
  const { bytes, info } = await packRun(dir);
  assert.deepEqual(info.seeds[0].predictions, ["step-00000300.jsonl"]);
  const e = await verifyBundle(bytes);
  assert.equal(e.seeds[0].metrics.exact_accuracy, 100 * 12 / 64);
});

Deno.test("pack refuses a run without scores, or whose predictions changed after scoring", async () => {
  const r = await tempDir("lb-bundle-bad-");
  const dir = await makeRun(r, { task: "sudoku" });
  await Deno.rename(`${dir}/score`, `${dir}/score.away`);
  await assert.rejects(packRun(dir), /score\/accuracy\.csv: missing — the run has no scores/);
  await Deno.rename(`${dir}/score.away`, `${dir}/score`);
  await Deno.writeTextFile(`${dir}/pred.jsonl`, "\n", { append: true });
  await assert.rejects(packRun(dir), /pred\.jsonl is not the file .* computed from .*: rescore/);
  await assert.rejects(packRun(`${r}/nothing`), /no such folder/);
  await assert.rejects(packRun(r), /not a run folder/);
  // Two models in one folder of seeds.
  const mixed = `${r}/mixed`;
  await makeRun(`${r}/m`, { task: "sudoku", model: "trm-attn", seed: 0 });
  await makeRun(`${r}/m`, { task: "sudoku", model: "trm-mlp-t", seed: 1 });
  await Deno.mkdir(mixed);
  await Deno.rename(`${r}/m/sudoku/trm-attn/seed-0`, `${mixed}/seed-0`);
  await Deno.rename(`${r}/m/sudoku/trm-mlp-t/seed-1`, `${mixed}/seed-1`);
  await assert.rejects(packRun(mixed), /model trm-mlp-t, another seed has trm-attn/);
});

Deno.test("readBundle refuses what is not a bundle", () => {
  const refuses = (bytes: Uint8Array, field: RegExp) =>
    assert.throws(
      () => readBundle(bytes),
      (e: unknown) => e instanceof Refused && field.test(e.field),
    );
  refuses(new TextEncoder().encode("not a zip"), /^bundle$/);
  refuses(zipBundle(new Map([["../evil", new Uint8Array(1)]])), /evil/);
  refuses(zipSync({ "bundle.json": new Uint8Array(1) }), /^SHA256SUMS$/);
  refuses(zipBundle(new Map()).subarray(0, 10), /^bundle$/);
});

Deno.test("(cleanup) temporary folders", removeTemporaries);

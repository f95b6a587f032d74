/**
 * Checkpoint integrity: checksums catch a flipped bit, swapped header offsets and an edited step;
 * non-finite state is neither saved nor loaded; a corrupt current checkpoint falls back to the
 * previous one; a full disk names the file and leaves the previous checkpoint and no temporary.
 */
import assert from "node:assert/strict";
import { createRefBackend } from "../engine/backends/ref/mod.ts";
import { WriteError } from "../engine/atomic_write.ts";
import { Rng } from "../engine/rng.ts";
import { createTrm } from "./model.ts";
import { Trainer, WHOLE_BATCH } from "./trainer.ts";
import { tinyHyper, tinyModelConfig, withTempDir } from "./testing.ts";
import {
  CHECKPOINT_FILE,
  CheckpointCorruptError,
  type CheckpointInfo,
  CORRUPT_FILE,
  loadLatestCheckpoint,
  metadataDigest,
  NonFiniteError,
  PREVIOUS_FILE,
  readCheckpoint,
  saveCheckpoint,
  tensorDigest,
  UNVERIFIED_FORMAT,
} from "./checkpoint.ts";

const CFG = tinyModelConfig();

const INFO: CheckpointInfo = {
  configHash: "c0ffee",
  configJson: "{}",
  datasetHash: "da7a",
  dataPosition: { pass: 0, consumed: 3 },
  rngs: { trainer: new Rng(1).state() },
  commit: "test",
};

function trainer(): Trainer {
  const be = createRefBackend();
  const rng = new Rng(7);
  const m = createTrm(be, rng.fork("model"), CFG);
  const tr = new Trainer(m, tinyHyper(2), rng.fork("act"), WHOLE_BATCH);
  // Distinct moments, so that no two same-shaped tensors hold equal bytes.
  tr.opt.m.forEach((t, i) => t.backend.upload(t.buf, new Array(t.size).fill(1e-3 * (i + 1))));
  tr.opt.v.forEach((t, i) => t.backend.upload(t.buf, new Array(t.size).fill(2e-6 * (i + 1))));
  return tr;
}

/** Reads a safetensors file's header JSON and data bytes. */
function split(bytes: Uint8Array): { header: Record<string, unknown>; data: Uint8Array } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  return { header, data: bytes.subarray(8 + n) };
}

/** A safetensors file of `header` and `data` (header padded to 8 bytes). */
function join(header: Record<string, unknown>, data: Uint8Array): Uint8Array {
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8) json += " ";
  const h = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

type Entry = { dtype: string; shape: number[]; data_offsets: [number, number] };

async function corrupted(
  src: string,
  dst: string,
  edit: (header: Record<string, unknown>, data: Uint8Array) => void,
) {
  const { header, data } = split(await Deno.readFile(src));
  const copy = data.slice();
  edit(header, copy);
  await Deno.writeFile(dst, join(header, copy));
}

async function corruptError(path: string): Promise<CheckpointCorruptError> {
  try {
    await readCheckpoint(path);
  } catch (e) {
    assert.ok(e instanceof CheckpointCorruptError, String(e));
    assert.ok(e.message.startsWith(path), e.message);
    return e;
  }
  throw new assert.AssertionError({ message: `${path} was read without complaint` });
}

/** A trainer at step 10 whose step-5 checkpoint is saved in `dir`; that file and its bytes. */
async function savedAtStep5(
  dir: string,
): Promise<{ tr: Trainer; path: string; before: Uint8Array }> {
  const tr = trainer();
  tr.step = 5;
  const path = await saveCheckpoint(dir, tr, INFO);
  const before = await Deno.readFile(path);
  tr.step = 10;
  return { tr, path, before };
}

/** `dir` holds the checkpoint `path` alone, its bytes still `before`. */
async function assertKeptAlone(dir: string, path: string, before: Uint8Array): Promise<void> {
  assert.deepEqual(await Deno.readFile(path), before);
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [CHECKPOINT_FILE]);
}

Deno.test("checkpoint: a flipped bit, swapped offsets, an edited step or NaN data are refused, naming file and tensor", async () => {
  await withTempDir("trm-ckpt-", async (dir) => {
    const tr = trainer();
    tr.step = 3;
    const path = await saveCheckpoint(dir, tr, INFO);
    const good = await readCheckpoint(path);
    assert.equal(good.step, 3);

    // One bit of one tensor's data.
    const flip = `${dir}/flip.safetensors`;
    let victim = "";
    await corrupted(path, flip, (h, data) => {
      victim = "param/lm_head.weight";
      const [b] = (h[victim] as Entry).data_offsets;
      data[b + 5] ^= 0x10;
    });
    const e1 = await corruptError(flip);
    assert.match(e1.message, new RegExp(`tensor ${victim} fails its checksum`));

    // Two tensors of the same shape and dtype trade places in the header.
    const swap = `${dir}/swap.safetensors`;
    await corrupted(path, swap, (h) => {
      const a = h["adam_m/lm_head.weight"] as Entry, b = h["adam_v/lm_head.weight"] as Entry;
      [a.data_offsets, b.data_offsets] = [b.data_offsets, a.data_offsets];
    });
    assert.match((await corruptError(swap)).message, /tensor adam_[mv]\/lm_head.weight fails/);

    // The stored step changed (metadata only).
    const step = `${dir}/step.safetensors`;
    await corrupted(path, step, (h) => {
      (h.__metadata__ as Record<string, string>).step = "7";
    });
    assert.match((await corruptError(step)).message, /metadata .* fails its checksum/);

    // Truncated.
    const bytes = await Deno.readFile(path);
    const cut = `${dir}/cut.safetensors`;
    await Deno.writeFile(cut, bytes.subarray(0, bytes.length - 100));
    assert.match((await corruptError(cut)).message, /not a readable safetensors file/);

    // NaN data with valid checksums (as a buggy writer would produce): refused on load.
    const nan = `${dir}/nan.safetensors`;
    await corrupted(path, nan, (h, data) => {
      const e = h["ema/q_head.bias"] as Entry;
      new DataView(data.buffer, data.byteOffset).setFloat32(e.data_offsets[0] + 4, NaN, true);
      const m = h.__metadata__ as Record<string, string>;
      const digests = JSON.parse(m.tensor_sha256);
      const [b, en] = e.data_offsets;
      digests["ema/q_head.bias"] = tensorDigest("ema/q_head.bias", {
        dtype: "F32",
        shape: e.shape,
        data: new Float32Array(data.slice(b, en).buffer),
      });
      m.tensor_sha256 = JSON.stringify(digests);
      m.metadata_sha256 = metadataDigest(m);
    });
    assert.match(
      (await corruptError(nan)).message,
      /non-finite values in ema\/q_head.bias \(1 of 2 values, first NaN at 1\)/,
    );

    // A checkpoint from before checksums: loaded, with a warning.
    const legacy = `${dir}/legacy.safetensors`;
    await corrupted(path, legacy, (h) => {
      const m = h.__metadata__ as Record<string, string>;
      m.format = UNVERIFIED_FORMAT;
      delete m.tensor_sha256;
      delete m.metadata_sha256;
    });
    const warnings: string[] = [];
    const old = await readCheckpoint(legacy, { warn: (l) => warnings.push(l) });
    assert.equal(old.step, 3);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /before checkpoints carried checksums.*cannot be verified/);
  });
});

Deno.test("checkpoint: non-finite parameters, EMA or moments are never saved; the previous checkpoint stays", async () => {
  await withTempDir("trm-ckpt-inf-", async (dir) => {
    const { tr, path, before } = await savedAtStep5(dir);
    const i = Object.keys(tr.model.params).indexOf("q_head.bias");
    tr.ema.shadow[i].backend.upload(tr.ema.shadow[i].buf, [-5, Infinity]);
    await assert.rejects(saveCheckpoint(dir, tr, INFO), (e: unknown) => {
      assert.ok(e instanceof NonFiniteError, String(e));
      assert.match(e.message, /step-10 checkpoint/);
      assert.match(e.message, /ema\/q_head.bias \(1 of 2 values, first Infinity at 1\)/);
      assert.match(e.message, new RegExp(`previous ${path} is kept`));
      return true;
    });
    await assertKeptAlone(dir, path, before);
  });
});

Deno.test("checkpoint: a full disk names the file, keeps the previous checkpoint, leaves no temporary", async () => {
  await withTempDir("trm-ckpt-full-", async (dir) => {
    const { tr, path, before } = await savedAtStep5(dir);
    let calls = 0;
    const full = async (f: Deno.FsFile, b: Uint8Array) => {
      if (calls++ === 0) return await f.write(b.subarray(0, 1000)); // some bytes land first
      throw new Error("No space left on device (os error 28)");
    };
    await assert.rejects(saveCheckpoint(dir, tr, INFO, { write: full }), (e: unknown) => {
      assert.ok(e instanceof WriteError, String(e));
      assert.ok(e.diskFull);
      assert.match(e.message, new RegExp(`cannot write ${dir}/checkpoint.next.safetensors`));
      assert.match(e.message, /the step-10 checkpoint/);
      assert.match(e.message, /No space left on device.*the disk is full/);
      assert.match(e.message, new RegExp(`the previous checkpoint ${path} is intact`));
      return true;
    });
    await assertKeptAlone(dir, path, before);
    assert.equal((await readCheckpoint(path)).step, 5);
  });
});

Deno.test("checkpoint: a corrupt current checkpoint falls back to the previous one; both bad is an error naming both", async () => {
  await withTempDir("trm-ckpt-fallback-", async (dir) => {
    const tr = trainer();
    const cur = `${dir}/${CHECKPOINT_FILE}`, prev = `${dir}/${PREVIOUS_FILE}`;
    tr.step = 5;
    await saveCheckpoint(dir, tr, INFO);
    tr.step = 10;
    await saveCheckpoint(dir, tr, INFO);
    const flipByte = async (path: string, at: number) => {
      const b = await Deno.readFile(path);
      b[b.length - at] ^= 0xff;
      await Deno.writeFile(path, b);
    };

    await flipByte(cur, 10);
    const warnings: string[] = [];
    const ck = await loadLatestCheckpoint(dir, { warn: (l) => warnings.push(l) });
    assert.equal(ck?.step, 5);
    assert.equal(ck?.path, prev);
    assert.equal(warnings.length, 1);
    assert.ok(warnings[0].includes(cur) && warnings[0].includes(prev), warnings[0]);
    assert.match(warnings[0], /fails its checksum/);
    // Moved aside, so the next save cannot rotate it over the intact previous checkpoint.
    assert.ok(!(await Deno.stat(cur).catch(() => null)));
    assert.ok(await Deno.stat(`${dir}/${CORRUPT_FILE}`));

    // Both bad: one error naming both files.
    await Deno.rename(`${dir}/${CORRUPT_FILE}`, cur);
    await flipByte(prev, 20);
    await assert.rejects(loadLatestCheckpoint(dir, { warn: () => {} }), (e: unknown) => {
      assert.ok(e instanceof CheckpointCorruptError, String(e));
      assert.ok(e.message.includes(cur) && e.message.includes(prev), e.message);
      assert.match(e.message, /no usable checkpoint/);
      return true;
    });

    // Only a corrupt current one: named, with "no previous".
    await Deno.remove(prev);
    await assert.rejects(loadLatestCheckpoint(dir, { warn: () => {} }), (e: unknown) => {
      assert.ok(e instanceof CheckpointCorruptError, String(e));
      assert.ok(e.message.includes(cur), e.message);
      assert.match(e.message, new RegExp(`no ${PREVIOUS_FILE.replaceAll(".", "\\.")}`));
      return true;
    });
    assert.equal(await loadLatestCheckpoint(`${dir}/empty`), null);
  });
});

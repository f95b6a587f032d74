/**
 * submit end to end on small fixture runs (testing.ts, the smoke preset's real data): a good
 * bundle is accepted with recomputed numbers; each kind of bad bundle is refused with one error
 * naming the field, and the database is left as it was.
 */
import assert from "node:assert/strict";
import { packRun, Refused } from "./bundle.ts";
import { insertEntry, listEntries, openDb, submitBundle } from "./db.ts";
import {
  editBundle,
  editJson,
  getText,
  headCommit,
  makeRun,
  removeTemporaries,
  setText,
  tempDir,
} from "./testing.ts";
import { verifyBundle } from "./verify.ts";
import { configHash, type RunConfig } from "../../recursion/run/config.ts";

const root = await tempDir("lb-submit-");
const sudokuDir = await makeRun(root, { task: "sudoku", right: 40 });
const sudoku = (await packRun(sudokuDir)).bytes;
const arcDir = await makeRun(root, { task: "arc", right: 8 });
const arc = (await packRun(arcDir)).bytes;

let n = 0;
async function write(bytes: Uint8Array): Promise<string> {
  const p = `${root}/bundle-${n++}.zip`;
  await Deno.writeFile(p, bytes);
  return p;
}

/** Submits `bytes` to a fresh database; expects a refusal whose field matches `field`. */
async function refused(bytes: Uint8Array, field: RegExp, reason?: RegExp): Promise<void> {
  const db = openDb(`${root}/db-${n}.sqlite`);
  try {
    await assert.rejects(submitBundle(db, await write(bytes)), (e: unknown) => {
      assert.ok(e instanceof Refused, `not a refusal: ${e}`);
      assert.match(e.field, field, e.message);
      if (reason) assert.match(e.reason, reason, e.message);
      assert.ok(!e.message.includes("\n"), `one line: ${e.message}`);
      return true;
    });
    assert.deepEqual(listEntries(db), [], "nothing written");
  } finally {
    db.close();
  }
}

Deno.test("good Sudoku bundle: accepted with every number recomputed", async () => {
  const db = openDb(`${root}/good-sudoku.sqlite`);
  try {
    const lines: string[] = [];
    const e = await submitBundle(db, await write(sudoku), { log: (l) => lines.push(l) });
    assert.equal(e.id, 1);
    assert.equal(e.task, "sudoku");
    assert.equal(e.preset, "smoke");
    assert.equal(e.commit, headCommit());
    assert.equal(e.seeds.length, 1);
    assert.equal(e.seeds[0].metrics.exact_accuracy, 100 * 40 / 64);
    assert.ok(e.params > 0);
    assert.equal(e.dtype, "f32");
    assert.match(e.datasetHash!, /^[0-9a-f]{64}$/);
    assert.deepEqual(listEntries(db), [e]);
    assert.ok(lines.some((l) => l.includes("every claim matches")), lines.join("\n"));
  } finally {
    db.close();
  }
});

Deno.test("good ARC bundle (votes pooled over two evaluations): pass@K recomputed", async () => {
  const db = openDb(`${root}/good-arc.sqlite`);
  try {
    const e = await submitBundle(db, await write(arc));
    assert.equal(e.task, "arc");
    assert.deepEqual(e.seeds[0].passAtK.map((p) => p.k), [1, 2, 5, 10, 100, 1000]);
    const at2 = e.seeds[0].passAtK.find((p) => p.k === 2)!.value;
    assert.ok(at2 > 0 && at2 <= 100, `pass@2 ${at2}`);
  } finally {
    db.close();
  }
});

Deno.test("tampered prediction: the checksum fails, naming the file", async () => {
  const bad = editBundle(sudoku, (f) => {
    const t = getText(f, "seed-0/predictions/pred.jsonl");
    setText(f, "seed-0/predictions/pred.jsonl", t.replace('"steps":4', '"steps":5'));
  }, false);
  await refused(bad, /^seed-0\/predictions\/pred\.jsonl$/, /checksum mismatch/);
  // A file added without a manifest line, and a listed file removed.
  await refused(editBundle(sudoku, (f) => setText(f, "seed-0/extra.txt", "x"), false), /extra/);
  await refused(
    editBundle(sudoku, (f) => f.delete("seed-0/score/accuracy.csv"), false),
    /accuracy\.csv/,
    /not in the bundle/,
  );
});

Deno.test("tampered claim (manifest rewritten): the recomputed score differs, field named", async () => {
  const bad = editBundle(sudoku, (f) => {
    const p = "seed-0/score/accuracy.csv";
    setText(f, p, getText(f, p).replace(/exact_accuracy_pct,62\.5,/, "exact_accuracy_pct,90,"));
  }, true);
  await refused(
    bad,
    /^seed-0\/score\/accuracy\.csv exact_accuracy_pct value$/,
    /claimed 90, recomputed 62\.5/,
  );
  const arcBad = editBundle(arc, (f) => {
    const p = "seed-0/score/pass_at_k.csv";
    const rows = getText(f, p).split("\n");
    rows[2] = rows[2].replace(/^(trm-attn,2,)[^,]*/, "$1100");
    setText(f, p, rows.join("\n"));
  }, true);
  await refused(arcBad, /pass_at_k\.csv k=2 pass_at_k_pct$/);
});

Deno.test("labels come from the task data: predictions with their own labels are scored right", async () => {
  // Every row's label replaced by its prediction, and 100 % claimed: a scorer that trusted the
  // file's labels would agree; the test split's labels do not.
  const bad = editBundle(sudoku, (f) => {
    const p = "seed-0/predictions/pred.jsonl";
    const rows = getText(f, p).trim().split("\n").map((l) => JSON.parse(l));
    setText(f, p, rows.map((r) => JSON.stringify({ ...r, label: r.prediction })).join("\n") + "\n");
    const a = "seed-0/score/accuracy.csv";
    setText(f, a, getText(f, a).replace(/exact_accuracy_pct,62\.5,/, "exact_accuracy_pct,100,"));
  }, true);
  // (the predictions_sha256 column now names the old file: the value is checked first)
  await refused(bad, /accuracy\.csv exact_accuracy_pct value$/, /recomputed 62\.5/);
});

Deno.test("dirty, unknown and foreign commits are refused", async () => {
  for (
    const [commit, why] of [
      [`${headCommit()}-dirty`, /uncommitted/],
      ["unknown", /missing/],
      ["0123456789ab", /not a commit of this repository/],
    ] as const
  ) {
    const bad = editBundle(sudoku, (f) => {
      editJson(f, "seed-0/config.json", (v) => {
        v.commit = commit;
        (v.machine as Record<string, unknown>).commit = commit;
      });
      editJson(f, "bundle.json", (v) => (v.provenance as Record<string, unknown>).commit = commit);
    }, true);
    await refused(bad, /^seed-0\/config\.json commit$/, why);
  }
});

Deno.test("duplicates: the same bundle, or the same config key and seed, are refused", async () => {
  const path = `${root}/dup.sqlite`;
  const db = openDb(path);
  try {
    await submitBundle(db, await write(sudoku));
    await assert.rejects(submitBundle(db, await write(sudoku)), /bundle sha256: duplicate/);
    // Repacked under another name: another file, the same configuration and seed.
    const renamed = (await packRun(sudokuDir, { name: "again" })).bytes;
    await assert.rejects(
      submitBundle(db, await write(renamed)),
      (e: unknown) => e instanceof Refused && /config key \+ seeds/.test(e.field),
    );
    // Even when the early check is skipped, the transaction's own check refuses it.
    const v = await verifyBundle(sudoku);
    assert.throws(() => insertEntry(db, v), /bundle sha256: duplicate/);
    assert.equal(listEntries(db).length, 1);
  } finally {
    db.close();
  }
});

Deno.test("unknown preset, missing scale: refused naming the field", async () => {
  const bad = editBundle(sudoku, (f) => {
    editJson(f, "bundle.json", (v) => (v.preset = "giant"));
  }, true);
  await refused(bad, /^bundle\.json preset$/, /unknown scale preset "giant"/);
  await refused(
    editBundle(sudoku, (f) => editJson(f, "bundle.json", (v) => (v.scale = " ")), true),
    /^bundle\.json scale$/,
  );
});

Deno.test("config hash, parameter count and dataset are recomputed, not taken", async () => {
  // A configuration changed without its hash.
  await refused(
    editBundle(sudoku, (f) =>
      editJson(f, "seed-0/config.json", (v) => {
        (v.config as { train: { lr: number } }).train.lr = 0.5;
      }), true),
    /^seed-0\/config\.json configHash$/,
  );
  await refused(
    editBundle(
      sudoku,
      (f) => editJson(f, "seed-0/config.json", (v) => (v.trainableParams = 7e6)),
      true,
    ),
    /^seed-0\/config\.json trainableParams$/,
  );
  await refused(
    editBundle(sudoku, (f) =>
      editJson(f, "seed-0/config.json", (v) => {
        (v.dataset as { contentHash: string }).contentHash = "0".repeat(64);
      }), true),
    /^seed-0\/config\.json dataset\.contentHash$/,
  );
  // A checkpoint is not accepted, even listed in the manifest.
  await refused(
    editBundle(sudoku, (f) => setText(f, "seed-0/checkpoint.safetensors", "x"), true),
    /checkpoint\.safetensors/,
    /unexpected file/,
  );
});

Deno.test("ARC: votes of only some evaluations, or some examples left out, are refused", async () => {
  // Only the first evaluation's votes (not the final one's), or the evaluations reordered.
  const early = editBundle(arc, (f) => {
    f.delete("seed-0/predictions/step-00000040.jsonl");
    editJson(f, "bundle.json", (v) => {
      const s = (v.seeds as { predictions: string[]; pooling: string }[])[0];
      s.predictions = ["step-00000020.jsonl"];
      s.pooling = "single";
    });
  }, true);
  await refused(early, /predictions$/, /not the final evaluation's/);
  const reordered = editBundle(arc, (f) => {
    editJson(f, "bundle.json", (v) => {
      const s = (v.seeds as { predictions: string[] }[])[0];
      s.predictions.reverse();
    });
  }, true);
  await refused(reordered, /predictions$/, /must count every evaluation/);
  const fewer = editBundle(arc, (f) => {
    const p = "seed-0/predictions/step-00000020.jsonl";
    setText(f, p, getText(f, p).trim().split("\n").slice(1).join("\n") + "\n");
  }, true);
  await refused(fewer, /step-00000020\.jsonl:1$/, /puzzle/);
});

Deno.test("a multi-seed folder packs into one entry; seeds must share the configuration", async () => {
  const r2 = await tempDir("lb-seeds-");
  await makeRun(r2, { task: "sudoku", seed: 0, right: 10 });
  await makeRun(r2, { task: "sudoku", seed: 1, right: 20 });
  const { bytes, info } = await packRun(`${r2}/sudoku/trm-attn`);
  assert.deepEqual(info.seeds.map((s) => s.seed), [0, 1]);
  const db = openDb(`${root}/seeds.sqlite`);
  try {
    const e = await submitBundle(db, await write(bytes));
    assert.deepEqual(e.seeds.map((s) => s.metrics.exact_accuracy), [100 * 10 / 64, 100 * 20 / 64]);
  } finally {
    db.close();
  }
  const mixed = editBundle(bytes, (f) => {
    let hash = "";
    editJson(f, "seed-1/config.json", (v) => {
      const c = v.config as RunConfig;
      c.train.lr = 0.002;
      v.configHash = hash = configHash(c);
    });
    editJson(f, "bundle.json", (v) => ((v.seeds as { configHash: string }[])[1].configHash = hash));
  }, true);
  await refused(mixed, /^seed-1\/config\.json config$/, /more than the seed: train\.lr/);
});

Deno.test("(cleanup) temporary folders", removeTemporaries);

/**
 * The database: migrations (v1 → v2 keeps the entries; a newer schema is refused), one
 * transaction per submission (an error after the first insert rolls everything back), and a
 * submission SIGKILLed mid-transaction in another process leaves the database as it was and
 * intact (PRAGMA integrity_check).
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { sha256Hex } from "../../tasks/io.ts";
import { packRun } from "./bundle.ts";
import {
  insertEntry,
  listEntries,
  MIGRATIONS,
  openDb,
  SCHEMA_VERSION,
  schemaVersion,
  submitBundle,
} from "./db.ts";
import { makeRun, removeTemporaries, tempDir } from "./testing.ts";
import { type VerifiedEntry, verifyBundle } from "./verify.ts";

const root = await tempDir("lb-db-");
const run0 = await makeRun(root, { task: "sudoku", seed: 0, right: 30 });
const run1 = await makeRun(root, { task: "sudoku", seed: 1, right: 20 });
const bundle0 = `${root}/seed0.zip`, bundle1 = `${root}/seed1.zip`;
await Deno.writeFile(bundle0, (await packRun(run0)).bytes);
await Deno.writeFile(bundle1, (await packRun(run1)).bytes);
const verified0: VerifiedEntry = await verifyBundle(await Deno.readFile(bundle0));

Deno.test("migrations: a fresh database is at the latest version; v1 → v2 keeps entries", () => {
  assert.equal(SCHEMA_VERSION, 2);
  const fresh = openDb(`${root}/fresh.sqlite`);
  assert.equal(schemaVersion(fresh), 2);
  const versions = fresh.prepare("SELECT version, description FROM schema_version ORDER BY version")
    .all() as { version: number }[];
  assert.deepEqual(versions.map((v) => v.version), [1, 2]);
  fresh.close();

  // A database made by the v1 code, with an entry in it.
  const path = `${root}/v1.sqlite`;
  const v1 = openDb(path, { migrateTo: 1 });
  assert.equal(schemaVersion(v1), 1);
  const cols = () =>
    (v1.prepare("PRAGMA table_info(entries)").all() as { name: string }[]).map((c) => c.name);
  assert.ok(!cols().includes("dataset_hash"));
  v1.prepare(
    `INSERT INTO entries (name, task, preset, scale, model, params, backend, dtype, device,
       commit_sha, config_key, submitted_at, bundle_sha256)
     VALUES ('old', 'sudoku', 'smoke', 's', 'trm-attn', 1, 'cpu', 'f32', 'd', 'c', 'k', 't', 'b')`,
  ).run();
  v1.prepare("INSERT INTO entry_seeds VALUES (1, 0, 'k', 'h')").run();
  v1.prepare("INSERT INTO seed_metrics VALUES (1, 0, 'exact_accuracy', NULL, 50)").run();
  const before = listEntries(v1);
  assert.equal(before[0].datasetHash, undefined); // v1 has no such column
  v1.close();

  // Read-only, the v1 database is read as it is (render uses this).
  const ro = openDb(path, { readonly: true });
  assert.equal(schemaVersion(ro), 1);
  assert.equal(listEntries(ro).length, 1);
  ro.close();

  const v2 = openDb(path);
  assert.equal(schemaVersion(v2), 2);
  const after = listEntries(v2);
  assert.deepEqual(after, [{ ...before[0], datasetHash: "" }]);
  assert.ok(
    v2.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'entries_board'")
      .get(),
  );
  // The v2 code stores the new column.
  const e = insertEntry(v2, verified0);
  assert.equal(e.datasetHash, verified0.datasetHash);
  v2.close();
});

Deno.test("a database of a newer schema than the code is refused", () => {
  const path = `${root}/newer.sqlite`;
  openDb(path).close();
  const raw = new DatabaseSync(path);
  raw.prepare("INSERT INTO schema_version VALUES (?, 'from the future', 'now')").run(
    MIGRATIONS.length + 1,
  );
  raw.close();
  assert.throws(() => openDb(path), /schema version 3 is newer than this code's \(2\)/);
});

Deno.test("an error after the first insert rolls the whole submission back", async () => {
  const path = `${root}/rollback.sqlite`;
  const db = openDb(path);
  try {
    await submitBundle(db, bundle1);
    const before = listEntries(db);
    assert.throws(
      () =>
        insertEntry(db, verified0, {
          afterFirstInsert: () => {
            throw new Error("injected failure");
          },
        }),
      /injected failure/,
    );
    assert.equal(db.isTransaction, false);
    assert.deepEqual(listEntries(db), before);
    const n = db.prepare("SELECT COUNT(*) AS n FROM entries").get() as { n: number };
    assert.equal(n.n, 1);
  } finally {
    db.close();
  }
});

Deno.test("a submission SIGKILLed mid-transaction leaves the database as it was", async () => {
  const path = `${root}/kill.sqlite`;
  const db = openDb(path);
  await submitBundle(db, bundle1); // one entry already there
  const before = listEntries(db);
  db.close();
  const bytesBefore = sha256Hex(await Deno.readFile(path));

  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-check",
      "--allow-all",
      new URL("./cli.ts", import.meta.url).pathname,
      "submit",
      bundle0,
      "--db",
      path,
    ],
    env: { TRM_LEADERBOARD_TEST_PAUSE: "60" },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // Wait until it says it is inside the transaction, after its first insert.
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let err = "";
  const deadline = Date.now() + 60_000;
  while (!err.includes("test pause inside the transaction")) {
    const { value, done } = await reader.read();
    if (done || Date.now() > deadline) break;
    err += value;
  }
  assert.match(err, /test pause inside the transaction \(entry #2 inserted\)/);
  child.kill("SIGKILL");
  const status = await child.status;
  assert.equal(status.signal, "SIGKILL");
  await reader.cancel().catch(() => {});
  // It died inside the transaction: its rollback journal is left behind beside the database.
  assert.ok((await Deno.stat(`${path}-journal`)).isFile);

  const after = openDb(path);
  try {
    const check = after.prepare("PRAGMA integrity_check").all().map((r) => ({ ...r }));
    assert.deepEqual(check, [{ integrity_check: "ok" }]);
    assert.deepEqual(listEntries(after), before);
  } finally {
    after.close();
  }
  assert.equal(sha256Hex(await Deno.readFile(path)), bytesBefore, "the file's bytes are unchanged");
  // And the submission goes through when it is not interrupted.
  const again = openDb(path);
  try {
    const e = await submitBundle(again, bundle0);
    assert.equal(e.id, 2);
  } finally {
    again.close();
  }
});

Deno.test("(cleanup) temporary folders", removeTemporaries);

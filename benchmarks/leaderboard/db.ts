/**
 * The leaderboard database: SQLite through Deno's built-in `node:sqlite` (DatabaseSync), with a
 * schema version table and numbered migrations, and one transaction per submission.
 *
 * Schema (v2):
 *
 *   schema_version(version INTEGER PRIMARY KEY, description TEXT, applied_at TEXT)
 *   entries(id INTEGER PRIMARY KEY AUTOINCREMENT, name, task, preset, scale, model,
 *           params INTEGER, backend, dtype, device, commit_sha, config_key, submitted_at,
 *           bundle_sha256 UNIQUE, dataset_hash (v2))
 *   entry_seeds(entry_id → entries, seed, config_key, config_hash;
 *               PRIMARY KEY (entry_id, seed), UNIQUE (config_key, seed))
 *   seed_metrics(entry_id, seed → entry_seeds, metric, k INTEGER NULL, value REAL NULL)
 *
 * A migration is a number, a description and SQL; `openDb` applies those above the database's
 * version, each in its own transaction together with its schema_version row, so a database is
 * always at one whole version. To add v3: append `{ version: 3, description, sql }` to
 * MIGRATIONS (never edit an applied one) and read the new column in `listEntries`.
 *
 * `insertEntry` runs BEGIN IMMEDIATE … COMMIT (ROLLBACK on any error): the duplicate checks (same
 * bundle sha256; same config key with a seed already entered) and the inserts happen under the
 * write lock, so two submissions cannot both pass; UNIQUE constraints back them. Verification
 * (verify.ts) runs before, outside the transaction, and writes nothing.
 */
import { DatabaseSync } from "node:sqlite";
import { readIntSwitch } from "../../engine/switches.ts";
import { sha256Hex } from "../../tasks/io.ts";
import { Refused } from "./bundle.ts";
import type { Entry, EntrySeed, LeaderboardTask } from "./entry.ts";
import { type VerifiedEntry, verifyBundle, type VerifyOptions } from "./verify.ts";

/** Where `submit` keeps the leaderboard by default. */
export const DEFAULT_DB = "results/leaderboard/leaderboard.sqlite";

export interface Migration {
  version: number;
  description: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: "entries, their seeds and recomputed metrics",
    sql: `
      CREATE TABLE entries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        task TEXT NOT NULL CHECK (task IN ('arc', 'sudoku', 'maze')),
        preset TEXT NOT NULL,
        scale TEXT NOT NULL,
        model TEXT NOT NULL,
        params INTEGER NOT NULL,
        backend TEXT NOT NULL,
        dtype TEXT NOT NULL,
        device TEXT NOT NULL,
        commit_sha TEXT NOT NULL,
        config_key TEXT NOT NULL,
        submitted_at TEXT NOT NULL,
        bundle_sha256 TEXT NOT NULL UNIQUE
      );
      CREATE TABLE entry_seeds (
        entry_id INTEGER NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
        seed INTEGER NOT NULL,
        config_key TEXT NOT NULL,
        config_hash TEXT NOT NULL,
        PRIMARY KEY (entry_id, seed),
        UNIQUE (config_key, seed)
      );
      CREATE TABLE seed_metrics (
        entry_id INTEGER NOT NULL,
        seed INTEGER NOT NULL,
        metric TEXT NOT NULL,
        k INTEGER,
        value REAL,
        FOREIGN KEY (entry_id, seed) REFERENCES entry_seeds(entry_id, seed) ON DELETE CASCADE
      );
      CREATE UNIQUE INDEX seed_metrics_key ON seed_metrics(entry_id, seed, metric, IFNULL(k, -1));
    `,
  },
  {
    version: 2,
    description: "the content hash of the regenerated dataset; an index for the per-board listing",
    sql: `
      ALTER TABLE entries ADD COLUMN dataset_hash TEXT NOT NULL DEFAULT '';
      CREATE INDEX entries_board ON entries(task, preset);
    `,
  },
];

export const SCHEMA_VERSION = MIGRATIONS.at(-1)!.version;

/** The database's schema version (0: empty). */
export function schemaVersion(db: DatabaseSync): number {
  const t = db.prepare(
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
  ).get();
  if (!t) return 0;
  const r = db.prepare("SELECT MAX(version) AS v FROM schema_version").get() as {
    v: number | null;
  };
  return r.v ?? 0;
}

/** Runs `fn` in one BEGIN IMMEDIATE … COMMIT transaction; ROLLBACK on any error. */
export function transaction<T>(db: DatabaseSync, fn: () => T): T {
  db.exec("BEGIN IMMEDIATE");
  try {
    const out = fn();
    db.exec("COMMIT");
    return out;
  } catch (e) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw e;
  }
}

/** Applies the migrations above the database's version, up to `to` (default: all). */
export function migrate(db: DatabaseSync, to = SCHEMA_VERSION): number {
  let v = schemaVersion(db);
  if (v > SCHEMA_VERSION) {
    throw new Error(
      `database schema version ${v} is newer than this code's (${SCHEMA_VERSION}): update the code`,
    );
  }
  for (const m of MIGRATIONS) {
    if (m.version <= v || m.version > to) continue;
    transaction(db, () => {
      db.exec(
        `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY,
           description TEXT NOT NULL, applied_at TEXT NOT NULL)`,
      );
      db.exec(m.sql);
      db.prepare("INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)")
        .run(m.version, m.description, new Date().toISOString());
    });
    v = m.version;
  }
  return v;
}

/**
 * Opens (creating it if needed) and migrates the database at `path`. `readonly` opens an existing
 * database as it is, without migrating (listEntries reads schema v1 and later). A database that
 * fails SQLite's quick check is refused.
 */
export function openDb(
  path: string,
  opts: { readonly?: boolean; migrateTo?: number } = {},
): DatabaseSync {
  const db = new DatabaseSync(path, { readOnly: opts.readonly ?? false });
  try {
    db.exec("PRAGMA busy_timeout = 5000");
    db.exec("PRAGMA foreign_keys = ON");
    if (!opts.readonly) db.exec("PRAGMA synchronous = FULL");
    const ok = db.prepare("PRAGMA quick_check").all() as { quick_check: string }[];
    if (ok.length !== 1 || ok[0].quick_check !== "ok") {
      throw new Error(
        `${path}: the database is damaged: ${ok.map((r) => r.quick_check).join("; ")}`,
      );
    }
    if (!opts.readonly) migrate(db, opts.migrateTo);
    else if (schemaVersion(db) > SCHEMA_VERSION) {
      throw new Error(`${path}: schema version ${schemaVersion(db)} is newer than this code's`);
    }
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

interface EntryRow {
  id: number;
  name: string;
  task: LeaderboardTask;
  preset: string;
  scale: string;
  model: string;
  params: number;
  backend: string;
  dtype: string;
  device: string;
  commit_sha: string;
  config_key: string;
  submitted_at: string;
  bundle_sha256: string;
  dataset_hash: string;
}

/** Every entry, by id, with its seeds (ascending) and their recomputed metrics. */
export function listEntries(db: DatabaseSync): Entry[] {
  const v2 = schemaVersion(db) >= 2;
  const rows = db.prepare(
    `SELECT *${v2 ? "" : ", '' AS dataset_hash"} FROM entries ORDER BY id`,
  ).all() as unknown as EntryRow[];
  const seedsOf = db.prepare(
    "SELECT seed, config_hash FROM entry_seeds WHERE entry_id = ? ORDER BY seed",
  );
  const metricsOf = db.prepare(
    "SELECT metric, k, value FROM seed_metrics WHERE entry_id = ? AND seed = ? ORDER BY metric, k",
  );
  return rows.map((r) => {
    const seeds = (seedsOf.all(r.id) as { seed: number; config_hash: string }[]).map((s) => {
      const ms = metricsOf.all(r.id, s.seed) as {
        metric: string;
        k: number | null;
        value: number | null;
      }[];
      const seed: EntrySeed = { seed: s.seed, metrics: {}, passAtK: [], configHash: s.config_hash };
      for (const m of ms) {
        const value = m.value ?? NaN;
        if (m.k === null) seed.metrics[m.metric] = value;
        else if (m.metric === "pass_at_k") seed.passAtK.push({ k: m.k, value });
      }
      seed.passAtK.sort((a, b) => a.k - b.k);
      return seed;
    });
    const e: Entry = {
      id: r.id,
      name: r.name,
      task: r.task,
      preset: r.preset,
      scale: r.scale,
      model: r.model,
      params: r.params,
      backend: r.backend,
      dtype: r.dtype,
      device: r.device,
      commit: r.commit_sha,
      configKey: r.config_key,
      seeds,
      submittedAt: r.submitted_at,
      bundleSha256: r.bundle_sha256,
    };
    if (v2) e.datasetHash = r.dataset_hash;
    return e;
  });
}

/** The test-only pause inside the transaction (seconds), from TRM_LEADERBOARD_TEST_PAUSE. */
function testPause(): number {
  return readIntSwitch("TRM_LEADERBOARD_TEST_PAUSE") ?? 0;
}

/** Options of insertEntry / submitBundle. */
export interface InsertOptions {
  /** Submission time (default now). */
  now?: Date;
  /** Called after the first insert, inside the transaction (tests: fail or stall there). */
  afterFirstInsert?: () => void;
}

/** The entry with the same bundle, or sharing a seed of the same configuration, as a refusal. */
function duplicateOf(db: DatabaseSync, e: VerifiedEntry): Refused | null {
  const same = db.prepare("SELECT id FROM entries WHERE bundle_sha256 = ?").get(e.bundleSha256) as
    | { id: number }
    | undefined;
  if (same) {
    return new Refused("bundle sha256", `duplicate: this bundle is entry #${same.id} already`);
  }
  const find = db.prepare("SELECT entry_id FROM entry_seeds WHERE config_key = ? AND seed = ?");
  for (const s of e.seeds) {
    const hit = find.get(e.configKey, s.seed) as { entry_id: number } | undefined;
    if (hit) {
      return new Refused(
        "config key + seeds",
        `duplicate: seed ${s.seed} of configuration ${e.configKey.slice(0, 12)}… is in entry ` +
          `#${hit.entry_id} already`,
      );
    }
  }
  return null;
}

/** Stores a verified entry in one transaction; returns it as listEntries will. */
export function insertEntry(db: DatabaseSync, e: VerifiedEntry, opts: InsertOptions = {}): Entry {
  const submittedAt = (opts.now ?? new Date()).toISOString();
  const id = transaction(db, () => {
    const dup = duplicateOf(db, e);
    if (dup) throw dup;
    const r = db.prepare(
      `INSERT INTO entries (name, task, preset, scale, model, params, backend, dtype, device,
         commit_sha, config_key, submitted_at, bundle_sha256, dataset_hash)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      e.name,
      e.task,
      e.preset,
      e.scale,
      e.model,
      e.params,
      e.backend,
      e.dtype,
      e.device,
      e.commit,
      e.configKey,
      submittedAt,
      e.bundleSha256,
      e.datasetHash,
    );
    const id = Number(r.lastInsertRowid);
    opts.afterFirstInsert?.();
    const pause = testPause();
    if (pause > 0) {
      // Test hook (a kill mid-transaction): say so, then hold the transaction open.
      console.error(`leaderboard: test pause inside the transaction (entry #${id} inserted)`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, pause * 1000);
    }
    const seed = db.prepare(
      "INSERT INTO entry_seeds (entry_id, seed, config_key, config_hash) VALUES (?, ?, ?, ?)",
    );
    const metric = db.prepare(
      "INSERT INTO seed_metrics (entry_id, seed, metric, k, value) VALUES (?, ?, ?, ?, ?)",
    );
    const val = (x: number) => (Number.isFinite(x) ? x : null);
    for (const s of e.seeds) {
      seed.run(id, s.seed, e.configKey, s.configHash);
      for (const [name, v] of Object.entries(s.metrics)) metric.run(id, s.seed, name, null, val(v));
      for (const p of s.passAtK) metric.run(id, s.seed, "pass_at_k", p.k, val(p.value));
    }
    return id;
  });
  return listEntries(db).find((x) => x.id === id)!;
}

/**
 * Verifies the bundle file at `path` (verify.ts) and stores it as a new entry; throws Refused
 * (nothing written) when it fails verification or duplicates an entry.
 */
export async function submitBundle(
  db: DatabaseSync,
  path: string,
  opts: InsertOptions & VerifyOptions = {},
): Promise<Entry> {
  const bytes = await Deno.readFile(path);
  // The cheap duplicate first (the same file again); the rest is checked under the write lock.
  const same = db.prepare("SELECT id FROM entries WHERE bundle_sha256 = ?").get(sha256Hex(bytes)) as
    | { id: number }
    | undefined;
  if (same) {
    throw new Refused("bundle sha256", `duplicate: this bundle is entry #${same.id} already`);
  }
  const verified = await verifyBundle(bytes, opts);
  return insertEntry(db, verified, opts);
}

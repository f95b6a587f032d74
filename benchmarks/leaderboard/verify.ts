/**
 * Verifying a submission bundle before it may become an entry. In order, each step refusing with
 * one `Refused` (field + reason) at the first problem:
 *
 * 1. checksums: every file listed in SHA256SUMS with its sha256, nothing unlisted (bundle.ts);
 * 2. bundle.json: format, name, task, model, a known scale preset, the stated scale, seeds, and
 *    no file but the expected ones (no checkpoints);
 * 3. per seed, the run record (config.json): the configuration validates, its hash recomputed
 *    (recursion/run/config.ts `configHash`) equals the recorded one and the one bundle.json
 *    states, task/model/preset/seed agree with bundle.json, its data is the preset's dataset, and
 *    the seeds differ in nothing but the seed (one config key);
 * 4. provenance: a clean commit (no `-dirty`, not `unknown`, a commit of this repository) for the
 *    run and every resumed part, the same for every seed; backend, dtype and device recomputed
 *    from the records equal what bundle.json states;
 * 5. the dataset regenerated with the project's data code from the configuration (data.ts: a
 *    temporary folder; nothing cached is trusted) has the content hash the run recorded;
 * 6. the parameter count of the model built from the configuration (ref backend) equals the
 *    recorded one;
 * 7. every claimed score recomputed from the predictions against the task data (scores.ts).
 *
 * Only recomputed numbers end up in the returned entry.
 */
import { createHash } from "node:crypto";
import { createRefBackend } from "../../engine/backends/ref/mod.ts";
import { REPO_ROOT } from "../../engine/provenance.ts";
import { Rng } from "../../engine/rng.ts";
import { ALL_MODEL_NAMES } from "../../recursion/config.ts";
import { stepsForEpochs } from "../../recursion/data.ts";
import { createTrm, trmParamCount } from "../../recursion/model.ts";
import {
  canonicalJson,
  configDiff,
  configHash,
  PRESET_NAMES,
  type RunConfig,
  validateConfig,
} from "../../recursion/run/config.ts";
import { modelConfigFor } from "../../recursion/run/loop.ts";
import { runConfig } from "../reproduce/steps.ts";
import {
  BUNDLE_FORMAT,
  BUNDLE_JSON,
  type BundleInfo,
  type BundleSeed,
  MANIFEST,
  provenanceOf,
  readBundle,
  Refused,
  type RunRecord,
  SCORE_FILES,
} from "./bundle.ts";
import type { Entry, EntrySeed, LeaderboardTask } from "./entry.ts";
import { type SeedScores, verifyArcSeed, verifyGridSeed } from "./scores.ts";
import { regenerateDataset, shippedArcTasks } from "./data.ts";

/** An entry as verification produces it (the database adds id and submission time). */
export type VerifiedEntry = Omit<Entry, "id" | "submittedAt"> & { datasetHash: string };

/** The hash of a configuration without its seed: the same for every seed of one entry. */
export function configKey(c: RunConfig): string {
  return createHash("sha256").update(canonicalJson({ ...c, seed: undefined })).digest("hex");
}

const TASKS: readonly LeaderboardTask[] = ["arc", "sudoku", "maze"];
const decode = (b: Uint8Array) => new TextDecoder().decode(b);

function json(files: ReadonlyMap<string, Uint8Array>, path: string): Record<string, unknown> {
  const b = files.get(path);
  if (!b) throw new Refused(path, "missing from the bundle");
  try {
    const v = JSON.parse(decode(b));
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("not an object");
    return v;
  } catch (e) {
    throw new Refused(path, `not a JSON object: ${(e as Error).message}`);
  }
}

// ----------------------------------------------------------------------------- bundle.json

/** bundle.json, checked field by field, and the bundle holding nothing but expected files. */
export function parseBundleInfo(files: ReadonlyMap<string, Uint8Array>): BundleInfo {
  const v = json(files, BUNDLE_JSON);
  const f = (k: string) => `${BUNDLE_JSON} ${k}`;
  if (v.format !== BUNDLE_FORMAT) {
    throw new Refused(f("format"), `expected ${BUNDLE_FORMAT}, got ${JSON.stringify(v.format)}`);
  }
  // deno-lint-ignore no-control-regex
  if (typeof v.name !== "string" || !/^[^\x00-\x1f\x7f]{1,200}$/.test(v.name)) {
    throw new Refused(f("name"), "must be 1–200 characters of text (no control characters)");
  }
  if (!TASKS.includes(v.task as LeaderboardTask)) {
    throw new Refused(f("task"), `unknown task ${JSON.stringify(v.task)} (${TASKS.join(", ")})`);
  }
  if (!(ALL_MODEL_NAMES as readonly unknown[]).includes(v.model)) {
    throw new Refused(f("model"), `unknown model ${JSON.stringify(v.model)}`);
  }
  if (!(PRESET_NAMES as readonly unknown[]).includes(v.preset)) {
    throw new Refused(
      f("preset"),
      `unknown scale preset ${JSON.stringify(v.preset)} (known: ${PRESET_NAMES.join(", ")}): ` +
        `entries rank only within a known preset`,
    );
  }
  if (typeof v.scale !== "string" || v.scale.trim() === "") {
    throw new Refused(f("scale"), "missing: the scale the run was made at must be stated");
  }
  const p = v.provenance as Record<string, unknown> | undefined;
  for (const k of ["commit", "backend", "dtype", "device"]) {
    if (typeof p?.[k] !== "string") throw new Refused(f(`provenance.${k}`), "missing");
  }
  if (!Array.isArray(v.seeds) || v.seeds.length === 0) throw new Refused(f("seeds"), "no seeds");
  const seen = new Set<number>();
  const seeds = v.seeds.map((s: Record<string, unknown>, i: number) => {
    const at = f(`seeds[${i}]`);
    if (!Number.isSafeInteger(s?.seed) || seen.has(s.seed as number)) {
      throw new Refused(`${at}.seed`, `not a seed, or repeated: ${JSON.stringify(s?.seed)}`);
    }
    seen.add(s.seed as number);
    if (s.folder !== `seed-${s.seed}`) throw new Refused(`${at}.folder`, `must be seed-${s.seed}`);
    if (typeof s.configHash !== "string") throw new Refused(`${at}.configHash`, "missing");
    const preds = s.predictions;
    if (
      !Array.isArray(preds) || preds.length === 0 ||
      preds.some((n) => typeof n !== "string" || !/^[A-Za-z0-9_][A-Za-z0-9._-]*\.jsonl$/.test(n))
    ) {
      throw new Refused(`${at}.predictions`, "must list the prediction files (*.jsonl)");
    }
    if (s.pooling !== (preds.length > 1 ? "pooled" : "single")) {
      throw new Refused(`${at}.pooling`, `${preds.length} file(s) are not ${s.pooling}`);
    }
    return s as unknown as BundleSeed;
  }) as BundleSeed[];
  const info = { ...v, seeds } as unknown as BundleInfo;
  // Nothing but the expected files: no checkpoint, no stray file.
  const expected = new Set([BUNDLE_JSON, MANIFEST]);
  for (const s of seeds) {
    expected.add(`${s.folder}/config.json`);
    for (const n of s.predictions) expected.add(`${s.folder}/predictions/${n}`);
    for (const n of SCORE_FILES[info.task]) expected.add(`${s.folder}/score/${n}`);
  }
  for (const path of files.keys()) {
    const resume = /^seed-\d+\/config\.resume-\d+\.json$/.test(path) &&
      seeds.some((s) => path.startsWith(`${s.folder}/`));
    if (!expected.has(path) && !resume) {
      throw new Refused(path, "unexpected file (a bundle holds no checkpoints or other files)");
    }
  }
  return info;
}

// ----------------------------------------------------------------------------- provenance

/** Refuses a commit label that is missing, dirty, not a hash, or not in this repository. */
export function checkCommit(field: string, commit: unknown, root = REPO_ROOT): string {
  if (typeof commit !== "string" || commit === "" || commit === "unknown") {
    throw new Refused(field, `missing (${JSON.stringify(commit)}): runs must name a clean commit`);
  }
  if (commit.includes("-dirty")) {
    throw new Refused(
      field,
      `${commit}: made from uncommitted code; only clean commits are accepted`,
    );
  }
  if (!/^[0-9a-f]{12,40}$/.test(commit)) {
    throw new Refused(field, `${commit}: not a commit hash (12 to 40 hex digits)`);
  }
  let ok = false;
  try {
    ok = new Deno.Command("git", {
      args: ["cat-file", "-e", `${commit}^{commit}`],
      cwd: root,
      stdout: "null",
      stderr: "null",
    }).outputSync().success;
  } catch (e) {
    throw new Refused(field, `${commit}: cannot be checked (git: ${(e as Error).message})`);
  }
  if (!ok) throw new Refused(field, `${commit}: not a commit of this repository`);
  return commit;
}

// ----------------------------------------------------------------------------- the whole

/** Options of `verifyBundle`. */
export interface VerifyOptions {
  /** Progress lines (what was checked). */
  log?: (line: string) => void;
  /** The repository whose history the commits must be in (default: this one). */
  root?: string;
}

/**
 * Verifies a bundle (its bytes) as the module comment says; returns the entry to store, every
 * number recomputed. Throws Refused at the first problem.
 */
export async function verifyBundle(
  bytes: Uint8Array,
  opts: VerifyOptions = {},
): Promise<VerifiedEntry> {
  const log = opts.log ?? (() => {});
  const bundleSha256 = createHash("sha256").update(bytes).digest("hex");
  const files = readBundle(bytes);
  log(`checksums: ${files.size - 1} files match ${MANIFEST}`);
  const info = parseBundleInfo(files);

  // Configuration and provenance, per seed.
  const recs: { seed: BundleSeed; rec: RunRecord; c: RunConfig }[] = [];
  for (const seed of info.seeds) {
    const path = `${seed.folder}/config.json`;
    const rec = json(files, path) as unknown as RunRecord & { config: RunConfig };
    const c = rec.config;
    try {
      validateConfig(c, `${path} config`);
    } catch (e) {
      throw new Refused(`${path} config`, (e as Error).message.replace(`${path} config: `, ""));
    }
    for (const k of ["task", "model", "preset", "scale"] as const) {
      if (c[k] !== info[k]) {
        throw new Refused(`${path} config.${k}`, `${c[k]}, bundle.json states ${info[k]}`);
      }
    }
    if (c.seed !== seed.seed) {
      throw new Refused(`${path} config.seed`, `${c.seed}, not ${seed.seed}`);
    }
    const hash = configHash(c);
    if (rec.configHash !== hash) {
      throw new Refused(
        `${path} configHash`,
        `recorded ${String(rec.configHash).slice(0, 16)}…, recomputed ${hash.slice(0, 16)}… ` +
          `from the configuration`,
      );
    }
    if (seed.configHash !== hash) {
      throw new Refused(`bundle.json seeds[seed ${seed.seed}].configHash`, "not the run's");
    }
    const want = runConfig(c.preset, c.task, c.model, c.seed, c.backend).data;
    if (canonicalJson(c.data) !== canonicalJson(want)) {
      throw new Refused(
        `${path} config.data`,
        `not the ${c.preset} dataset of ${c.task} (${canonicalJson(want)}): entries of a preset ` +
          `are scored on its data`,
      );
    }
    const commit = checkCommit(`${path} commit`, rec.commit, opts.root);
    const machineCommit = (rec.machine as { commit?: unknown } | undefined)?.commit;
    if (machineCommit !== undefined && machineCommit !== commit) {
      throw new Refused(`${path} machine.commit`, `${machineCommit}, the record says ${commit}`);
    }
    for (
      const p of [...files.keys()].filter((p) => p.startsWith(`${seed.folder}/config.resume-`))
    ) {
      const r = json(files, p);
      checkCommit(`${p} commit`, r.commit, opts.root);
      if (r.commit !== commit) {
        throw new Refused(`${p} commit`, `resumed at ${r.commit}, started at ${commit}`);
      }
    }
    const prov = provenanceOf(rec);
    for (const k of ["commit", "backend", "dtype", "device"] as const) {
      if (prov[k] !== info.provenance[k]) {
        throw new Refused(
          `${BUNDLE_JSON} provenance.${k}`,
          `states ${JSON.stringify(info.provenance[k])}, the run record of seed ${seed.seed} ` +
            `says ${JSON.stringify(prov[k])}`,
        );
      }
    }
    if (recs.length && configKey(c) !== configKey(recs[0].c)) {
      const diff = configDiff({ ...recs[0].c, seed: 0 }, { ...c, seed: 0 });
      throw new Refused(
        `${path} config`,
        `differs from seed ${recs[0].seed.seed}'s in more than the seed: ${
          diff.slice(0, 3).join("; ")
        }`,
      );
    }
    recs.push({ seed, rec, c });
  }
  const c0 = recs[0].c;
  log(
    `configuration: hash recomputed for ${recs.length} seed(s); preset ${c0.preset}; clean ` +
      `commit ${info.provenance.commit}`,
  );

  const tmp = await Deno.makeTempDir({ prefix: "trm-leaderboard-" });
  try {
    // The task data, regenerated.
    const t0 = performance.now();
    const ds = await regenerateDataset(c0, tmp, (l) => log(`dataset: ${l}`));
    const datasetHash = ds.metadata.contentHash;
    for (const { seed, rec } of recs) {
      const recorded = (rec as { dataset?: { contentHash?: unknown } }).dataset?.contentHash;
      if (recorded !== datasetHash) {
        throw new Refused(
          `${seed.folder}/config.json dataset.contentHash`,
          `the run recorded ${String(recorded).slice(0, 16)}…, the ${c0.preset} dataset ` +
            `regenerated here is ${datasetHash.slice(0, 16)}…`,
        );
      }
    }
    log(
      `dataset: ${ds.metadata.name} regenerated in ${
        ((performance.now() - t0) / 1000).toFixed(1)
      } s,` +
        ` content hash ${datasetHash.slice(0, 16)}… as recorded; test split ` +
        `${ds.test.numExamples} examples`,
    );

    // The parameter count, from the model the configuration builds.
    const model = createTrm(
      createRefBackend(),
      new Rng(c0.seed).fork("model"),
      modelConfigFor(c0, ds.metadata),
    );
    const params = trmParamCount(model);
    for (const { seed, rec } of recs) {
      if (rec.trainableParams !== params) {
        throw new Refused(
          `${seed.folder}/config.json trainableParams`,
          `recorded ${rec.trainableParams}, the model built from the configuration has ${params}`,
        );
      }
    }
    log(`parameters: ${params} (model built from the configuration)`);

    // Every claimed score, recomputed.
    for (const [path, data] of files) {
      if (!path.startsWith("seed-")) continue;
      const out = `${tmp}/bundle/${path}`;
      await Deno.mkdir(out.replace(/\/[^/]*$/, ""), { recursive: true });
      await Deno.writeFile(out, data);
    }
    const arcTasksDir = info.task === "arc" ? await shippedArcTasks(ds, tmp) : undefined;
    const t = c0.train;
    const totalSteps = t.steps ?? stepsForEpochs(ds.train, t.epochs, t.batchSize);
    const evalEvery = t.evalEvery ??
      Math.max(1, stepsForEpochs(ds.train, t.epochsPerPass, t.batchSize));
    const seeds: EntrySeed[] = [];
    for (const { seed, c } of recs) {
      const input = {
        task: info.task,
        model: info.model,
        seed,
        dir: `${tmp}/bundle/${seed.folder}`,
        files,
        ds,
        totalSteps,
        evalEvery,
        arcTasksDir,
      };
      const s: SeedScores = info.task === "arc"
        ? await verifyArcSeed(input)
        : await verifyGridSeed(input);
      seeds.push({
        seed: seed.seed,
        metrics: s.metrics,
        passAtK: s.passAtK,
        configHash: configHash(c),
      });
      const head = info.task === "arc"
        ? `pass@2 ${s.passAtK.find((p) => p.k === 2)!.value.toFixed(2)} %`
        : `exact ${s.metrics.exact_accuracy.toFixed(2)} %, cell ${
          s.metrics.cell_accuracy.toFixed(2)
        } %`;
      log(
        `seed ${seed.seed}: ${head} recomputed from ${seed.predictions.length} prediction file(s); every claim matches`,
      );
    }
    return {
      name: info.name,
      task: info.task,
      preset: info.preset,
      scale: info.scale,
      model: info.model,
      params,
      backend: info.provenance.backend,
      dtype: info.provenance.dtype,
      device: info.provenance.device,
      commit: info.provenance.commit,
      configKey: configKey(c0),
      seeds,
      bundleSha256,
      datasetHash,
    };
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

import assert from "node:assert/strict";
import { Rng } from "../../engine/rng.ts";
import { evalBatches, IGNORE_LABEL, trainBatches } from "../dataset.ts";
import { gridEquals } from "../grid.ts";
import { openDataset } from "../open.ts";
import { arcTestOptions, writeMiniArc } from "../testing.ts";
import { ARC_AGI_1_DIR, CONCEPTARC_DIR } from "./data.ts";
import { invertAug, parseAugName } from "./augment.ts";
import { type ArcBuildOptions, buildArc, writeArc } from "./build.ts";
import { ARC_EOS, ARC_SEQ_LEN, cropCanvas } from "./encode.ts";
import { loadArcSource } from "./load.ts";
import { prepareArc } from "./prepare.ts";
import { readSwitch } from "../../engine/switches.ts";

const opts = (o: Partial<ArcBuildOptions> = {}) => arcTestOptions(o);

async function withMini<T>(fn: (src: string, tmp: string) => Promise<T>): Promise<T> {
  const tmp = await Deno.makeTempDir();
  try {
    await writeMiniArc(`${tmp}/src`, new Rng(9), { training: 4, evaluation: 3 });
    return await fn(`${tmp}/src`, tmp);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

Deno.test("split rules, shared identifiers, offsets and on-the-fly encoding", () =>
  withMini(async (src, tmp) => {
    const source = await loadArcSource(src);
    const build = buildArc(source.subsets, opts());
    const meta = await writeArc(build, `${tmp}/out`, [{
      kind: "local",
      location: src,
      sha256: source.sha256,
    }]);
    const ds = await openDataset(`${tmp}/out`);
    const training = source.subsets.get("training")!,
      evaluation = source.subsets.get("evaluation")!;
    const versions = build.groups.map((g) => g.versions.length);
    // Train: every task is a group; training tasks bring demos + tests, evaluation tasks demos only.
    assert.equal(ds.train.numGroups, 7);
    assert.equal(build.groups.slice(0, 4).every((g) => g.task.subset === "training"), true);
    let expected = 0;
    build.groups.forEach((g, i) => {
      const per = g.task.subset === "training"
        ? g.task.train.length + g.task.test.length
        : g.task.train.length;
      expected += per * versions[i];
      const [s] = ds.train.groupPuzzles(i);
      assert.equal(ds.train.puzzleExamples(s), per);
    });
    assert.equal(ds.train.numExamples, expected);
    // Test: only evaluation tasks, their test pairs, under every version.
    assert.equal(ds.test.numGroups, 3);
    assert.equal(
      ds.test.numExamples,
      build.groups.slice(4).reduce((a, g) => a + g.versions.length * g.task.test.length, 0),
    );
    assert.equal(meta.report.heldOutTestInputs, evaluation.reduce((a, t) => a + t.test.length, 0));
    assert.equal(
      meta.report.testSubsetDemoPairsInTrain,
      evaluation.reduce((a, t) => a + t.train.length, 0),
    );
    assert.equal(training.length, 4);
    // Identifiers: 1.. in train order; a test puzzle has the id and name of the same train version.
    const ids = JSON.parse(await Deno.readTextFile(`${tmp}/out/identifiers.json`));
    assert.equal(ids[0], "<blank>");
    assert.equal(ids.length, meta.numPuzzleIdentifiers);
    for (let q = 0; q < ds.test.numPuzzles; q++) {
      const info = ds.puzzleInfo("test", q);
      const p = info.identifier - 1;
      assert.equal(ds.train.puzzleIdentifier(p), info.identifier);
      assert.equal(ds.puzzleInfo("train", p).name, info.name);
      assert.equal(ids[info.identifier], info.name);
    }
    // Offsets: one pair per puzzle untranslated; test grids at (0,0); inverse recovers the input.
    const inputs = new Int32Array(ARC_SEQ_LEN), labels = new Int32Array(ARC_SEQ_LEN);
    for (let p = 0; p < ds.train.numPuzzles; p++) {
      let atOrigin = 0;
      for (let e = 0; e < ds.train.puzzleExamples(p); e++) {
        ds.train.writeExample(p, e, inputs, labels, 0);
        const first = inputs.findIndex((v) => v >= 2);
        if (first === 0) atOrigin++;
        assert.ok(labels.some((v) => v === ARC_EOS) || labels.every((v) => v !== IGNORE_LABEL));
      }
      assert.ok(atOrigin >= 1, `puzzle ${p} has no untranslated pair`);
    }
    for (let q = 0; q < ds.test.numPuzzles; q++) {
      const info = ds.puzzleInfo("test", q);
      const { taskId, aug } = parseAugName(info.name);
      const task = evaluation.find((t) => t.id === taskId)!;
      for (let e = 0; e < ds.test.puzzleExamples(q); e++) {
        ds.test.writeExample(q, e, inputs, labels, 0);
        assert.ok(gridEquals(invertAug(cropCanvas(inputs), aug), task.test[e].input));
        const out = cropCanvas(Int32Array.from(labels, (v) => (v === IGNORE_LABEL ? 0 : v)));
        assert.ok(gridEquals(invertAug(out, aug), task.test[e].output));
      }
    }
  }));

Deno.test("same seed gives the same content hash; other seeds differ; outputs are atomic", () =>
  withMini(async (src, tmp) => {
    const s = await loadArcSource(src);
    const a = await writeArc(buildArc(s.subsets, opts()), `${tmp}/a`, []);
    const b = await writeArc(buildArc(s.subsets, opts()), `${tmp}/b`, []);
    const c = await writeArc(buildArc(s.subsets, opts({ seed: 43 })), `${tmp}/c`, []);
    assert.equal(a.contentHash, b.contentHash);
    assert.notEqual(a.contentHash, c.contentHash);
    await assert.rejects(
      () => writeArc(buildArc(s.subsets, opts()), `${tmp}/a`, []),
      Deno.errors.AlreadyExists,
    );
    await writeArc(buildArc(s.subsets, opts({ seed: 43 })), `${tmp}/a`, [], { force: true });
    assert.equal(
      JSON.parse(await Deno.readTextFile(`${tmp}/a/metadata.json`)).contentHash,
      c.contentHash,
    );
    const left = [...Deno.readDirSync(tmp)].map((e) => e.name).filter((n) =>
      n.includes(".tmp-") || n.includes(".old")
    );
    assert.deepEqual(left, []);
    assert.throws(
      () => buildArc(s.subsets, opts({ subsets: ["training", "concept"] })),
      /subset concept not found/,
    );
  }));

Deno.test("sampler: one version per group per epoch, full batches, reproducible", () =>
  withMini(async (src, tmp) => {
    const s = await loadArcSource(src);
    await writeArc(buildArc(s.subsets, opts({ maxAug: 20 })), `${tmp}/out`, []);
    const ds = await openDataset(`${tmp}/out`);
    const run = (
      seed: number,
      batchSize: number,
    ) => [...trainBatches(ds.train, { batchSize, epochs: 1, rng: new Rng(seed) })];
    const one = run(1, 1000);
    assert.equal(one.length, 0); // a single incomplete batch is dropped
    const small = run(1, 3);
    const groupsSeen = new Map<number, number>();
    for (const b of small) {
      assert.equal(b.valid, 3);
      for (let r = 0; r < b.valid; r++) {
        const g = ds.puzzleInfo("train", b.puzzleIndex[r]).group;
        const prev = groupsSeen.get(g);
        assert.ok(
          prev === undefined || prev === b.puzzleIndex[r],
          "two versions of one group in an epoch",
        );
        groupsSeen.set(g, b.puzzleIndex[r]);
        assert.equal(b.puzzleIdentifiers[r], b.puzzleIndex[r] + 1);
      }
    }
    const again = run(1, 3), other = run(2, 3);
    assert.deepEqual(
      small.map((b) => Array.from(b.inputs)),
      again.map((b) => Array.from(b.inputs)),
    );
    assert.notDeepEqual(
      small.map((b) => Array.from(b.puzzleIndex)),
      other.map((b) => Array.from(b.puzzleIndex)),
    );
    const evals = [...evalBatches(ds.test, 4)];
    const last = evals[evals.length - 1];
    assert.equal(evals.reduce((a, b) => a + b.valid, 0), ds.test.numExamples);
    if (last.valid < 4) {
      assert.equal(last.puzzleIdentifiers[3], 0);
      assert.ok(last.labels.subarray(3 * ARC_SEQ_LEN).every((v) => v === IGNORE_LABEL));
      assert.ok(last.inputs.subarray(3 * ARC_SEQ_LEN).every((v) => v === 0));
    }
  }));

Deno.test({
  name:
    "ARC-AGI-1 + ConceptARC (reduced augmentation): 960 groups, 400/419 held out, 1363 eval demos in train",
  fn: async () => {
    const tmp = await Deno.makeTempDir();
    try {
      const slow = readSwitch("TRM_SLOW_TESTS") === "1";
      const m = await prepareArc({
        sources: [ARC_AGI_1_DIR, CONCEPTARC_DIR],
        out: `${tmp}/arc`,
        cacheDir: `${tmp}/cache`,
        seed: 42,
        maxAug: slow ? 1000 : 2,
        retryFactor: 5,
        subsets: null,
        testSubsets: ["evaluation"],
        tasksPerSubset: null,
        force: false,
        progress: false,
      });
      const r = m.report as Record<string, number> & {
        versionsPerTask: { tasksBelowFull: number };
      };
      assert.equal(m.splits.train.groups, 960);
      assert.equal(m.splits.test.groups, 400);
      assert.equal(r.heldOutTestInputs, 419);
      assert.equal(r.testSubsetDemoPairsInTrain, 1363);
      assert.equal(r.trainExamplesPerEpoch, 3988);
      if (slow) {
        // 164 tasks (78 training, 62 evaluation, 24 concept) use too few colours to reach 1001
        // distinct versions (with 2 non-zero colours at most 8 dihedral × 72 colour maps = 576).
        assert.equal(r.versionsPerTask.tasksBelowFull, 164);
        assert.ok(Math.abs(m.splits.train.puzzles - 876419) < 200);
      }
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

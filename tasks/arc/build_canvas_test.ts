// The canvas option of the ARC build (`--canvas N`): tasks that do not fit are left out before the
// sample, translations stay inside N×N, the metadata records it, and N = 30 changes nothing.
import assert from "node:assert/strict";
import { Rng } from "../../engine/rng.ts";
import { IGNORE_LABEL } from "../dataset.ts";
import { type Grid, gridEquals, gridToRows, makeGrid } from "../grid.ts";
import { openDataset } from "../open.ts";
import { main as prepareMain } from "../prepare.ts";
import { applyAug, invertAug, parseAugName } from "./augment.ts";
import { type ArcBuildOptions, buildArc, taskFitsCanvas, writeArc } from "./build.ts";
import { ARC_EOS, ARC_PAD, cropCanvas } from "./encode.ts";
import type { ArcPair, ArcTask } from "./load.ts";
import { prepareArc } from "./prepare.ts";
import { arcTestOptions } from "../testing.ts";

const opts = (o: Partial<ArcBuildOptions> = {}) => arcTestOptions({ maxAug: 5, ...o });

/** 4 training and 8 evaluation tasks; 1 and 3 of them have a grid larger than 10×10. */
function canvasTasks(): Map<string, ArcTask[]> {
  const rng = new Rng(21);
  const grid = (h: number, w: number) =>
    makeGrid(h, w, Array.from({ length: h * w }, () => rng.int(10)));
  const pair = (ih: number, iw: number, oh: number, ow: number): ArcPair => ({
    input: grid(ih, iw),
    output: grid(oh, ow),
  });
  const small = () => pair(1 + rng.int(6), 2 + rng.int(5), 1 + rng.int(6), 1 + rng.int(6));
  const make = (subset: string, n: number) =>
    Array.from({ length: n }, (_, k): ArcTask => ({
      id: `${subset.slice(0, 2)}${k}`,
      subset,
      train: [small(), small()],
      test: [small()],
    }));
  const training = make("training", 4), evaluation = make("evaluation", 8);
  training[2] = { ...training[2], test: [pair(12, 3, 2, 2)] }; // test input too tall
  evaluation[1] = { ...evaluation[1], train: [small(), pair(3, 3, 11, 2)] }; // demo output too tall
  evaluation[4] = { ...evaluation[4], test: [pair(2, 11, 2, 2)] }; // test input too wide
  evaluation[6] = { ...evaluation[6], test: [pair(2, 2, 30, 30)] }; // test output 30×30
  evaluation[2] = { ...evaluation[2], train: [pair(10, 10, 10, 4), small()] }; // fits exactly
  evaluation[5] = { ...evaluation[5], train: [pair(3, 10, 9, 10), small()] }; // fits exactly
  return new Map([["training", training], ["evaluation", evaluation]]);
}

/** The canvas shifted so that (r0, c0) is its top-left; cells shifted in from outside are PAD. */
function shifted(t: Int32Array, n: number, r0: number, c0: number): Int32Array {
  const out = new Int32Array(n * n);
  for (let r = 0; r + r0 < n; r++) {
    for (let c = 0; c + c0 < n; c++) out[r * n + c] = t[(r + r0) * n + c + c0];
  }
  return out;
}

const noIgnore = (t: Int32Array) => Int32Array.from(t, (v) => (v === IGNORE_LABEL ? ARC_PAD : v));

Deno.test("canvas 10: oversized tasks left out before the sample; versions as at 30", () => {
  const subsets = canvasTasks();
  const full = buildArc(subsets, opts());
  const b = buildArc(subsets, opts({ canvas: 10 }));
  assert.equal(full.canvas, 30);
  assert.deepEqual(full.leftOut, { training: 0, evaluation: 0 });
  assert.deepEqual(b.leftOut, { training: 1, evaluation: 3 });
  assert.deepEqual(b.available, { training: 4, evaluation: 8 });
  const ids = b.groups.map((g) => g.task.id);
  assert.deepEqual(
    ids,
    full.groups.map((g) => g.task).filter((t) => taskFitsCanvas(t, 10)).map((t) => t.id),
  );
  assert.deepEqual(ids.filter((id) => ["tr2", "ev1", "ev4", "ev6"].includes(id)), []);
  // The same versions for the tasks kept (each task's random stream is its own).
  for (const g of b.groups) {
    const f = full.groups.find((x) => x.task.id === g.task.id)!;
    assert.deepEqual(g.versions, f.versions);
  }
  // --tasks K samples K among the fitting tasks: the first K fitting ones of the shuffled order.
  const three = buildArc(subsets, opts({ canvas: 10, tasksPerSubset: 3 }));
  assert.deepEqual(three.groups.map((g) => g.task.id), [
    ...ids.filter((id) => id.startsWith("tr")).slice(0, 3),
    ...ids.filter((id) => id.startsWith("ev")).slice(0, 3),
  ]);
  assert.deepEqual(three.leftOut, b.leftOut);
  // Errors: no task of a subset fits; a canvas outside 1..30.
  assert.throws(
    () => buildArc(subsets, opts({ canvas: 1, subsets: ["evaluation"] })),
    /none of the 8 tasks of subset evaluation fits the 1x1 canvas/,
  );
  assert.throws(() => buildArc(subsets, opts({ canvas: 31 })), RangeError);
  assert.throws(() => buildArc(subsets, opts({ canvas: 0 })), RangeError);
});

Deno.test("canvas 10: translations stay inside 10x10, EOS rules at the boundary, crops invert", async () => {
  const n = 10, tmp = await Deno.makeTempDir();
  try {
    const b = buildArc(canvasTasks(), opts({ canvas: n, maxAug: 12 }));
    const meta = await writeArc(b, `${tmp}/c10`, []);
    assert.equal(meta.canvas, 10);
    assert.equal(meta.seqLen, 100);
    assert.equal(meta.options.canvas, 10);
    assert.deepEqual((meta.report.canvas as Record<string, unknown>).tasksLeftOutTooLarge, {
      training: 1,
      evaluation: 3,
    });
    const ds = await openDataset(`${tmp}/c10`);
    assert.equal(ds.train.seqLen, 100);
    assert.equal(ds.test.seqLen, 100);
    const inputs = new Int32Array(n * n), labels = new Int32Array(n * n);
    let moved = 0, touching = 0, p = 0, k = 0;
    for (const g of b.groups) {
      const pairs = g.inTestSplit ? g.task.train : [...g.task.train, ...g.task.test];
      for (const aug of g.versions) {
        for (let e = 0; e < pairs.length; e++, k += 2) {
          const r0 = b.offsets[k], c0 = b.offsets[k + 1];
          ds.train.writeExample(p, e, inputs, labels, 0);
          const want = [applyAug(pairs[e].input, aug), applyAug(pairs[e].output, aug)];
          for (const [tokens, grid] of [[inputs, want[0]], [noIgnore(labels), want[1]]] as const) {
            assert.ok(r0 + grid.h <= n && c0 + grid.w <= n, `${g.task.id}: leaves the canvas`);
            // Nothing above or left of the grid; the grid (and its EOS marks) from (r0, c0).
            for (let i = 0; i < n * n; i++) {
              if (Math.floor(i / n) < r0 || i % n < c0) assert.equal(tokens[i], ARC_PAD);
            }
            assert.ok(gridEquals(cropCanvas(shifted(tokens, n, r0, c0), 0, n), grid));
            const eos = tokens.filter((v) => v === ARC_EOS).length;
            const expected = (r0 + grid.h < n ? grid.w : 0) + (c0 + grid.w < n ? grid.h : 0);
            assert.equal(eos, expected, `${g.task.id} ${grid.h}x${grid.w} at (${r0}, ${c0})`);
            if (r0 + grid.h === n || c0 + grid.w === n) touching++;
          }
          if (r0 + c0 > 0) moved++;
        }
        p++;
      }
    }
    assert.equal(k, b.offsets.length);
    assert.ok(moved > 0 && touching > 0, `translated ${moved}, touching ${touching}`);
    // Test split: grids at (0, 0), cropped on the 10×10 canvas and inverted.
    for (let q = 0; q < ds.test.numPuzzles; q++) {
      const { taskId, aug } = parseAugName(ds.puzzleInfo("test", q).name);
      const task = b.groups.find((g) => g.task.id === taskId)!.task;
      for (let e = 0; e < ds.test.puzzleExamples(q); e++) {
        ds.test.writeExample(q, e, inputs, labels, 0);
        assert.ok(gridEquals(invertAug(cropCanvas(inputs, 0, n), aug), task.test[e].input));
        const out = invertAug(cropCanvas(noIgnore(labels), 0, n), aug);
        assert.ok(gridEquals(out, task.test[e].output));
      }
    }
    // A metadata seqLen that is not canvas² is refused.
    const text = await Deno.readTextFile(`${tmp}/c10/metadata.json`);
    await Deno.writeTextFile(
      `${tmp}/c10/metadata.json`,
      text.replace(/"seqLen": *100/, '"seqLen": 900'),
    );
    await assert.rejects(() => openDataset(`${tmp}/c10`), /seqLen 900 is not 100/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("canvas 30 given explicitly writes the same files and metadata as no canvas", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const subsets = canvasTasks();
    const a = await writeArc(buildArc(subsets, opts()), `${tmp}/x/data`, []);
    const b = await writeArc(buildArc(subsets, opts({ canvas: 30 })), `${tmp}/y/data`, []);
    for (const f of ["tasks.json", "versions.bin", "offsets.bin", "identifiers.json"]) {
      assert.deepEqual(
        await Deno.readFile(`${tmp}/x/data/${f}`),
        await Deno.readFile(`${tmp}/y/data/${f}`),
      );
    }
    const text = await Deno.readTextFile(`${tmp}/y/data/metadata.json`);
    assert.equal(await Deno.readTextFile(`${tmp}/x/data/metadata.json`), text);
    assert.ok(!text.includes("canvas"), "a 30x30 build records nothing about the canvas");
    assert.equal(a.contentHash, b.contentHash);
    assert.equal(b.seqLen, 900);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("prepare arc --canvas: prints what was left out and checks the value", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const rows = (g: Grid) => gridToRows(g);
    for (const [subset, tasks] of canvasTasks()) {
      await Deno.mkdir(`${tmp}/src/${subset}`, { recursive: true });
      for (const t of tasks) {
        const pairs = (ps: readonly ArcPair[]) =>
          ps.map((x) => ({ input: rows(x.input), output: rows(x.output) }));
        await Deno.writeTextFile(
          `${tmp}/src/${subset}/${t.id}.json`,
          JSON.stringify({ train: pairs(t.train), test: pairs(t.test) }),
        );
      }
    }
    const lines: string[] = [];
    const m = await prepareArc({
      sources: [`${tmp}/src`],
      out: `${tmp}/out`,
      cacheDir: `${tmp}/cache`,
      seed: 42,
      maxAug: 2,
      retryFactor: 5,
      subsets: null,
      testSubsets: ["evaluation"],
      tasksPerSubset: 2,
      force: false,
      progress: false,
      canvas: 10,
      log: (l) => lines.push(l),
    });
    assert.deepEqual(lines, [
      "arc: canvas 10x10: left out 1 of 4 training tasks with a grid larger than 10x10",
      "arc: canvas 10x10: left out 3 of 8 evaluation tasks with a grid larger than 10x10",
    ]);
    assert.equal(m.splits.train.groups, 4);
    assert.equal(m.seqLen, 100);
    await assert.rejects(
      () => prepareMain(["arc", "--source", `${tmp}/src`, "--canvas", "31"]),
      /--canvas: the canvas side must be an integer in 1\.\.30: 31/,
    );
    await assert.rejects(() => prepareMain(["arc", "--canvas", "x"]), /--canvas/);
    await assert.rejects(() => prepareMain(["maze", "--canvas", "8"]), /applies to arc only/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

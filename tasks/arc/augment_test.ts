import assert from "node:assert/strict";
import { Rng } from "../../engine/rng.ts";
import { gridEquals, makeGrid } from "../grid.ts";
import { ARC_SEQ_LEN, encodeGrid, encodeTransformed } from "./encode.ts";
import {
  applyAug,
  augName,
  findAugmentations,
  IDENTITY_AUG,
  invertAug,
  parseAugName,
  randomAug,
  taskFingerprint,
} from "./augment.ts";
import type { ArcTask } from "./load.ts";

function taskOf(grids: number[][][], asTest = 1): ArcTask {
  const pairs = grids.map((g) => {
    const grid = makeGrid(g.length, g[0].length, g.flat());
    return { input: grid, output: grid };
  });
  return { id: "t", subset: "s", train: pairs.slice(asTest), test: pairs.slice(0, asTest) };
}

Deno.test("augmentation composed with its inverse is the identity on random grids", () => {
  const rng = new Rng(5);
  for (let k = 0; k < 200; k++) {
    const h = 1 + rng.int(30), w = 1 + rng.int(30);
    const g = makeGrid(h, w, Array.from({ length: h * w }, () => rng.int(10)));
    const aug = randomAug(rng);
    assert.equal(aug.map[0], 0);
    assert.ok(gridEquals(invertAug(applyAug(g, aug), aug), g));
    const back = parseAugName(augName("abc", aug));
    assert.equal(back.taskId, "abc");
    assert.ok(gridEquals(applyAug(g, back.aug), applyAug(g, aug)));
  }
});

Deno.test("on-the-fly encoding equals encoding the augmented grid", () => {
  const rng = new Rng(6);
  const a = new Int32Array(ARC_SEQ_LEN), b = new Int32Array(ARC_SEQ_LEN);
  for (let k = 0; k < 30; k++) {
    const g = makeGrid(3, 5, Array.from({ length: 15 }, () => rng.int(10)));
    const aug = randomAug(rng);
    encodeTransformed(g, aug.t, aug.map, 2, 4, a);
    encodeGrid(applyAug(g, aug), 2, 4, b);
    assert.deepEqual(a, b);
  }
});

Deno.test("names: identity keeps the task id; malformed names are rejected", () => {
  assert.equal(augName("007bbfb7", IDENTITY_AUG), "007bbfb7");
  const aug = { t: 3, map: Uint8Array.from([0, 2, 1, 3, 4, 5, 6, 7, 8, 9]) };
  assert.equal(augName("007bbfb7", aug), "007bbfb7|||t3|||0213456789");
  assert.throws(() => parseAugName("x|||t9|||0123456789"), SyntaxError);
  assert.throws(() => parseAugName("x|||t1|||1023456789"), SyntaxError);
  assert.throws(() => parseAugName("x|||t1|||0113456789"), RangeError);
});

Deno.test("fingerprint ignores pair order and sees every grid", () => {
  const rng = new Rng(7);
  const grids = Array.from({ length: 4 }, () => [[rng.int(10), rng.int(10)], [rng.int(10), 1]]);
  const a = taskOf(grids), b = taskOf([...grids].reverse());
  assert.equal(taskFingerprint(a, IDENTITY_AUG), taskFingerprint(b, IDENTITY_AUG));
  const changed = grids.map((g) => g.map((r) => [...r]));
  changed[3][1][1] = 2;
  assert.notEqual(taskFingerprint(a, IDENTITY_AUG), taskFingerprint(taskOf(changed), IDENTITY_AUG));
});

Deno.test("dedup counts on tasks with few colours match the orbit sizes", () => {
  const rng = new Rng(8);
  // One non-zero colour, no symmetry: 8 dihedral × 9 colours = 72 versions, 71 augmentations.
  const asym1 = taskOf([[[1, 0, 0], [1, 1, 0]], [[0, 1], [0, 0]]]);
  assert.equal(findAugmentations(asym1, 1000, rng).augs.length, 71);
  // Two colours, no symmetry: 8 × 9 × 8 = 576 versions (more attempts to collect them all).
  const asym2 = taskOf([[[1, 2, 0], [1, 1, 0]], [[0, 1], [2, 0]]]);
  assert.equal(findAugmentations(asym2, 1000, rng, 20).augs.length, 575);
  // A 1x1 task of one colour is fixed by every dihedral map: 9 versions.
  const dot = taskOf([[[4]], [[4]]]);
  const found = findAugmentations(dot, 1000, rng);
  assert.equal(found.augs.length, 8);
  assert.equal(found.tries, 5000);
  // Target reached early stops the search.
  const many = taskOf([[[1, 2, 3], [4, 5, 6]], [[7, 8], [9, 0]]]);
  assert.equal(findAugmentations(many, 50, rng).augs.length, 50);
});

Deno.test("augmentation search is reproducible from the seed", () => {
  const t = taskOf([[[1, 2, 3], [4, 5, 6]], [[7, 8], [9, 0]]]);
  const names = (seed: number) =>
    findAugmentations(t, 20, new Rng(seed)).augs.map((a) => augName("x", a));
  assert.deepEqual(names(1), names(1));
  assert.notDeepEqual(names(1), names(2));
});

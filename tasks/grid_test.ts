import assert from "node:assert/strict";
import { Rng } from "../engine/rng.ts";
import {
  dihedral,
  DIHEDRAL_INVERSE,
  gridEquals,
  invertPermutation,
  makeGrid,
  mapCells,
} from "./grid.ts";

function randomGrid(rng: Rng, h: number, w: number) {
  return makeGrid(h, w, Array.from({ length: h * w }, () => rng.int(10)));
}

Deno.test("dihedral maps follow the spec table on a 2x3 grid", () => {
  const a = makeGrid(2, 3, [1, 2, 3, 4, 5, 6]); // rows [1 2 3] [4 5 6]
  const expect: [number, number, number[]][] = [
    [2, 3, [1, 2, 3, 4, 5, 6]],
    [3, 2, [3, 6, 2, 5, 1, 4]], // rot90 ccw
    [2, 3, [6, 5, 4, 3, 2, 1]],
    [3, 2, [4, 1, 5, 2, 6, 3]], // rot270 ccw = 90 cw
    [2, 3, [3, 2, 1, 6, 5, 4]], // fliplr
    [2, 3, [4, 5, 6, 1, 2, 3]], // flipud
    [3, 2, [1, 4, 2, 5, 3, 6]], // transpose
    [3, 2, [6, 3, 5, 2, 4, 1]], // anti-transpose
  ];
  expect.forEach(([h, w, cells], t) => {
    const b = dihedral(a, t);
    assert.deepEqual([b.h, b.w, Array.from(b.cells)], [h, w, cells], `t=${t}`);
  });
});

Deno.test("each dihedral map composed with its inverse is the identity on random grids", () => {
  const rng = new Rng(1);
  for (const [h, w] of [[1, 1], [1, 30], [30, 1], [7, 13], [30, 30], [4, 4]]) {
    const g = randomGrid(rng, h, w);
    for (let t = 0; t < 8; t++) {
      assert.ok(gridEquals(dihedral(dihedral(g, t), DIHEDRAL_INVERSE[t]), g), `t=${t} ${h}x${w}`);
      assert.ok(gridEquals(dihedral(dihedral(g, DIHEDRAL_INVERSE[t]), t), g), `t=${t} ${h}x${w}`);
    }
  }
});

Deno.test("colour maps compose with their inverse to the identity", () => {
  const rng = new Rng(2);
  const g = randomGrid(rng, 5, 6);
  for (let k = 0; k < 20; k++) {
    const p = [0, ...Array.from(rng.permutation(9), (v) => v + 1)];
    assert.ok(gridEquals(mapCells(mapCells(g, p), invertPermutation(p)), g));
  }
  assert.throws(() => invertPermutation([0, 1, 1]), RangeError);
  assert.throws(() => dihedral(g, 8), RangeError);
});

import assert from "node:assert/strict";
import { Rng } from "../../engine/rng.ts";
import { makeGrid } from "../grid.ts";
import { IGNORE_LABEL } from "../dataset.ts";
import {
  ARC_EOS,
  ARC_PAD,
  ARC_SEQ_LEN,
  cropCanvas,
  encodeGrid,
  encodeTransformed,
} from "./encode.ts";

const at = (r: number, c: number) => r * 30 + c;

function encoded(h: number, w: number, r0 = 0, c0 = 0, fill = 3) {
  const out = new Int32Array(ARC_SEQ_LEN);
  encodeGrid(makeGrid(h, w, new Array(h * w).fill(fill)), r0, c0, out);
  return out;
}

Deno.test("2x3 grid at (0,0): colours +2, EOS row and column, corner unmarked", () => {
  const out = new Int32Array(ARC_SEQ_LEN);
  encodeGrid(makeGrid(2, 3, [0, 1, 2, 3, 4, 9]), 0, 0, out);
  assert.deepEqual([out[at(0, 0)], out[at(0, 1)], out[at(0, 2)]], [2, 3, 4]);
  assert.deepEqual([out[at(1, 0)], out[at(1, 1)], out[at(1, 2)]], [5, 6, 11]);
  for (const [r, c] of [[2, 0], [2, 1], [2, 2], [0, 3], [1, 3]]) {
    assert.equal(out[at(r, c)], ARC_EOS);
  }
  assert.equal(out[at(2, 3)], ARC_PAD);
  const nonPad = out.filter((v) => v !== ARC_PAD).length;
  assert.equal(nonPad, 6 + 5);
});

Deno.test("full-size and edge placements mark EOS only inside the canvas", () => {
  const full = encoded(30, 30);
  assert.equal(full.filter((v) => v === ARC_EOS).length, 0);
  assert.equal(full.filter((v) => v === 5).length, 900);
  const wide = encoded(2, 30);
  assert.equal(wide.filter((v) => v === ARC_EOS).length, 30); // row only
  assert.equal(wide[at(2, 29)], ARC_EOS);
  const tall = encoded(30, 2);
  assert.equal(tall.filter((v) => v === ARC_EOS).length, 30); // column only
  const one = encoded(1, 1);
  assert.deepEqual([one[at(1, 0)], one[at(0, 1)], one[at(1, 1)]], [ARC_EOS, ARC_EOS, ARC_PAD]);
  const corner = encoded(1, 1, 29, 29);
  assert.equal(corner.filter((v) => v === ARC_EOS).length, 0);
  const moved = encoded(2, 3, 5, 7);
  assert.equal(moved[at(7, 7)], ARC_EOS);
  assert.equal(moved[at(5, 10)], ARC_EOS);
  assert.equal(moved[at(7, 10)], ARC_PAD);
  assert.equal(moved[at(4, 7)], ARC_PAD);
  assert.throws(() => encoded(2, 3, 29, 0), RangeError);
});

Deno.test("labels use IGNORE_LABEL for PAD cells and keep EOS", () => {
  const out = new Int32Array(ARC_SEQ_LEN);
  encodeGrid(makeGrid(1, 1, [4]), 0, 0, out, 0, true);
  assert.equal(out[0], 6);
  assert.equal(out[at(0, 1)], ARC_EOS);
  assert.equal(out[at(1, 1)], IGNORE_LABEL);
  assert.equal(out.filter((v) => v === IGNORE_LABEL).length, 900 - 3);
});

Deno.test("crop inverts encoding at (0,0) on random grids, also under transforms", () => {
  const rng = new Rng(3);
  const out = new Int32Array(ARC_SEQ_LEN * 2);
  for (let k = 0; k < 50; k++) {
    const h = 1 + rng.int(30), w = 1 + rng.int(30);
    const g = makeGrid(h, w, Array.from({ length: h * w }, () => rng.int(10)));
    encodeGrid(g, 0, 0, out, ARC_SEQ_LEN);
    const c = cropCanvas(out, ARC_SEQ_LEN);
    assert.deepEqual([c.h, c.w, Array.from(c.cells)], [h, w, Array.from(g.cells)]);
    encodeTransformed(g, 6, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 0, 0, out);
    const tr = cropCanvas(out);
    assert.deepEqual([tr.h, tr.w], [w, h]);
  }
  assert.deepEqual([cropCanvas(new Int32Array(900)).h, cropCanvas(new Int32Array(900)).w], [0, 0]);
});

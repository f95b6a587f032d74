import assert from "node:assert/strict";
import { Rng } from "../../engine/rng.ts";
import { makeGrid } from "../grid.ts";
import { IGNORE_LABEL } from "../dataset.ts";
import {
  ARC_EOS,
  ARC_PAD,
  ARC_SEQ_LEN,
  arcSeqLen,
  canvasOfLength,
  checkCanvas,
  cropCanvas,
  encodeGrid,
  encodeTransformed,
  fitsCanvas,
} from "./encode.ts";

const at = (r: number, c: number) => r * 30 + c;

function encoded(h: number, w: number, r0 = 0, c0 = 0, fill = 3, canvas = 30) {
  const out = new Int32Array(Number.isInteger(canvas) && canvas > 0 ? canvas * canvas : 1);
  encodeGrid(makeGrid(h, w, new Array(h * w).fill(fill)), r0, c0, out, 0, false, canvas);
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

Deno.test("canvas sides: checkCanvas, arcSeqLen, canvasOfLength, fitsCanvas", () => {
  assert.equal(arcSeqLen(), 900);
  assert.equal(arcSeqLen(10), 100);
  assert.equal(arcSeqLen(1), 1);
  for (const bad of [0, 31, 1.5, -1, NaN]) {
    assert.throws(() => checkCanvas(bad), RangeError);
    assert.throws(() => encoded(1, 1, 0, 0, 3, bad), /canvas side must be an integer in 1\.\.30/);
    assert.throws(() => cropCanvas(new Int32Array(900), 0, bad), RangeError);
  }
  assert.deepEqual([1, 4, 100, 900].map(canvasOfLength), [1, 2, 10, 30]);
  assert.deepEqual([0, 2, 99, 101, 899, 961].map(canvasOfLength), [
    null,
    null,
    null,
    null,
    null,
    null,
  ]);
  assert.equal(fitsCanvas({ h: 10, w: 10 }, 10), true);
  assert.equal(fitsCanvas({ h: 10, w: 11 }, 10), false);
  assert.equal(fitsCanvas({ h: 11, w: 1 }, 10), false);
  assert.equal(fitsCanvas({ h: 30, w: 30 }), true);
});

Deno.test("10x10 canvas: EOS rules at the N boundary, crop round trip, empty crops", () => {
  const n = 10, at10 = (r: number, c: number) => r * n + c;
  const g = makeGrid(2, 3, [0, 1, 2, 3, 4, 9]);
  const out = encoded(2, 3, 0, 0, 3, n);
  assert.equal(out.length, 100);
  for (const [r, c] of [[2, 0], [2, 1], [2, 2], [0, 3], [1, 3]]) {
    assert.equal(out[at10(r, c)], ARC_EOS);
  }
  assert.equal(out[at10(2, 3)], ARC_PAD);
  assert.equal(out.filter((v) => v !== ARC_PAD).length, 6 + 5);
  // Touching the boundary: no EOS row (bottom), no EOS column (right), neither (both).
  const full = encoded(10, 10, 0, 0, 3, n);
  assert.equal(full.filter((v) => v === ARC_EOS).length, 0);
  assert.equal(full.filter((v) => v === 5).length, 100);
  assert.deepEqual([cropCanvas(full, 0, n).h, cropCanvas(full, 0, n).w], [10, 10]);
  const tall = encoded(10, 4, 0, 0, 3, n);
  assert.equal(tall.filter((v) => v === ARC_EOS).length, 10); // column only
  assert.deepEqual([cropCanvas(tall, 0, n).h, cropCanvas(tall, 0, n).w], [10, 4]);
  const wide = encoded(4, 10, 0, 0, 3, n);
  assert.equal(wide.filter((v) => v === ARC_EOS).length, 10); // row only
  assert.deepEqual([cropCanvas(wide, 0, n).h, cropCanvas(wide, 0, n).w], [4, 10]);
  const corner = encoded(3, 2, 7, 8, 3, n);
  assert.equal(corner.filter((v) => v === ARC_EOS).length, 0);
  assert.equal(corner.filter((v) => v === 5).length, 6);
  assert.equal(corner[at10(9, 9)], 5);
  assert.throws(() => encoded(3, 2, 8, 8, 3, n), /leaves the 10x10 canvas/);
  assert.throws(() => encoded(11, 1, 0, 0, 3, n), /leaves the 10x10 canvas/);
  // A 1x1 canvas holds one colour token and nothing else.
  const one = encoded(1, 1, 0, 0, 7, 1);
  assert.deepEqual(Array.from(one), [9]);
  assert.deepEqual(cropCanvas(one, 0, 1).cells, new Uint8Array([7]));
  // Labels: PAD cells only become IGNORE_LABEL, within the 100 tokens.
  const lab = new Int32Array(200).fill(77);
  encodeGrid(g, 0, 0, lab, 100, true, n);
  assert.equal(lab.subarray(100).filter((v) => v === IGNORE_LABEL).length, 100 - 11);
  assert.ok(lab.subarray(0, 100).every((v) => v === 77));
  // Empty crops: all PAD, or EOS at the top-left.
  const empty = cropCanvas(new Int32Array(100), 0, n);
  assert.deepEqual([empty.h, empty.w, empty.cells.length], [0, 0, 0]);
  const eos = encoded(2, 3, 0, 0, 3, n);
  eos[0] = ARC_EOS;
  assert.deepEqual([cropCanvas(eos, 0, n).h, cropCanvas(eos, 0, n).w], [0, 0]);
});

Deno.test("10x10 canvas: random grids and transforms round trip; = the top-left of a 30x30 canvas", () => {
  const rng = new Rng(5), n = 10;
  const small = new Int32Array(2 * n * n), big = new Int32Array(ARC_SEQ_LEN);
  for (let k = 0; k < 200; k++) {
    const h = 1 + rng.int(n), w = 1 + rng.int(n), t = rng.int(8);
    const g = makeGrid(h, w, Array.from({ length: h * w }, () => rng.int(10)));
    const map = [0, ...Array.from(rng.permutation(9), (x) => x + 1)];
    encodeTransformed(g, t, map, 0, 0, small, n * n, false, n);
    const c = cropCanvas(small, n * n, n);
    encodeTransformed(g, t, map, 0, 0, big);
    const c30 = cropCanvas(big);
    assert.deepEqual([c.h, c.w, Array.from(c.cells)], [c30.h, c30.w, Array.from(c30.cells)]);
    assert.equal(c.h * c.w, h * w);
    // Away from the N boundary, the N canvas is exactly the top-left N×N of the 30×30 one.
    if (c.h < n && c.w < n) {
      for (let r = 0; r < n; r++) {
        for (let col = 0; col < n; col++) {
          assert.equal(
            small[n * n + r * n + col],
            big[at(r, col)],
            `${h}x${w} t${t} (${r},${col})`,
          );
        }
      }
    }
  }
});

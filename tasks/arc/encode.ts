/**
 * ARC token encoding (spec-datasets §1.3): vocabulary 12 (0 PAD, 1 EOS, colour c → c + 2), each
 * grid on a 30×30 canvas flattened row-major (900 tokens). A grid of shape h×w placed at (r0, c0)
 * gets EOS in the row just below it (columns c0..c0+w−1, when r0+h < 30) and in the column just
 * right of it (rows r0..r0+h−1, when c0+w < 30); the corner cell (r0+h, c0+w) stays PAD.
 *
 * `cropCanvas` is the evaluator's inverse (§1.8 step 3): the largest top-left rectangle of colour
 * tokens.
 *
 * @example
 * ```ts
 * import { encodeGrid, cropCanvas, ARC_SEQ_LEN } from "./encode.ts";
 * const out = new Int32Array(ARC_SEQ_LEN);
 * encodeGrid({ h: 1, w: 2, cells: new Uint8Array([3, 4]) }, 0, 0, out);
 * cropCanvas(out); // { h: 1, w: 2, cells: [3, 4] }
 * ```
 */
import type { Grid } from "../grid.ts";
import { dihedralSwapsAxes } from "../grid.ts";
import { IGNORE_LABEL } from "../dataset.ts";

export const ARC_CANVAS = 30;
export const ARC_SEQ_LEN = ARC_CANVAS * ARC_CANVAS;
export const ARC_VOCAB = 12;
export const ARC_PAD = 0;
export const ARC_EOS = 1;
/** Token of colour 0; colour c is `ARC_COLOUR0 + c`. */
export const ARC_COLOUR0 = 2;

const sourceIndexCache = new Map<number, Uint16Array>();

/**
 * For a source grid h×w and dihedral id t, the source cell index of every destination cell (in the
 * destination's row-major order). Cached per (h, w, t).
 */
export function dihedralSourceIndex(h: number, w: number, t: number): Uint16Array {
  const key = (h * 64 + w) * 8 + t;
  let idx = sourceIndexCache.get(key);
  if (idx) return idx;
  const swap = dihedralSwapsAxes(t);
  const bh = swap ? w : h, bw = swap ? h : w;
  idx = new Uint16Array(h * w);
  for (let i = 0; i < bh; i++) {
    for (let j = 0; j < bw; j++) {
      let r: number, c: number;
      if (t === 0) r = i, c = j;
      else if (t === 1) r = j, c = w - 1 - i;
      else if (t === 2) r = h - 1 - i, c = w - 1 - j;
      else if (t === 3) r = h - 1 - j, c = i;
      else if (t === 4) r = i, c = w - 1 - j;
      else if (t === 5) r = h - 1 - i, c = j;
      else if (t === 6) r = j, c = i;
      else r = h - 1 - j, c = w - 1 - i;
      idx[i * bw + j] = r * w + c;
    }
  }
  sourceIndexCache.set(key, idx);
  return idx;
}

const IDENTITY_MAP = Uint8Array.from({ length: 10 }, (_, k) => k);

/**
 * Writes grid `g`, transformed by colour map `map` then dihedral `t`, onto the canvas at
 * (r0, c0): 900 tokens at `out[base..base+900)`. With `labels`, PAD cells become `IGNORE_LABEL`.
 */
export function encodeTransformed(
  g: Grid,
  t: number,
  map: ArrayLike<number>,
  r0: number,
  c0: number,
  out: Int32Array | Uint8Array,
  base = 0,
  labels = false,
): void {
  const swap = dihedralSwapsAxes(t);
  const h = swap ? g.w : g.h, w = swap ? g.h : g.w;
  if (r0 < 0 || c0 < 0 || r0 + h > ARC_CANVAS || c0 + w > ARC_CANVAS) {
    throw new RangeError(`encodeGrid: ${h}x${w} grid at (${r0}, ${c0}) leaves the 30x30 canvas`);
  }
  const pad = labels ? IGNORE_LABEL : ARC_PAD;
  out.fill(pad, base, base + ARC_SEQ_LEN);
  const src = dihedralSourceIndex(g.h, g.w, t);
  const cells = g.cells;
  for (let i = 0; i < h; i++) {
    const rowBase = base + (r0 + i) * ARC_CANVAS + c0;
    for (let j = 0; j < w; j++) out[rowBase + j] = map[cells[src[i * w + j]]] + ARC_COLOUR0;
    if (c0 + w < ARC_CANVAS) out[rowBase + w] = ARC_EOS;
  }
  if (r0 + h < ARC_CANVAS) {
    const rowBase = base + (r0 + h) * ARC_CANVAS + c0;
    for (let j = 0; j < w; j++) out[rowBase + j] = ARC_EOS;
  }
}

/** Writes grid `g` untransformed at (r0, c0) (see `encodeTransformed`). */
export function encodeGrid(
  g: Grid,
  r0: number,
  c0: number,
  out: Int32Array | Uint8Array,
  base = 0,
  labels = false,
): void {
  encodeTransformed(g, 0, IDENTITY_MAP, r0, c0, out, base, labels);
}

/**
 * The evaluator's crop: walking rows top to bottom with a running width W (start 30), W shrinks to
 * the first non-colour column of each row; the candidate (rows so far) × W with the largest area
 * (first on ties) is returned with colours decoded. May be empty (0×0).
 */
export function cropCanvas(tokens: ArrayLike<number>, base = 0): Grid {
  let width = ARC_CANVAS, bestArea = 0, bestH = 0, bestW = 0;
  for (let r = 0; r < ARC_CANVAS; r++) {
    for (let c = 0; c < width; c++) {
      const x = tokens[base + r * ARC_CANVAS + c];
      if (x < ARC_COLOUR0 || x > ARC_COLOUR0 + 9) {
        width = c;
        break;
      }
    }
    const area = (r + 1) * width;
    if (area > bestArea) bestArea = area, bestH = r + 1, bestW = width;
  }
  const cells = new Uint8Array(bestH * bestW);
  for (let i = 0; i < bestH; i++) {
    for (let j = 0; j < bestW; j++) cells[i * bestW + j] = tokens[base + i * ARC_CANVAS + j] - 2;
  }
  return { h: bestH, w: bestW, cells };
}

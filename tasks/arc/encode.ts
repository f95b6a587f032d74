/**
 * ARC token encoding (TRM's `dataset/build_arc_dataset.py`): vocabulary 12 (0 PAD, 1 EOS,
 * colour c → c + 2), each grid on a 30×30 canvas flattened row-major (900 tokens). A grid of shape
 * h×w placed at (r0, c0) gets EOS in the row just below it (columns c0..c0+w−1, when r0+h < 30) and
 * in the column just right of it (rows r0..r0+h−1, when c0+w < 30); the corner cell (r0+h, c0+w)
 * stays PAD.
 *
 * `cropCanvas` is the inverse used by TRM's evaluator (`evaluators/arc.py`): the largest top-left
 * rectangle of colour tokens.
 *
 * The canvas side N (`canvas`, default `ARC_CANVAS` = 30, the paper's) can be smaller, 1..30, for
 * reduced runs: N×N = N² tokens, with the same rules at the N boundary (a grid touching it gets no
 * EOS row or column there, so any grid with h ≤ N and w ≤ N fits; no room for EOS is needed).
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

/** The paper's canvas side, the default, and the largest allowed. */
export const ARC_CANVAS = 30;
/** Tokens of the default canvas (900). */
export const ARC_SEQ_LEN = ARC_CANVAS * ARC_CANVAS;
export const ARC_VOCAB = 12;
export const ARC_PAD = 0;
export const ARC_EOS = 1;
/** Token of colour 0; colour c is `ARC_COLOUR0 + c`. */
export const ARC_COLOUR0 = 2;

/** Throws a RangeError unless `n` is a canvas side in 1..30; returns it. */
export function checkCanvas(n: number, where = "canvas"): number {
  if (!Number.isInteger(n) || n < 1 || n > ARC_CANVAS) {
    throw new RangeError(`${where}: the canvas side must be an integer in 1..${ARC_CANVAS}: ${n}`);
  }
  return n;
}

/** Tokens of an N×N canvas (N²). */
export function arcSeqLen(canvas: number = ARC_CANVAS): number {
  return checkCanvas(canvas) ** 2;
}

/** The side s of a canvas of `length` = s² tokens (s in 1..30), or null. */
export function canvasOfLength(length: number): number | null {
  const s = Math.round(Math.sqrt(length));
  return s >= 1 && s <= ARC_CANVAS && s * s === length ? s : null;
}

/** Whether an h×w grid fits an N×N canvas (under any dihedral map, the canvas being square). */
export function fitsCanvas(g: { h: number; w: number }, canvas: number = ARC_CANVAS): boolean {
  return g.h <= canvas && g.w <= canvas;
}

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
 * Writes grid `g`, transformed by colour map `map` then dihedral `t`, onto the N×N canvas
 * (`canvas`, default 30) at (r0, c0): N² tokens at `out[base..base+N²)`. With `labels`, PAD cells
 * become `IGNORE_LABEL`.
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
  canvas: number = ARC_CANVAS,
): void {
  const n = checkCanvas(canvas, "encodeGrid");
  const swap = dihedralSwapsAxes(t);
  const h = swap ? g.w : g.h, w = swap ? g.h : g.w;
  if (r0 < 0 || c0 < 0 || r0 + h > n || c0 + w > n) {
    throw new RangeError(
      `encodeGrid: ${h}x${w} grid at (${r0}, ${c0}) leaves the ${n}x${n} canvas`,
    );
  }
  const pad = labels ? IGNORE_LABEL : ARC_PAD;
  out.fill(pad, base, base + n * n);
  const src = dihedralSourceIndex(g.h, g.w, t);
  const cells = g.cells;
  for (let i = 0; i < h; i++) {
    const rowBase = base + (r0 + i) * n + c0;
    for (let j = 0; j < w; j++) out[rowBase + j] = map[cells[src[i * w + j]]] + ARC_COLOUR0;
    if (c0 + w < n) out[rowBase + w] = ARC_EOS;
  }
  if (r0 + h < n) {
    const rowBase = base + (r0 + h) * n + c0;
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
  canvas: number = ARC_CANVAS,
): void {
  encodeTransformed(g, 0, IDENTITY_MAP, r0, c0, out, base, labels, canvas);
}

/**
 * The evaluator's crop on an N×N canvas (`canvas`, default 30) at `tokens[base..base+N²)`:
 * walking rows top to bottom with a running width W (start N), W shrinks to the first non-colour
 * column of each row; the candidate (rows so far) × W with the largest area (first on ties) is
 * returned with colours decoded. May be empty (0×0).
 */
export function cropCanvas(tokens: ArrayLike<number>, base = 0, canvas: number = ARC_CANVAS): Grid {
  const n = checkCanvas(canvas, "cropCanvas");
  let width = n, bestArea = 0, bestH = 0, bestW = 0;
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < width; c++) {
      const x = tokens[base + r * n + c];
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
    for (let j = 0; j < bestW; j++) cells[i * bestW + j] = tokens[base + i * n + j] - 2;
  }
  return { h: bestH, w: bestW, cells };
}

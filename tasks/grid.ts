/**
 * Small integer grids and the 8 dihedral maps, shared by ARC (any shape up to 30×30) and Maze
 * (square). Cells are row-major bytes.
 *
 * Dihedral ids follow TRM (`dataset/common.py`): 0 identity, 1 rotate 90° counter-clockwise,
 * 2 rotate 180°, 3 rotate 270° ccw, 4 mirror left-right, 5 mirror up-down, 6 transpose,
 * 7 anti-transpose. `DIHEDRAL_INVERSE[t]` undoes `t`.
 *
 * @example
 * ```ts
 * import { dihedral, DIHEDRAL_INVERSE, makeGrid } from "./grid.ts";
 * const g = makeGrid(2, 3, [1, 2, 3, 4, 5, 6]);
 * const r = dihedral(g, 1); // 3×2
 * dihedral(r, DIHEDRAL_INVERSE[1]); // equals g
 * ```
 */

/** A grid of h rows and w columns; `cells[i * w + j]` is row i, column j. */
export interface Grid {
  readonly h: number;
  readonly w: number;
  readonly cells: Uint8Array;
}

/** Inverse of each dihedral id. */
export const DIHEDRAL_INVERSE: readonly number[] = [0, 3, 2, 1, 4, 5, 6, 7];

/** Makes a grid, checking that the cell count matches the shape. */
export function makeGrid(h: number, w: number, cells: ArrayLike<number>): Grid {
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 1 || w < 1) {
    throw new RangeError(`makeGrid: shape must be positive integers: ${h}x${w}`);
  }
  if (cells.length !== h * w) {
    throw new TypeError(`makeGrid: ${cells.length} cells do not fill a ${h}x${w} grid`);
  }
  return { h, w, cells: Uint8Array.from(cells) };
}

/** Converts a grid to a list of rows (the JSON form). */
export function gridToRows(g: Grid): number[][] {
  const rows: number[][] = [];
  for (let i = 0; i < g.h; i++) rows.push(Array.from(g.cells.subarray(i * g.w, (i + 1) * g.w)));
  return rows;
}

/** True when both grids have the same shape and cells. */
export function gridEquals(a: Grid, b: Grid): boolean {
  if (a.h !== b.h || a.w !== b.w) return false;
  for (let k = 0; k < a.cells.length; k++) if (a.cells[k] !== b.cells[k]) return false;
  return true;
}

/** Whether dihedral map `t` swaps the grid's height and width. */
export function dihedralSwapsAxes(t: number): boolean {
  return t === 1 || t === 3 || t === 6 || t === 7;
}

/**
 * Applies dihedral map `t` (0..7); returns a new grid. The ids are those of TRM's
 * `dataset/common.py`: identity, rot90 ccw, rot180, rot270 ccw, flip left-right, flip up-down,
 * transpose, anti-transpose.
 */
export function dihedral(g: Grid, t: number): Grid {
  if (!Number.isInteger(t) || t < 0 || t > 7) {
    throw new RangeError(`dihedral: id must be an integer in 0..7: ${t}`);
  }
  const { h, w, cells: a } = g;
  const swap = dihedralSwapsAxes(t);
  const bh = swap ? w : h, bw = swap ? h : w;
  const b = new Uint8Array(h * w);
  for (let i = 0; i < bh; i++) {
    for (let j = 0; j < bw; j++) {
      let r: number, c: number;
      switch (t) {
        case 0:
          r = i, c = j;
          break;
        case 1:
          r = j, c = w - 1 - i;
          break;
        case 2:
          r = h - 1 - i, c = w - 1 - j;
          break;
        case 3:
          r = h - 1 - j, c = i;
          break;
        case 4:
          r = i, c = w - 1 - j;
          break;
        case 5:
          r = h - 1 - i, c = j;
          break;
        case 6:
          r = j, c = i;
          break;
        default:
          r = h - 1 - j, c = w - 1 - i;
      }
      b[i * bw + j] = a[r * w + c];
    }
  }
  return { h: bh, w: bw, cells: b };
}

/** Maps every cell value v to `map[v]`; returns a new grid. */
export function mapCells(g: Grid, map: ArrayLike<number>): Grid {
  const out = new Uint8Array(g.cells.length);
  for (let k = 0; k < out.length; k++) {
    const v = map[g.cells[k]];
    if (v === undefined) throw new RangeError(`mapCells: value ${g.cells[k]} has no image`);
    out[k] = v;
  }
  return { h: g.h, w: g.w, cells: out };
}

/** The inverse of a permutation given as an array (argsort of a permutation). */
export function invertPermutation(p: ArrayLike<number>): Uint8Array {
  const inv = new Uint8Array(p.length).fill(255);
  for (let k = 0; k < p.length; k++) {
    const v = p[k];
    if (!Number.isInteger(v) || v < 0 || v >= p.length || inv[v] !== 255) {
      throw new RangeError(`invertPermutation: not a permutation: [${Array.from(p).join(", ")}]`);
    }
    inv[v] = k;
  }
  return inv;
}

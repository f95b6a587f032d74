/**
 * An equivalence key for Sudoku puzzles under the symmetry group (digit relabelling, band/row and
 * stack/column shuffles, transpose when boxes are square).
 *
 * The puzzle is read as a graph: nodes for cells, rows, columns, boxes, bands, stacks and digits;
 * edges cell–row, cell–column, cell–box, cell–digit (givens), row–band, column–stack, box–band,
 * box–stack. Every symmetry is a graph isomorphism, so a Weisfeiler–Lehman colour refinement of it
 * (5 rounds, 32-bit hashed colours), summarised as the sorted multiset of final colours, is the
 * same for equivalent puzzles. Rows and columns (bands and stacks) start with the same colour, so
 * the key is also unchanged by transposition (for 6×6 boxes the box edges still tell rows from
 * columns, as transpose is no symmetry there). This is an invariant, not a full canonical form: equivalent puzzles always get
 * equal keys, and two inequivalent puzzles colliding only makes a deduplicating generator drop one
 * of them, which keeps train and test inequivalent either way.
 */
import type { SudokuShape } from "./shape.ts";

function mix(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ b;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The equivalence key of a puzzle (values 0..n, 0 blank), 16 hex digits. */
export function sudokuKey(values: ArrayLike<number>, shape: SudokuShape): string {
  const { n, boxRows, boxCols } = shape;
  const nb = n / boxRows, ns = n / boxCols;
  // Node layout: cells, rows, cols, boxes, bands, stacks, digits.
  const R = n * n, C = R + n, B = C + n, BA = B + n, ST = BA + nb, D = ST + ns, N = D + n;
  const adj: number[][] = Array.from({ length: N }, () => []);
  const link = (a: number, b: number) => (adj[a].push(b), adj[b].push(a));
  const colour = new Uint32Array(N);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const cell = i * n + j;
      const v = values[i * n + j];
      const box = Math.floor(i / boxRows) * ns + Math.floor(j / boxCols);
      link(cell, R + i), link(cell, C + j), link(cell, B + box);
      if (v !== 0) link(cell, D + v - 1);
      colour[cell] = v !== 0 ? 1 : 2;
    }
  }
  for (let i = 0; i < n; i++) link(R + i, BA + Math.floor(i / boxRows));
  for (let j = 0; j < n; j++) link(C + j, ST + Math.floor(j / boxCols));
  for (let b = 0; b < n; b++) link(B + b, BA + Math.floor(b / ns)), link(B + b, ST + (b % ns));
  colour.fill(3, R, B), colour.fill(5, B, BA), colour.fill(6, BA, D), colour.fill(8, D, N);
  let cur = colour;
  for (let round = 0; round < 5; round++) {
    const next = new Uint32Array(N);
    for (let v = 0; v < N; v++) {
      const nbr = adj[v].map((u) => cur[u]).sort((a, b) => a - b);
      let h = mix(cur[v], nbr.length);
      for (const x of nbr) h = mix(h, x);
      next[v] = h;
    }
    cur = next;
  }
  const sorted = Array.from(cur).sort((a, b) => a - b);
  let h1 = 0x12345678, h2 = 0x9abcdef0;
  for (const x of sorted) h1 = mix(h1, x), h2 = mix(h2 ^ x, h1);
  return h1.toString(16).padStart(8, "0") + h2.toString(16).padStart(8, "0");
}

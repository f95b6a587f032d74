/**
 * Sudoku board shapes (n×n with boxes of boxRows×boxCols: 4×4 = 2×2, 6×6 = 2×3, 9×9 = 3×3),
 * string conversion (`.` or `0` = blank, digits 1..n), and solution checks.
 */

/** A board shape with its units (rows, columns, boxes) and the peers of every cell. */
export interface SudokuShape {
  readonly n: number;
  readonly boxRows: number;
  readonly boxCols: number;
  readonly cells: number;
  /** 3n units of n cells each: rows, then columns, then boxes. */
  readonly units: readonly Int16Array[];
  /** Distinct cells sharing a unit with each cell. */
  readonly peers: readonly Int16Array[];
  /** Bit mask with the n digit bits set. */
  readonly full: number;
}

const shapes = new Map<number, SudokuShape>();

/** The shape for side 4, 6 or 9. */
export function sudokuShape(n: number): SudokuShape {
  const cached = shapes.get(n);
  if (cached) return cached;
  const dims: Record<number, [number, number]> = { 4: [2, 2], 6: [2, 3], 9: [3, 3] };
  const d = dims[n];
  if (!d) throw new RangeError(`sudoku: side must be 4, 6 or 9: ${n}`);
  const [boxRows, boxCols] = d;
  const units: Int16Array[] = [];
  for (let r = 0; r < n; r++) units.push(Int16Array.from({ length: n }, (_, c) => r * n + c));
  for (let c = 0; c < n; c++) units.push(Int16Array.from({ length: n }, (_, r) => r * n + c));
  for (let br = 0; br < n / boxRows; br++) {
    for (let bc = 0; bc < n / boxCols; bc++) {
      const u: number[] = [];
      for (let i = 0; i < boxRows; i++) {
        for (let j = 0; j < boxCols; j++) u.push((br * boxRows + i) * n + bc * boxCols + j);
      }
      units.push(Int16Array.from(u));
    }
  }
  const peerSets = Array.from({ length: n * n }, () => new Set<number>());
  for (const u of units) for (const a of u) for (const b of u) if (a !== b) peerSets[a].add(b);
  const shape: SudokuShape = {
    n,
    boxRows,
    boxCols,
    cells: n * n,
    units,
    peers: peerSets.map((s) => Int16Array.from([...s].sort((a, b) => a - b))),
    full: (1 << n) - 1,
  };
  shapes.set(n, shape);
  return shape;
}

/** Parses a board string (`.`/`0` blank, `1`..`n`) into values 0..n; `where` names it in errors. */
export function parseBoard(
  text: string,
  shape: SudokuShape,
  where: string,
  allowBlank: boolean,
): Uint8Array {
  if (text.length !== shape.cells) {
    throw new RangeError(`${where}: expected ${shape.cells} characters, got ${text.length}`);
  }
  const out = new Uint8Array(shape.cells);
  for (let k = 0; k < text.length; k++) {
    const ch = text[k];
    if ((ch === "." || ch === "0") && allowBlank) continue;
    const v = ch.charCodeAt(0) - 48;
    if (!(v >= 1 && v <= shape.n)) {
      throw new RangeError(
        `${where}: character ${k} is ${JSON.stringify(ch)}, not a digit 1..${shape.n}`,
      );
    }
    out[k] = v;
  }
  return out;
}

/** Board values as a string, `.` for blanks. */
export function boardToString(values: ArrayLike<number>): string {
  let s = "";
  for (let k = 0; k < values.length; k++) s += values[k] === 0 ? "." : String(values[k]);
  return s;
}

/** Whether `solution` (no blanks) has every digit once in every unit. */
export function isValidSolution(solution: ArrayLike<number>, shape: SudokuShape): boolean {
  for (const u of shape.units) {
    let seen = 0;
    for (const c of u) {
      const v = solution[c];
      if (v < 1 || v > shape.n) return false;
      seen |= 1 << (v - 1);
    }
    if (seen !== shape.full) return false;
  }
  return true;
}

/** Whether the solution agrees with every given of the puzzle. */
export function agreesWithGivens(puzzle: ArrayLike<number>, solution: ArrayLike<number>): boolean {
  for (let k = 0; k < puzzle.length; k++) {
    if (puzzle[k] !== 0 && puzzle[k] !== solution[k]) return false;
  }
  return true;
}

/** Number of givens (non-blank cells). */
export function countGivens(puzzle: ArrayLike<number>): number {
  let c = 0;
  for (let k = 0; k < puzzle.length; k++) if (puzzle[k] !== 0) c++;
  return c;
}

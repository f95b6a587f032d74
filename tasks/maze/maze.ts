/**
 * Maze grids as in `sapientinc/maze-30x30-hard-1k` and TRM's `dataset/build_maze_dataset.py`:
 * characters `#` wall, space open, `S` start, `G` goal, `o` path (answers only), as tokens 1..5
 * (0 = PAD, unused; vocab 6). Shortest paths are 4-connected; "length" here is the number of
 * steps (moves) from S to G, so a path of L steps marks L − 1 `o` cells.
 */
import { dihedral } from "../grid.ts";

export const WALL = 1, OPEN = 2, START = 3, GOAL = 4, PATH = 5;
export const MAZE_VOCAB = 6;
const CHARS = ["", "#", " ", "S", "G", "o"];

/** BFS neighbour order: down, left, right, up (the tie-break of the answer path). */
const DR = [1, 0, 0, -1], DC = [0, -1, 1, 0];

/** Parses maze text into tokens; `allowPath` admits `o`. */
export function parseMaze(text: string, n: number, where: string, allowPath: boolean): Uint8Array {
  if (text.length !== n * n) {
    throw new RangeError(`${where}: expected ${n * n} characters (${n}x${n}), got ${text.length}`);
  }
  const out = new Uint8Array(n * n);
  for (let k = 0; k < text.length; k++) {
    const t = CHARS.indexOf(text[k]);
    if (t < 1 || (t === PATH && !allowPath)) {
      throw new RangeError(
        `${where}: character ${k} is ${JSON.stringify(text[k])}, not one of "# SG${
          allowPath ? "o" : ""
        }"`,
      );
    }
    out[k] = t;
  }
  return out;
}

/** Tokens as maze text. */
export function mazeToString(tokens: ArrayLike<number>): string {
  let s = "";
  for (let k = 0; k < tokens.length; k++) s += CHARS[tokens[k]];
  return s;
}

/** BFS from `from` over non-wall cells: distance per cell (−1 unreachable) and first parents. */
export function bfs(
  grid: Uint8Array,
  n: number,
  from: number,
): { dist: Int32Array; parent: Int32Array } {
  const dist = new Int32Array(n * n).fill(-1), parent = new Int32Array(n * n).fill(-1);
  const queue = new Int32Array(n * n);
  let head = 0, tail = 0;
  dist[from] = 0;
  queue[tail++] = from;
  while (head < tail) {
    const c = queue[head++], r = Math.floor(c / n), col = c % n;
    for (let d = 0; d < 4; d++) {
      const r2 = r + DR[d], c2 = col + DC[d];
      if (r2 < 0 || r2 >= n || c2 < 0 || c2 >= n) continue;
      const k = r2 * n + c2;
      if (grid[k] === WALL || dist[k] >= 0) continue;
      dist[k] = dist[c] + 1;
      parent[k] = c;
      queue[tail++] = k;
    }
  }
  return { dist, parent };
}

/** The answer grid: the question with `o` on the interior cells of the BFS path S → G. */
export function solveMaze(
  question: Uint8Array,
  n: number,
): { answer: Uint8Array; steps: number } | null {
  const s = question.indexOf(START), g = question.indexOf(GOAL);
  const { dist, parent } = bfs(question, n, s);
  if (dist[g] < 0) return null;
  const answer = question.slice();
  for (let c = parent[g]; c !== s; c = parent[c]) answer[c] = PATH;
  return { answer, steps: dist[g] };
}

/** Number of distinct shortest S→G paths (as a float; can be large). */
export function countShortestPaths(question: Uint8Array, n: number): number {
  const s = question.indexOf(START), g = question.indexOf(GOAL);
  const { dist } = bfs(question, n, s);
  if (dist[g] < 0) return 0;
  const order = Array.from({ length: n * n }, (_, k) => k).filter((k) => dist[k] >= 0)
    .sort((a, b) => dist[a] - dist[b]);
  const ways = new Float64Array(n * n);
  ways[s] = 1;
  for (const c of order) {
    if (c === s) continue;
    const r = Math.floor(c / n), col = c % n;
    for (let d = 0; d < 4; d++) {
      const r2 = r + DR[d], c2 = col + DC[d];
      if (r2 < 0 || r2 >= n || c2 < 0 || c2 >= n) continue;
      const k = r2 * n + c2;
      if (dist[k] === dist[c] - 1) ways[c] += ways[k];
    }
  }
  return ways[g];
}

/**
 * Checks a question/answer pair: one S and one G, same walls, `o` only on open cells, and the `o`
 * cells form one shortest 4-connected path from S to G. Throws RangeError naming `where`.
 * Returns the path length in steps.
 */
export function validateMaze(
  question: Uint8Array,
  answer: Uint8Array,
  n: number,
  where: string,
): number {
  const count = (a: Uint8Array, t: number) => a.reduce((x, v) => x + (v === t ? 1 : 0), 0);
  if (count(question, START) !== 1 || count(question, GOAL) !== 1) {
    throw new RangeError(
      `${where}: question: needs exactly one S and one G, has ${count(question, START)} S and ${
        count(question, GOAL)
      } G`,
    );
  }
  for (let k = 0; k < question.length; k++) {
    const q = question[k], a = answer[k];
    if (a !== q && !(a === PATH && q === OPEN)) {
      throw new RangeError(
        `${where}: answer: cell ${k} is ${CHARS[a]} but the question has ${CHARS[q]}`,
      );
    }
  }
  const s = question.indexOf(START), g = question.indexOf(GOAL);
  const { dist } = bfs(question, n, s);
  if (dist[g] < 0) throw new RangeError(`${where}: question: G is not reachable from S`);
  const marked = count(answer, PATH);
  // BFS through S, G and `o` cells only: a shortest path of d steps uses exactly d − 1 of them.
  const onPath = answer.map((v) => (v === PATH || v === START || v === GOAL ? OPEN : WALL));
  const viaPath = bfs(onPath, n, s).dist[g];
  if (viaPath !== dist[g] || marked !== dist[g] - 1) {
    throw new RangeError(
      `${where}: answer: the o cells are not a shortest S-G path (shortest ${dist[g]} steps, ` +
        `${marked} o cells, path through them ${viaPath < 0 ? "none" : viaPath + " steps"})`,
    );
  }
  return dist[g];
}

/** A key equal for a maze and its 8 dihedral images (min over the images of the token string). */
export function mazeDihedralKey(question: Uint8Array, n: number): string {
  let best = "";
  for (let t = 0; t < 8; t++) {
    const s = mazeToString(dihedral({ h: n, w: n, cells: question }, t).cells);
    if (t === 0 || s < best) best = s;
  }
  return best;
}

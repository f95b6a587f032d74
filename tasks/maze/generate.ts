/**
 * Our generator of mazes like Maze-30x30-Hard (Hugging Face `sapientinc/maze-30x30-hard-1k`:
 * 1000 train + 1000 test 30×30 mazes whose shortest path exceeds 110), which cannot be fetched
 * offline.
 *
 * 1. Walls: each cell is a wall with a probability drawn per maze from `wallDensity` (default
 *    0.3–0.5); the border is not walled specially.
 * 2. Start S: a random open cell.
 * 3. Hardening: with independent walls a shortest path over 110 steps on 30×30 is very rare
 *    (measured: under 0.2% of layouts even from the farthest cell), so while the farthest cell
 *    from S is at most `minSteps` away, a random interior cell of the BFS path to it becomes a
 *    wall (undone if that cuts the far cell off). This lengthens paths the way extra walls do and
 *    raises the final wall density above the drawn one (reported per maze).
 * 4. Goal G: uniform among open cells more than `minSteps` steps from S (> 110 for 30×30).
 * The answer marks the BFS path with the fixed tie-break of ./maze.ts. Mazes equal under the 8
 * dihedral maps (or in `exclude`) are skipped.
 */
import type { RandomSource } from "../dataset.ts";
import { bfs, GOAL, mazeDihedralKey, OPEN, solveMaze, START, WALL } from "./maze.ts";

/** One generated maze. */
export interface GeneratedMaze {
  readonly question: Uint8Array;
  readonly answer: Uint8Array;
  /** Shortest path length in steps. */
  readonly steps: number;
  readonly wallDensity: number;
  readonly key: string;
}

/** Generator options. */
export interface MazeGenOptions {
  n: number;
  count: number;
  /** Paths must be strictly longer than this many steps. */
  minSteps: number;
  wallDensity?: [number, number];
  exclude?: ReadonlySet<string>;
  onMaze?: () => void;
}

/** Default minimum path length for side n: 110 at 30×30, scaled with the area otherwise. */
export function defaultMinSteps(n: number): number {
  return n === 30 ? 110 : Math.floor((110 * n * n) / 900);
}

const SCALE = 1 << 30;

/**
 * Adds walls on the path from `s` to its farthest cell until some cell is more than `minSteps`
 * steps away; returns a goal drawn among such cells, or −1 when the layout cannot get there.
 */
function harden(q: Uint8Array, n: number, s: number, minSteps: number, rng: RandomSource): number {
  const fixed = new Uint8Array(n * n); // cells whose walling would cut the far cell off
  for (let step = 0; step < 4 * n * n; step++) {
    const { dist, parent } = bfs(q, n, s);
    let far = s;
    for (let k = 0; k < dist.length; k++) if (dist[k] > dist[far]) far = k;
    if (dist[far] > minSteps) {
      const goals: number[] = [];
      for (let k = 0; k < dist.length; k++) if (dist[k] > minSteps) goals.push(k);
      return goals[rng.int(goals.length)];
    }
    const path: number[] = [];
    for (let c = parent[far]; c !== s && c >= 0; c = parent[c]) if (!fixed[c]) path.push(c);
    if (path.length === 0) return -1;
    const c = path[rng.int(path.length)];
    q[c] = WALL;
    if (bfs(q, n, s).dist[far] < 0) {
      q[c] = OPEN;
      fixed[c] = 1;
    }
  }
  return -1;
}

/** Generates `count` distinct mazes. */
export function generateMazes(
  opts: MazeGenOptions,
  rng: RandomSource,
): { mazes: GeneratedMaze[]; attempts: number } {
  const { n, count, minSteps } = opts;
  const [lo, hi] = opts.wallDensity ?? [0.3, 0.5];
  if (!(n >= 2 && n <= 30 && Number.isInteger(n))) {
    throw new RangeError(`maze generator: side must be 2..30: ${n}`);
  }
  if (!(minSteps >= 0 && minSteps < n * n)) {
    throw new RangeError(`maze generator: minSteps out of range: ${minSteps}`);
  }
  const seen = new Set<string>(opts.exclude ?? []);
  const mazes: GeneratedMaze[] = [];
  let attempts = 0;
  const maxAttempts = 2000 * count + 10000;
  while (mazes.length < count) {
    if (++attempts > maxAttempts) {
      throw new RangeError(
        `maze generator: gave up after ${
          attempts - 1
        } attempts with ${mazes.length}/${count} mazes ` +
          `(side ${n}, paths > ${minSteps} steps): lower --min-steps or raise the side`,
      );
    }
    const density = lo + ((hi - lo) * rng.int(SCALE)) / SCALE;
    const limit = Math.floor(density * SCALE);
    const q = new Uint8Array(n * n);
    const open: number[] = [];
    for (let k = 0; k < q.length; k++) {
      q[k] = rng.int(SCALE) < limit ? WALL : OPEN;
      if (q[k] === OPEN) open.push(k);
    }
    if (open.length < 2) continue;
    const s = open[rng.int(open.length)];
    const g = harden(q, n, s, minSteps, rng);
    if (g < 0) continue;
    q[s] = START;
    q[g] = GOAL;
    const key = mazeDihedralKey(q, n);
    if (seen.has(key)) continue;
    seen.add(key);
    const solved = solveMaze(q, n)!;
    const walls = q.reduce((a, v) => a + (v === WALL ? 1 : 0), 0) / q.length;
    mazes.push({
      question: q,
      answer: solved.answer,
      steps: solved.steps,
      wallDensity: walls,
      key,
    });
    opts.onMaze?.();
  }
  return { mazes, attempts };
}

/**
 * ARC augmentation (as TRM's `dataset/build_arc_dataset.py`): one version = a colour permutation of
 * 1..9 (0 fixed) applied first, then one of the 8 dihedral maps, to every grid of the task.
 * Versions are kept only if the transformed task differs from the original and from every kept
 * version (order of pairs ignored, test outputs included), up to `maxAug` versions from
 * `retryFactor × maxAug` attempts.
 *
 * Names: the original keeps its task id; a version is `<task>|||t<d>|||<m0..m9>` where digit k is
 * the new colour of old colour k. Inverse: dihedral `DIHEDRAL_INVERSE[d]`, then the inverse map.
 */
import { DIHEDRAL_INVERSE, type Grid, invertPermutation, makeGrid } from "../grid.ts";
import type { RandomSource } from "../dataset.ts";
import { dihedralSourceIndex } from "./encode.ts";
import type { ArcTask } from "./load.ts";

/** Separator of the parts of an augmented puzzle name (TRM `PuzzleIdSeparator`). */
export const NAME_SEPARATOR = "|||";

/** One augmentation: dihedral id and colour map (`map[old] = new`, `map[0] = 0`). */
export interface ArcAug {
  readonly t: number;
  readonly map: Uint8Array;
}

/** The identity augmentation (the original task). */
export const IDENTITY_AUG: ArcAug = { t: 0, map: Uint8Array.from({ length: 10 }, (_, k) => k) };

/** Whether `aug` is the identity. */
export function isIdentityAug(aug: ArcAug): boolean {
  return aug.t === 0 && aug.map.every((v, k) => v === k);
}

/** Name of a version: the task id for the identity, else `<task>|||t<d>|||<digits>`. */
export function augName(taskId: string, aug: ArcAug): string {
  if (isIdentityAug(aug)) return taskId;
  return `${taskId}${NAME_SEPARATOR}t${aug.t}${NAME_SEPARATOR}${aug.map.join("")}`;
}

/** Parses a puzzle name back into task id and augmentation (identity when unaugmented). */
export function parseAugName(name: string): { taskId: string; aug: ArcAug } {
  const parts = name.split(NAME_SEPARATOR);
  if (parts.length === 1) return { taskId: name, aug: IDENTITY_AUG };
  const m = parts.length === 3 ? /^t([0-7])$/.exec(parts[1]) : null;
  if (!m || !/^0[0-9]{9}$/.test(parts[2])) {
    throw new SyntaxError(`parseAugName: not <task>|||t<0-7>|||<10 digits>: ${name}`);
  }
  const map = Uint8Array.from(parts[2], (d) => Number(d));
  invertPermutation(map); // throws unless a permutation
  return { taskId: parts[0], aug: { t: Number(m[1]), map } };
}

/** Applies an augmentation to a grid: colour map, then dihedral map. */
export function applyAug(g: Grid, aug: ArcAug): Grid {
  const src = dihedralSourceIndex(g.h, g.w, aug.t);
  const swap = aug.t === 1 || aug.t === 3 || aug.t === 6 || aug.t === 7;
  const cells = new Uint8Array(g.cells.length);
  for (let k = 0; k < cells.length; k++) cells[k] = aug.map[g.cells[src[k]]];
  return { h: swap ? g.w : g.h, w: swap ? g.h : g.w, cells };
}

/** Undoes an augmentation: inverse dihedral map, then inverse colour map. */
export function invertAug(g: Grid, aug: ArcAug): Grid {
  const inv: ArcAug = { t: DIHEDRAL_INVERSE[aug.t], map: IDENTITY_AUG.map };
  const undone = applyAug(g, inv);
  const invMap = invertPermutation(aug.map);
  return makeGrid(undone.h, undone.w, Array.from(undone.cells, (v) => invMap[v]));
}

/** Draws one augmentation: t uniform in 0..7, then a uniform permutation of colours 1..9. */
export function randomAug(rng: RandomSource): ArcAug {
  const t = rng.int(8);
  const map = Uint8Array.from({ length: 10 }, (_, k) => k);
  for (let i = 9; i > 1; i--) {
    const j = 1 + rng.int(i); // j in 1..i
    const tmp = map[i];
    map[i] = map[j];
    map[j] = tmp;
  }
  return { t, map };
}

const TWO_21 = 2097152;

function hashGrid(g: Grid, aug: ArcAug, seed: number): number {
  const src = dihedralSourceIndex(g.h, g.w, aug.t);
  const swap = aug.t === 1 || aug.t === 3 || aug.t === 6 || aug.t === 7;
  let h = Math.imul(seed ^ (swap ? g.w : g.h), 0x9e3779b1) ^ (swap ? g.h : g.w);
  const cells = g.cells, map = aug.map;
  for (let k = 0; k < src.length; k++) {
    h = Math.imul(h ^ map[cells[src[k]]], 0x01000193);
    h ^= h >>> 15;
  }
  return h >>> 0;
}

function mix32(a: number, b: number): number {
  let h = Math.imul(a ^ 0x85ebca6b, 0xcc9e2d51) ^ b;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * A 53-bit fingerprint of the task transformed by `aug`, independent of the order of pairs
 * (demonstration and test pairs, outputs included). Two independent 32-bit hashes per pair; the
 * chance that two different versions of one task collide among ≤ 5000 is below 1e-8.
 */
export function taskFingerprint(task: ArcTask, aug: ArcAug): number {
  const pairs = [...task.train, ...task.test];
  const keys = new Float64Array(pairs.length);
  for (let k = 0; k < pairs.length; k++) {
    const p = pairs[k];
    const a = mix32(hashGrid(p.input, aug, 0x1234567), hashGrid(p.output, aug, 0x7654321));
    const b = mix32(hashGrid(p.output, aug, 0x2545f491), hashGrid(p.input, aug, 0x68e31da4));
    keys[k] = a * TWO_21 + (b >>> 11);
  }
  keys.sort();
  let a = 0x3c6ef372, b = 0xa54ff53a;
  for (const k of keys) {
    const hi = Math.floor(k / TWO_21), lo = k % TWO_21;
    a = mix32(a, hi);
    b = mix32(b ^ lo, hi);
  }
  return a * TWO_21 + (b >>> 11);
}

/** Result of `findAugmentations`. */
export interface AugSearch {
  /** Distinct non-identity versions, in the order found. */
  readonly augs: ArcAug[];
  /** Attempts drawn. */
  readonly tries: number;
}

/**
 * Draws up to `retryFactor × maxAug` random augmentations and keeps those whose transformed task
 * is new, stopping at `maxAug` kept versions.
 */
export function findAugmentations(
  task: ArcTask,
  maxAug: number,
  rng: RandomSource,
  retryFactor = 5,
): AugSearch {
  const seen = new Set<number>([taskFingerprint(task, IDENTITY_AUG)]);
  const augs: ArcAug[] = [];
  let tries = 0;
  const limit = retryFactor * maxAug;
  while (augs.length < maxAug && tries < limit) {
    tries++;
    const aug = randomAug(rng);
    const f = taskFingerprint(task, aug);
    if (seen.has(f)) continue;
    seen.add(f);
    augs.push(aug);
  }
  return { augs, tries };
}

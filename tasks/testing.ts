/** Helpers for tests in tasks/: fixture tasks (the real ARC data: `arc/data.ts`). */
import type { Rng } from "../engine/rng.ts";
import type { ArcBuildOptions } from "./arc/build.ts";

/** A random ARC-style grid as rows. */
export function randomRows(rng: Rng, h: number, w: number, colours = 10): number[][] {
  return Array.from({ length: h }, () => Array.from({ length: w }, () => rng.int(colours)));
}

/** A random task JSON object with `demos` demonstration and `tests` test pairs. */
export function randomTaskJson(rng: Rng, demos: number, tests: number) {
  const pair = () => {
    const h = 1 + rng.int(6), w = 1 + rng.int(6);
    return {
      input: randomRows(rng, h, w),
      output: randomRows(rng, 1 + rng.int(6), 1 + rng.int(6)),
    };
  };
  return {
    train: Array.from({ length: demos }, pair),
    test: Array.from({ length: tests }, pair),
  };
}

/** Writes an ARC repository layout (training/, evaluation/) of random tasks under `dir`. */
export async function writeMiniArc(
  dir: string,
  rng: Rng,
  counts: { training: number; evaluation: number },
): Promise<void> {
  for (const [subset, n] of Object.entries(counts)) {
    await Deno.mkdir(`${dir}/${subset}`, { recursive: true });
    for (let k = 0; k < n; k++) {
      const id = `${subset.slice(0, 2)}${k.toString().padStart(6, "0")}`;
      const task = randomTaskJson(rng, 2 + rng.int(3), 1 + rng.int(2));
      await Deno.writeTextFile(`${dir}/${subset}/${id}.json`, JSON.stringify(task));
    }
  }
}

/** ARC build options of the tests: both subsets, evaluation as the test split, no progress bar. */
export function arcTestOptions(o: Partial<ArcBuildOptions> = {}): ArcBuildOptions {
  return {
    seed: 42,
    maxAug: 6,
    retryFactor: 5,
    subsets: ["training", "evaluation"],
    testSubsets: ["evaluation"],
    tasksPerSubset: null,
    progress: false,
    ...o,
  };
}

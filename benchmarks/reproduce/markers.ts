/**
 * Completion markers: after a pipeline step of one (task, model, seed) finishes, it writes
 * `<run dir>/markers/<step>.json` with the hash of everything the step's output depends on. A
 * rerun skips a step whose marker carries the same hash; a different hash (changed config, or a
 * re-run upstream step) means the step runs again. Markers are written atomically (temporary file
 * then rename), so an interrupted step leaves no marker.
 */
import { createHash } from "node:crypto";
import { canonicalJson } from "../../recursion/run/config.ts";
import { writeFileAtomic } from "../../tasks/io.ts";

export const STEP_NAMES = ["prepare", "parity", "train", "evaluate", "score"] as const;
export type StepName = typeof STEP_NAMES[number];

/** What a marker file holds. */
export interface Marker {
  step: StepName;
  /** Hash of the step's inputs (for train: the run configuration's hash). */
  hash: string;
  finishedAt: string;
  seconds: number;
  /** Step-specific facts (dataset hash, parameter count, file names, headline figures). */
  info: Record<string, unknown>;
}

/** SHA-256 of the canonical JSON of `parts` (object keys sorted). */
export function hashOf(...parts: unknown[]): string {
  return createHash("sha256").update(canonicalJson(parts)).digest("hex");
}

export function markerPath(runDir: string, step: StepName): string {
  return `${runDir}/markers/${step}.json`;
}

/** The marker of `step`, or null when there is none. */
export async function readMarker(runDir: string, step: StepName): Promise<Marker | null> {
  try {
    const m = JSON.parse(await Deno.readTextFile(markerPath(runDir, step))) as Marker;
    if (m.step !== step || typeof m.hash !== "string") {
      throw new TypeError(`${markerPath(runDir, step)}: not a ${step} marker`);
    }
    return m;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/** The marker when it exists and carries `hash` (the step is done), else null. */
export async function doneMarker(
  runDir: string,
  step: StepName,
  hash: string,
): Promise<Marker | null> {
  const m = await readMarker(runDir, step);
  return m && m.hash === hash ? m : null;
}

/** Writes a marker atomically. */
export async function writeMarker(runDir: string, m: Marker): Promise<void> {
  const path = markerPath(runDir, m.step);
  await Deno.mkdir(`${runDir}/markers`, { recursive: true });
  await writeFileAtomic(path, JSON.stringify(m, null, 2) + "\n");
}

/** Removes the markers of the steps after `step` (their inputs are about to change). */
export async function clearAfter(runDir: string, step: StepName): Promise<void> {
  for (const s of STEP_NAMES.slice(STEP_NAMES.indexOf(step) + 1)) {
    await Deno.remove(markerPath(runDir, s)).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }
}

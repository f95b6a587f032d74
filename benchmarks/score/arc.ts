/**
 * ARC pass@K by voting over augmentations, behaving as TRM's evaluator (`evaluators/arc.py`):
 *
 * 1. Each prediction row carries its puzzle name (`<task>` or `<task>|||t<d>|||<digits>`), the
 *    input tokens, the predicted tokens and the last step's q_halt logit. Tokens are a canvas of
 *    s×s cells flattened row-major: 900 for TRM's 30×30 canvas, or s² for a reduced canvas side s
 *    in 1..30 (`deno task prepare arc --canvas s`); input and prediction have the same length.
 * 2. Input and prediction are cropped on their s×s canvas (`cropCanvas`: the largest top-left
 *    rectangle of colour tokens) and mapped back with the inverse augmentation (inverse dihedral,
 *    then inverse colour map).
 * 3. The inverted input identifies the test input of the task (exact grid equality, standing in
 *    for TRM's grid hash). Unlike TRM, a row of an unknown task, or whose input matches none of its
 *    task's test inputs, is an error rather than a vote that is silently never read.
 * 4. Per test input, identical inverted predictions are grouped; each distinct candidate has a vote
 *    count and the mean of sigmoid(q_halt_logit) (float64). Candidates are ranked by votes
 *    (descending), then mean sigmoid (descending), then first seen (TRM's stable sort).
 * 5. pass@K: a test input scores 1 when its true output is among the top K distinct candidates;
 *    a task scores the fraction of its test inputs solved; pass@K is the mean over all tasks of the
 *    set (400 for ARC-AGI-1), so a test input without predictions scores 0. This is vote-ranked
 *    coverage, not the unbiased pass@k estimator.
 *
 * Empty crops: a prediction whose top-left cell is not a colour token crops to the 0×0 grid. It is
 * kept as a candidate (key `0x0:`), votes and ranks like any other, and is never correct (every ARC
 * output is at least 1×1); in `submission.json` it appears as `[]`, as TRM's `tolist()` writes it.
 * An input that crops to 0×0 matches no test input and is an error.
 *
 * Two test inputs of one task with identical grids share one vote pool (TRM keys votes by the
 * input's hash); each is still scored against its own output.
 *
 * @example
 * ```ts
 * import { ArcVoter } from "./arc.ts";
 * const voter = new ArcVoter(tasks); // tasks: ArcTask[] from tasks/arc/load.ts
 * voter.add({ puzzle: "007bbfb7", input, prediction, qHaltLogit: 1.2 });
 * const score = voter.result();
 * score.passAtK[1]; // pass@2 as a fraction (ks = [1, 2, 5, 10, 100, 1000])
 * ```
 */
import {
  ARC_CANVAS,
  ARC_SEQ_LEN,
  ARC_VOCAB,
  canvasOfLength,
  cropCanvas,
} from "../../tasks/arc/encode.ts";
import { invertAug, parseAugName } from "../../tasks/arc/augment.ts";
import type { ArcTask } from "../../tasks/arc/load.ts";
import type { Grid } from "../../tasks/grid.ts";

/** TRM's default K list (`evaluators/arc.py` `pass_Ks`). */
export const PASS_KS: readonly number[] = [1, 2, 5, 10, 100, 1000];

/** The metric definition written next to every pass@K number. */
export const PASS_AT_K_DEFINITION =
  "vote-ranked coverage over augmentations (TRM evaluator), not the unbiased estimator";

/** One model output row (the parsed form of a PRED.jsonl line); tokens: s² each, s in 1..30. */
export interface ArcPrediction {
  readonly puzzle: string;
  readonly input: ArrayLike<number>;
  readonly prediction: ArrayLike<number>;
  readonly qHaltLogit: number;
}

/** Exact identity of a grid: `HxW:` then one digit per cell, row-major. */
export function gridKey(g: Grid): string {
  let s = `${g.h}x${g.w}:`;
  for (let k = 0; k < g.cells.length; k++) s += String.fromCharCode(48 + g.cells[k]);
  return s;
}

/** The logistic function. */
export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const OTHER_CANVASES = `or s×s for a canvas side s in 1..${ARC_CANVAS - 1}`;

function tokens(v: unknown, field: string): number[] {
  if (!Array.isArray(v)) {
    throw new TypeError(
      `field "${field}": must be a list of ${ARC_SEQ_LEN} tokens (${OTHER_CANVASES})`,
    );
  }
  if (canvasOfLength(v.length) === null) {
    throw new TypeError(
      `field "${field}": must have ${ARC_SEQ_LEN} tokens, has ${v.length} (${OTHER_CANVASES})`,
    );
  }
  for (let k = 0; k < v.length; k++) {
    const x = v[k];
    if (typeof x !== "number" || !Number.isInteger(x)) {
      throw new TypeError(`field "${field}": token ${k} is not an integer: ${JSON.stringify(x)}`);
    }
    if (x < 0 || x >= ARC_VOCAB) {
      throw new RangeError(`field "${field}": token ${k} is ${x}, not in 0..${ARC_VOCAB - 1}`);
    }
  }
  return v;
}

/**
 * The canvas side s of a row: input and prediction must both have s² tokens, s in 1..30.
 * Throws a TypeError naming the field otherwise.
 */
export function predictionCanvas(p: Pick<ArcPrediction, "input" | "prediction">): number {
  const s = canvasOfLength(p.input.length);
  if (s === null) {
    throw new TypeError(
      `field "input": must have ${ARC_SEQ_LEN} tokens, has ${p.input.length} (${OTHER_CANVASES})`,
    );
  }
  if (p.prediction.length !== p.input.length) {
    const t = canvasOfLength(p.prediction.length);
    throw new TypeError(
      `field "prediction": has ${p.prediction.length} tokens, the input ${p.input.length} ` +
        `(${t === null ? "not a square canvas" : `a ${t}x${t} canvas`} against ${s}x${s}): ` +
        `input and prediction must be on the same canvas`,
    );
  }
  return s;
}

/**
 * Validates one PRED.jsonl object: `{"puzzle": string, "input": [s² ints 0..11],
 * "prediction": [s² ints 0..11], "q_halt_logit": number}` with one canvas side s in 1..30 (900
 * tokens for TRM's 30×30); other keys are ignored. Errors name the field (callers prefix the file
 * and line).
 */
export function parsePrediction(value: unknown): ArcPrediction {
  if (!isObject(value)) throw new TypeError(`must be a JSON object, got ${typeof value}`);
  const puzzle = value.puzzle;
  if (typeof puzzle !== "string" || puzzle === "") {
    throw new TypeError(`field "puzzle": must be a non-empty string: ${JSON.stringify(puzzle)}`);
  }
  const q = value.q_halt_logit;
  if (typeof q !== "number" || !Number.isFinite(q)) {
    throw new TypeError(`field "q_halt_logit": must be a finite number: ${JSON.stringify(q)}`);
  }
  const row = {
    puzzle,
    input: tokens(value.input, "input"),
    prediction: tokens(value.prediction, "prediction"),
    qHaltLogit: q,
  };
  predictionCanvas(row);
  return row;
}

/** One distinct candidate of a test input, after ranking. */
export interface RankedCandidate {
  readonly grid: Grid;
  readonly key: string;
  readonly votes: number;
  /** Mean of sigmoid(q_halt_logit) over its votes. */
  readonly meanQ: number;
  /** Global index of the first prediction that proposed it (0-based, over all rows added). */
  readonly firstSeen: number;
}

/** Votes and outcome of one test input. */
export interface TestInputResult {
  readonly taskId: string;
  readonly testIndex: number;
  readonly nTests: number;
  /** Ranked best first. */
  readonly candidates: readonly RankedCandidate[];
  readonly nVotes: number;
  /** 1-based rank of the true output among the candidates; 0 when absent. */
  readonly correctRank: number;
  /** Votes for the true output (0 when absent). */
  readonly correctVotes: number;
}

/** Per-task fractional credit. */
export interface TaskResult {
  readonly taskId: string;
  readonly nTests: number;
  /** Credit in [0, 1] per K (same order as `ArcScore.ks`). */
  readonly credit: readonly number[];
}

/** The outcome of `ArcVoter.result`. */
export interface ArcScore {
  readonly ks: readonly number[];
  /** pass@K per K as a fraction of tasks (mean of task credit). */
  readonly passAtK: readonly number[];
  /** Sum of task credit per K (e.g. 183.5 of 400). */
  readonly credit: readonly number[];
  readonly nTasks: number;
  readonly nTestInputs: number;
  readonly nTestInputsWithPredictions: number;
  /** Prediction rows added. */
  readonly nPredictions: number;
  readonly tasks: readonly TaskResult[];
  /** Every test input of every task, in task order then test order. */
  readonly testInputs: readonly TestInputResult[];
}

interface Candidate {
  readonly grid: Grid;
  votes: number;
  qSum: number;
  readonly firstSeen: number;
}

interface Slot {
  readonly candidates: Map<string, Candidate>;
  nVotes: number;
}

interface TaskEntry {
  readonly task: ArcTask;
  readonly slots: Slot[];
  /** Input grid key → slot index. */
  readonly slotByInput: Map<string, number>;
  /** Test index → slot index. */
  readonly slotOfTest: number[];
}

const EMPTY_GRID: Grid = { h: 0, w: 0, cells: new Uint8Array(0) };

/** Crop then undo the augmentation; a 0×0 crop stays 0×0 (`invertAug` needs a real grid). */
function cropInvert(
  t: ArrayLike<number>,
  aug: ReturnType<typeof parseAugName>["aug"],
  canvas: number,
): Grid {
  const g = cropCanvas(t, 0, canvas);
  return g.h === 0 || g.w === 0 ? EMPTY_GRID : invertAug(g, aug);
}

/** Accumulates votes of prediction rows for one set of tasks; see the module comment. */
export class ArcVoter {
  readonly #tasks = new Map<string, TaskEntry>();
  readonly #order: string[] = [];
  #rows = 0;

  constructor(tasks: readonly ArcTask[]) {
    if (tasks.length === 0) throw new RangeError("ArcVoter: no tasks to score");
    for (const task of tasks) {
      if (this.#tasks.has(task.id)) throw new TypeError(`ArcVoter: duplicate task id ${task.id}`);
      const slots: Slot[] = [];
      const slotByInput = new Map<string, number>();
      const slotOfTest = task.test.map((pair) => {
        const key = gridKey(pair.input);
        let s = slotByInput.get(key);
        if (s === undefined) {
          s = slots.length;
          slots.push({ candidates: new Map(), nVotes: 0 });
          slotByInput.set(key, s);
        }
        return s;
      });
      this.#tasks.set(task.id, { task, slots, slotByInput, slotOfTest });
      this.#order.push(task.id);
    }
  }

  /** Prediction rows added so far. */
  get size(): number {
    return this.#rows;
  }

  /**
   * Adds one prediction row. Throws SyntaxError for a malformed puzzle name, TypeError for token
   * lists that are not one s×s canvas (`predictionCanvas`), RangeError for an unknown task or an
   * input that matches none of the task's test inputs.
   */
  add(p: ArcPrediction): void {
    const { taskId, aug } = parseAugName(p.puzzle);
    const canvas = predictionCanvas(p);
    const entry = this.#tasks.get(taskId);
    if (!entry) {
      throw new RangeError(
        `puzzle ${p.puzzle}: unknown task ${taskId} (not among the ${this.#order.length} tasks scored)`,
      );
    }
    const input = cropInvert(p.input, aug, canvas);
    const slot = entry.slotByInput.get(gridKey(input));
    if (slot === undefined) {
      throw new RangeError(
        `puzzle ${p.puzzle}: the input (cropped ${input.h}x${input.w}, augmentation undone) ` +
          `matches none of task ${taskId}'s ${entry.task.test.length} test input(s)`,
      );
    }
    const pred = cropInvert(p.prediction, aug, canvas);
    const key = gridKey(pred);
    const s = entry.slots[slot];
    const q = sigmoid(p.qHaltLogit);
    const c = s.candidates.get(key);
    if (c) {
      c.votes++;
      c.qSum += q;
    } else {
      s.candidates.set(key, { grid: pred, votes: 1, qSum: q, firstSeen: this.#rows });
    }
    s.nVotes++;
    this.#rows++;
  }

  /** Ranks every test input's candidates and computes pass@K for `ks`. */
  result(ks: readonly number[] = PASS_KS): ArcScore {
    for (const k of ks) {
      if (!Number.isInteger(k) || k < 1) throw new RangeError(`result: K must be ≥ 1: ${k}`);
    }
    const credit = ks.map(() => 0);
    const tasks: TaskResult[] = [];
    const testInputs: TestInputResult[] = [];
    let withPreds = 0;
    for (const id of this.#order) {
      const entry = this.#tasks.get(id)!;
      const ranked = entry.slots.map((s) => rank(s));
      const n = entry.task.test.length;
      const solved = ks.map(() => 0); // correct test inputs per K
      entry.task.test.forEach((pair, t) => {
        const slot = entry.slotOfTest[t];
        const cands = ranked[slot];
        const truth = gridKey(pair.output);
        const at = cands.findIndex((c) => c.key === truth);
        const nVotes = entry.slots[slot].nVotes;
        if (nVotes > 0) withPreds++;
        testInputs.push({
          taskId: id,
          testIndex: t,
          nTests: n,
          candidates: cands,
          nVotes,
          correctRank: at + 1,
          correctVotes: at >= 0 ? cands[at].votes : 0,
        });
        ks.forEach((k, i) => {
          if (at >= 0 && at < k) solved[i]++;
        });
      });
      // As TRM: task credit = correct test inputs / number of test inputs.
      const taskCredit = solved.map((c) => c / n);
      taskCredit.forEach((v, i) => credit[i] += v);
      tasks.push({ taskId: id, nTests: n, credit: taskCredit });
    }
    const nTasks = this.#order.length;
    return {
      ks: [...ks],
      passAtK: credit.map((c) => c / nTasks),
      credit,
      nTasks,
      nTestInputs: testInputs.length,
      nTestInputsWithPredictions: withPreds,
      nPredictions: this.#rows,
      tasks,
      testInputs,
    };
  }
}

function rank(s: Slot): RankedCandidate[] {
  const out: RankedCandidate[] = [];
  for (const [key, c] of s.candidates) {
    out.push({
      grid: c.grid,
      key,
      votes: c.votes,
      meanQ: c.qSum / c.votes,
      firstSeen: c.firstSeen,
    });
  }
  // Array.prototype.sort is stable; insertion order is first-seen order.
  out.sort((a, b) => b.votes - a.votes || b.meanQ - a.meanQ || a.firstSeen - b.firstSeen);
  return out;
}

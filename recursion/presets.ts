/**
 * Run configuration: one typed object per training run, built from a named preset, parsed once
 * (unknown keys are a RangeError naming the key), hashed, printed at start and written to
 * `OUT/config.json`.
 *
 * Presets per task:
 * - `paper`: the official TRM commands (its README and `config/cfg_pretrain.yaml`): hidden 512, 8
 *   heads, T = 3, n = L_cycles (Sudoku 6; Maze and ARC 4 as the official commands — the paper says
 *   6 for all; pass `--l-cycles 6` to follow the paper, the value is recorded), global batch 768,
 *   lr 1e-4, 2000 warm-up steps then constant, β (0.9, 0.95), EMA 0.999, wd 1.0 (ARC 0.1),
 *   puzzle-embedding lr 1e-4 (ARC 1e-2) and wd = wd, 50k epochs (ARC 100k), evaluation (and a
 *   checkpoint) every 5000 epochs (ARC 10000).
 * - `cpu-mini`: the same structure (prefix of 16, post-norm blocks, ACT with exploration, deep
 *   supervision, AdamATan2 + sign-SGD + EMA) scaled so that it visibly learns on 2 CPU cores in a
 *   few minutes. Choices and why:
 *   - task: 4×4 Sudoku from our generator (tasks/sudoku, 500 training puzzles × 100 symmetries,
 *     250 held-out inequivalent puzzles; 4–11 givens). Sequence 16 (+16 prefix = 32 positions),
 *     vocab 6. 9×9 needs far more than minutes; 4×4 still needs every constraint of a row, column
 *     and box, and exact accuracy by chance is ≈ 1e-4 (each blank right with p = 1/4);
 *   - width 64, 4 heads (head dim 16), SwiGLU expansion 4: the smallest width at which the
 *     attention heads keep a useful head dim; one step costs ~0.1 s on 2 cores;
 *   - T = 2, n = 2 (the paper's "T=2, n=2" ablation: 6 network calls per ACT step, 3 with
 *     gradient) to keep the step cheap; the recursion and its no-grad cycle are still exercised;
 *   - Mamba-2: d_state 16, head dim 16 (4 heads at expand 2), chunk 64 (≥ the 32 positions), so
 *     the SSD scan is one chunk; paper-size d_state 128 would dominate the cost at width 64;
 *   - ACT at most 8 supervision steps (evaluation runs all 8 on every puzzle), exploration 0.1;
 *   - batch 64, lr 1e-3 (10× the paper: a few thousand steps instead of 65k), 100 warm-up steps,
 *     wd 0.1 (lr·wd = 1e-4, the paper's product), EMA 0.99 (horizon ~100 steps: the paper's 0.999
 *     averages over 1000 steps, a third of the whole run here);
 *   - evaluation every 250 steps on all 250 held-out puzzles, checkpoints every 500 steps.
 *
 * - `cpu-mini` for Maze and ARC, `cpu-study` (the CPU-scale study, `deno task study`) and `smoke`
 *   (all three tasks, CI): see `reducedGridConfig`, `studyConfig` and `smokeConfig` below; their
 *   prepared datasets and the `deno task prepare` arguments that build them: `presetDataRecipe`
 *   (`deno task reproduce` runs them).
 *
 * Overrides come from a JSON file of partial settings (run/config.ts `mergeConfig`) or from a few CLI flags;
 * both go through the same checks.
 */
import {
  ALL_MODEL_NAMES,
  GLA_PAPER,
  type GlaSettings,
  MAMBA_DEFAULTS,
  type ModelName,
} from "./config.ts";
import {
  DEFAULT_GENERATE,
  PRESET_NAMES,
  type PresetName,
  type RunConfig,
  type ScheduleSettings,
  TASK_NAMES,
  type TaskName,
} from "./run/config.ts";

const PAPER_L_CYCLES: Record<TaskName, number> = { sudoku: 6, maze: 4, arc: 4 };

/**
 * GLA settings of tr-gla per preset (the other models have none, so their hashes are unchanged):
 * the key dim the parity search (`matchWidths`, `deno task parity --match tr-gla` at paper size)
 * picks at the preset's width — 8 heads at paper size, 4 at width 64, 2 at width 32, each of
 * value dim W/heads; the key dim is half the value dim in every case (presets_test.ts checks each
 * against the search) — non-causal. Counts against TRM-attn on ARC: paper 6,838,290 vs 6,829,058
 * (+9,232, +0.14 %); cpu-mini and cpu-study (W 64, key dim 8: GLA 16,708 vs attention 16,384 per
 * layer) 133,386 vs 132,738 (+648, +0.49 %); smoke (W 32, key dim 8) GLA 4,194 vs 4,096 per layer.
 */
const GLA_PRESETS: Record<PresetName, GlaSettings> = {
  paper: GLA_PAPER,
  "cpu-mini": { keyDim: 8, causal: false },
  "cpu-study": { keyDim: 8, causal: false },
  smoke: { keyDim: 8, causal: false },
};

/** The preset's configuration for a task and model. */
export function presetConfig(
  preset: PresetName,
  task: TaskName,
  model: ModelName,
  seed = 0,
): RunConfig {
  const c = basePresetConfig(preset, task, model, seed);
  if (model !== "tr-gla") return c;
  return { ...c, arch: { ...c.arch, gla: { ...GLA_PRESETS[preset] } } };
}

function basePresetConfig(
  preset: PresetName,
  task: TaskName,
  model: ModelName,
  seed: number,
): RunConfig {
  if (!PRESET_NAMES.includes(preset)) {
    throw new RangeError(`unknown preset: ${preset} (expected ${PRESET_NAMES.join(", ")})`);
  }
  if (!TASK_NAMES.includes(task)) {
    throw new RangeError(`unknown task: ${task} (expected ${TASK_NAMES.join(", ")})`);
  }
  if (!ALL_MODEL_NAMES.includes(model)) {
    throw new RangeError(`unknown model: ${model} (expected ${ALL_MODEL_NAMES.join(", ")})`);
  }
  // MLP-t replaces attention: the Sudoku MLP-t command sets positional encodings to none.
  const rope = !model.endsWith("mlp-t") && !model.endsWith("mlpt");
  if (preset === "paper") {
    const arc = task === "arc";
    return {
      task,
      model,
      preset,
      scale: "paper",
      seed,
      backend: "auto",
      arch: {
        hidden: 512,
        heads: 8,
        expansion: 4,
        prefixLen: 16,
        hCycles: 3,
        lCycles: PAPER_L_CYCLES[task],
        rope,
        mamba: { ...MAMBA_DEFAULTS },
        haltMaxSteps: 16,
        haltExploration: 0.1,
      },
      data: { dir: null, generate: null, cacheRoot: ".cache/datasets" },
      train: {
        batchSize: 768,
        lr: 1e-4,
        warmupSteps: 2000,
        lrMinRatio: 1,
        weightDecay: arc ? 0.1 : 1.0,
        beta1: 0.9,
        beta2: 0.95,
        puzzleLr: arc ? 1e-2 : 1e-4,
        puzzleWeightDecay: arc ? 0.1 : 1.0,
        emaDecay: 0.999,
        epochs: arc ? 100_000 : 50_000,
        epochsPerPass: arc ? 10_000 : 5_000,
        steps: null,
        evalEvery: null,
        checkpointEvery: null,
        evalBatchSize: 768,
        evalMaxExamples: null,
      },
    };
  }
  if (preset === "smoke") return smokeConfig(task, model, seed, rope);
  if (preset === "cpu-study") return studyConfig(task, model, seed, rope);
  if (task !== "sudoku") return reducedGridConfig(task, model, seed, rope);
  return {
    task,
    model,
    preset,
    scale: "cpu-mini (reduced; NOT the paper's setting)",
    seed,
    backend: "auto",
    arch: reducedArch(64, 4, 8, rope),
    data: {
      dir: null,
      generate: { ...DEFAULT_GENERATE },
      cacheRoot: ".cache/datasets",
    },
    train: reducedSchedule({}),
  };
}

/** Schedule shared by the reduced presets (the cpu-mini Sudoku values; see the module comment). */
function reducedSchedule(over: Partial<ScheduleSettings>): ScheduleSettings {
  return {
    batchSize: 64,
    lr: 1e-3,
    warmupSteps: 100,
    lrMinRatio: 1,
    weightDecay: 0.1,
    beta1: 0.9,
    beta2: 0.95,
    puzzleLr: 1e-3,
    puzzleWeightDecay: 0.1,
    emaDecay: 0.99,
    epochs: 1_000_000,
    epochsPerPass: 1,
    steps: 3000,
    evalEvery: 250,
    checkpointEvery: 500,
    evalBatchSize: 128,
    evalMaxExamples: null,
    ...over,
  };
}

/** Architecture of the reduced presets: width `hidden`, T = 2, n = 2, small Mamba-2 state. */
function reducedArch(hidden: number, heads: number, haltMaxSteps: number, rope: boolean) {
  return {
    hidden,
    heads,
    expansion: 4,
    prefixLen: 16,
    hCycles: 2,
    lCycles: 2,
    rope,
    mamba: { ...MAMBA_DEFAULTS, dState: 16, headdim: 16, chunkSize: 64 },
    haltMaxSteps,
    haltExploration: 0.1,
  };
}

/**
 * Prepared datasets of the reduced presets (and the paper's, which `deno task reproduce`
 * prepares): the folder a preset reads and the `deno task prepare` arguments that build it. The
 * folder name carries every argument, so a changed recipe is a different folder.
 */
export function presetDataRecipe(
  preset: PresetName,
  task: TaskName,
): { dir: string; args: string[] } | null {
  const at = (name: string, args: string[]) => {
    const dir = `.cache/datasets/${name}`;
    return { dir, args: [...args, "--out", dir, "--no-progress"] };
  };
  // The ARC-AGI-1 copy shipped with the repository (tasks/arc/data; paths from the repository
  // root, like the dataset folders).
  const arcAgi1 = ["--source", "tasks/arc/data/arc-agi-1"];
  if (preset === "paper") {
    // No --source: the shipped ARC-AGI-1 and ConceptARC.
    if (task === "arc") return at("arc1concept-aug-1000", ["arc"]);
    // Official Sudoku-Extreme / Maze-30x30-Hard are not reachable offline: our generators.
    if (task === "sudoku") return at("sudoku9-gen-1000-aug-1000", ["sudoku", "--size", "9"]);
    return at("maze30-gen-1000", ["maze", "--size", "30"]);
  }
  if (preset === "cpu-mini") {
    if (task === "sudoku") return null; // generated by recursion/data.ts (data.generate)
    if (task === "maze") {
      return at("maze8-gen-4800-test-200-seed-42", [
        "maze",
        ...["--size", "8", "--train", "4800", "--test", "200", "--aug", "1", "--seed", "42"],
      ]);
    }
    return at("arc-evaluation-16tasks-canvas10-aug-15-seed-42", [
      "arc",
      ...arcAgi1,
      ...["--subsets", "evaluation", "--test-set", "evaluation", "--tasks", "16"],
      ...["--canvas", "10", "--max-aug", "15", "--seed", "42"],
    ]);
  }
  if (preset === "cpu-study") {
    if (task === "sudoku") return null; // generated by recursion/data.ts (data.generate)
    if (task === "maze") {
      return at(`maze${STUDY.maze.size}-gen-${STUDY.maze.train}-test-${STUDY.maze.test}-seed-42`, [
        "maze",
        ...["--size", `${STUDY.maze.size}`, "--train", `${STUDY.maze.train}`],
        ...["--test", `${STUDY.maze.test}`, "--aug", "1", "--seed", "42"],
      ]);
    }
    return presetDataRecipe("cpu-mini", "arc");
  }
  if (task === "sudoku") return null;
  if (task === "maze") {
    return at("maze6-gen-200-test-64-seed-42", [
      "maze",
      ...["--size", "6", "--train", "200", "--test", "64", "--aug", "1", "--seed", "42"],
    ]);
  }
  // The three smallest ARC-AGI-1 evaluation tasks (one test input each, 2×2 to 4×4 grids).
  return at("arc-smoke-3tasks-aug-3-seed-42", [
    "arc",
    ...arcAgi1,
    ...["--task-ids", "00576224,66e6c45b,e633a9e5"],
    ...["--subsets", "evaluation", "--test-set", "evaluation", "--max-aug", "3", "--seed", "42"],
  ]);
}

/**
 * cpu-mini for Maze and ARC (Sudoku: the module comment). Same structure and optimiser settings
 * as cpu-mini Sudoku; what differs and why:
 * - maze: 8×8 generated mazes (tasks/maze, 4800 training mazes, 200 held out; shortest path > 7
 *   steps), no dihedral augmentation — as TRM's build command runs: the answer marks the one
 *   shortest path that a fixed BFS tie-break picks (median 3 shortest paths per maze here), and a
 *   dihedral image of an answer follows that tie-break in another frame, so with augmentation
 *   the label is ambiguous for the model (measured: 600 mazes × 8 versions reached 5.5 % exact in
 *   3000 steps). 64 + 16 = 80 positions at width 64, lr 2e-3, 3000 steps;
 * - arc: 16 ARC-AGI-1 evaluation tasks (a seeded sample of the 77 whose every grid fits 10×10)
 *   on a 10×10 canvas (100 tokens instead of 900: `prepare arc --canvas 10`) × 16 versions
 *   (identity + 15 augmentations); the model learns from their demonstrations and is tested on
 *   their test inputs under every version, which the TRM evaluator votes over (pooled over every
 *   evaluation, as TRM). The 30×30 canvas (916 positions) made a step ~30× a Sudoku step: at
 *   width 32 and 300 steps the models learnt the format but solved no task. 100 + 16 = 116
 *   positions at width 64, batch 32, 8 ACT steps, 3000 steps. Puzzle-embedding lr 1e-2 as the
 *   paper's ARC setting. The task sample is small and easy-biased (small grids): pass@K here says
 *   whether the pipeline learns and votes, not how the models rank on ARC-AGI-1.
 */
function reducedGridConfig(
  task: TaskName,
  model: ModelName,
  seed: number,
  rope: boolean,
): RunConfig {
  const recipe = presetDataRecipe("cpu-mini", task)!;
  const base = {
    task,
    model,
    preset: "cpu-mini" as const,
    scale: "cpu-mini (reduced; NOT the paper's setting)",
    seed,
    backend: "auto" as const,
    data: { dir: recipe.dir, generate: null, cacheRoot: ".cache/datasets" },
  };
  if (task === "maze") {
    return {
      ...base,
      arch: reducedArch(64, 4, 8, rope),
      train: reducedSchedule({ lr: 2e-3, steps: 3000, evalEvery: 500 }),
    };
  }
  return {
    ...base,
    arch: reducedArch(64, 4, 8, rope),
    train: reducedSchedule({
      batchSize: 32,
      steps: 3000,
      evalEvery: 500,
      checkpointEvery: 500,
      // 16 groups give ~2 batches per epoch: passes of 10 epochs keep TRM's sampler fed.
      epochsPerPass: 10,
      puzzleLr: 1e-2,
      evalBatchSize: 128,
    }),
  };
}

/** The sizes and step counts of `cpu-study` (see `studyConfig`). */
export const STUDY = {
  /** Every run's steps, evaluation and checkpoint cadence (one for all: `--budget` scales them). */
  steps: 1200,
  evalEvery: 300,
  checkpointEvery: 300,
  sudoku: { size: 4, train: 500, test: 250, aug: 100 },
  maze: { size: 5, train: 2000, test: 200 },
  /** The scale label's note (RunConfig.scale is `cpu-study (note)`). */
  scaleNote: "reduced CPU-scale study; NOT the paper's setting",
} as const;

/**
 * `cpu-study`: the paper's questions (TRM-attn vs TR-mamba2attn, and the MLP-t pair) asked at a
 * scale that 2 CPU cores of a recent machine finish within 2 hours — 10 runs a seed: all four
 * models on Sudoku and Maze, trm-attn and tr-mamba2attn on ARC; the seeds are the study CLI's
 * (`deno task study`, benchmarks/study/cli.ts `STUDY_SEEDS`).
 * Calibrated so that TRM-attn is neither saturated nor at zero on Sudoku and Maze: the only
 * target was held-out exact accuracy of trm-attn between roughly 20 % and 80 % within the time
 * (nothing was tuned towards the paper's numbers or towards any model ranking). Its numbers are
 * NOT comparable with the paper's.
 *
 * Design: cpu-mini's architecture (width 64, 4 heads, T = n = 2, 8 ACT steps, prefix 16, Mamba-2
 * d_state 16) and optimiser settings; every run 1200 steps (`STUDY`), evaluated every 300 steps
 * (4 evaluations; ARC pools their votes) — one step count for every task, so that `--budget X`
 * is one configuration patch (steps and cadence × X) for all runs.
 * - sudoku: cpu-mini's 4×4 data (500 generated puzzles × 101 versions, 250 held out, 4–11
 *   givens), lr 1e-3, batch 64;
 * - maze: 5×5 generated mazes (tasks/maze, 2000 training, 200 held out, shortest path > 3 steps,
 *   median 4; no dihedral augmentation, as cpu-mini), lr 2e-3, batch 64; 25 + 16 = 41 positions;
 * - arc: cpu-mini's 16 ARC-AGI-1 evaluation tasks on a 10×10 canvas × 16 versions, batch 32 (as
 *   cpu-mini), puzzle-embedding lr 1e-2. Until commit 7da1ef6 the study used batch 8, to give ARC
 *   the smallest share of a Zen 3 machine's time: every trm-attn prediction on all three seeds was
 *   colour 0 in every cell (cell accuracy 37.8 %, the majority-token floor), and a batch-16 probe
 *   stayed there for 1200 steps, so the ARC questions measured nothing. Batch 32 was chosen to
 *   leave that floor, not for any model's score (probes of trm-attn, 900 steps, on the Zen 5
 *   machine: seed 0 cell 41.4 / 46.1 / 53.0 % @300/600/900 with 2 of 272 test inputs exact; seed
 *   1 39.3 / 37.8 / 38.0 %, still at the floor) — ARC stays near noise level at this scale.
 *
 * Time of the current design: measured by its committed run, on a 2-core AVX-512 AMD EPYC (Zen 5,
 * family 26) — results/cpu-study/README.md and the README give it (not repeated here, so that
 * this training source does not change with a measurement). ARC batch 32 on that machine: ≈ 200 ms
 * a step for trm-attn and ≈ 9–14 s an evaluation; Sudoku tr-mamba2mlpt ≈ 150 ms a step, about 3×
 * the Zen 3 machine's rate below.
 *
 * Time of the earlier design (ARC batch 8) on a 2-core AVX2 AMD EPYC (Zen 3, family 25, after
 * the AVX2 kernels of commit adab765; one 1-thread run per core, two at once, as `deno task study`
 * runs them; medians of the logged step times in quiet stretches of a shared machine, ±10 %): ms per training step —
 * Sudoku trm-attn 204–223, trm-mlp-t 341, tr-mamba2attn 344, tr-mamba2mlpt 448; Maze 5×5 275–305,
 * 368, 434, 508; ARC (batch 8) trm-attn 108, tr-mamba2attn 133 (batch 16: 228 / 260; batch 32:
 * 519 / 578); one evaluation: Sudoku 3.7–7.2 s, Maze 5×5 ≈ 5–8 s, ARC 28–35 s. Per seed: training
 * 1200 × (1.34 + 1.59 + 0.24) s ≈ 3800 s, evaluations (4 + the pipeline's evaluate step per run)
 * ≈ 570 s; three seeds on two 1-thread workers ≈ 6550 s, plus process start-up, the memory check,
 * data, parity and scoring (≈ 200 s) and the last worker's tail (≈ 150 s): ≈ 1.9 h estimated.
 * MEASURED (results/cpu-study, commit a55b22e, the same machine, shared with development work for
 * part of the run): 2 h 21 min (8502 s); each run's training with its 4 evaluations took (the last
 * elapsed_s of each run's train/eval.csv) Sudoku trm-attn 332–470 s, trm-mlp-t 522–785,
 * tr-mamba2attn 499–544, tr-mamba2mlpt 759–883; Maze 644–799, 574–602, 573–589, 602–626; ARC
 * trm-attn 219–241, tr-mamba2attn 319–340 — the quiet-stretch step times above underestimate a
 * run by ~30 %. On that machine the current design (ARC batch 32: ≈ 4× batch 8's ARC step time)
 * would take about 3 h for three seeds and 5 h for the default five (by the ~3× ratio to the Zen
 * 5's measured time; not measured): no seed count of it fits 2 h there.
 *
 * Calibration (trm-attn, held-out exact accuracy of the EMA weights, all 8 ACT steps; "@k" is
 * the evaluation at step k — the lr is constant after warm-up, so a run's first k steps are a
 * k-step run's):
 * - 4×4 Sudoku, lr 1e-3: seed 0 17.6 % @1000, 26.4 % @1250, 40.8 % @1500 (cpu-mini's run,
 *   results/cpu-mini/sudoku/curves.csv, Zen 5); seed 1 20.8 % @1000, 33.6 % @1250, 32.0 % @1500;
 *   seed 0 at 1100 steps 21.2 %, seed 2 14.4 % @1100. Tried and dropped: lr 2e-3 (seed 0: 7.6 %
 *   @800, no faster than lr 1e-3's 8.0 % @750 and 14.0 % @825); batch 32 (seed 0: 12.0 % @1500,
 *   22.8 % @2000 — per unit of compute the same as batch 64). 6×6 Sudoku (generator: 12–20
 *   givens or minimal puzzles) was only timed (under load): with 36 + 16 = 52 positions against
 *   32 a step costs ~1.6× a 4×4 step, while 4×4 itself reaches only the band's low end in the
 *   time, so it was not trained further.
 *   Final (1200 steps): the study's own trm-attn runs (seeds 0, 1, 2) are the final calibration —
 *   results/cpu-study/summary.csv; no separate calibration runs were made at 1200 steps.
 * - Maze 6×6 (2000 mazes, paths > 4 steps, median 6), lr 2e-3, seed 0: 3.0 % @500, 8.5 % @1000,
 *   13.0 % @1250, 16.5 % @1750, 20.0 % @2000 (454 ms a step): below the band at any affordable
 *   step count (cpu-mini's 8×8: 7 % at 3000 steps).
 * - Maze 5×5 (as above), lr 2e-3: seed 0 16.0 % @500, 20.0 % @750, 18.0 % @1000, 25.5 % @1250,
 *   20.0 % @1500; seed 1 7.5 % @300, 32.5 % @600, 32.0 % @900, 33.5 % @1200, 33.5 % @1500; seed 2
 *   23.5 % @1100. Final (1200 steps): the study's own runs, as Sudoku.
 * - ARC (batch 32, 1200 steps): not calibrated beyond the probes named above (the only target was
 *   leaving the majority-colour floor); the study's runs.
 * Seeds differ by up to ~15 points at this scale; `--budget 2` (2400 steps) moves trm-attn up
 * the curves (Sudoku seed 0: 62 % @2000, 100 % @3000 in cpu-mini's run).
 */
function studyConfig(task: TaskName, model: ModelName, seed: number, rope: boolean): RunConfig {
  const recipe = presetDataRecipe("cpu-study", task);
  const s = STUDY;
  const cadence = { steps: s.steps, evalEvery: s.evalEvery, checkpointEvery: s.checkpointEvery };
  const base = {
    task,
    model,
    preset: "cpu-study" as const,
    scale: `cpu-study (${STUDY.scaleNote})`,
    seed,
    backend: "auto" as const,
    arch: reducedArch(64, 4, 8, rope),
  };
  if (task === "sudoku") {
    return {
      ...base,
      data: {
        dir: null,
        generate: { kind: "sudoku", ...s.sudoku, seed: 42 },
        cacheRoot: ".cache/datasets",
      },
      train: reducedSchedule({ ...cadence }),
    };
  }
  const data = { dir: recipe!.dir, generate: null, cacheRoot: ".cache/datasets" };
  if (task === "maze") {
    return { ...base, data, train: reducedSchedule({ lr: 2e-3, ...cadence }) };
  }
  return {
    ...base,
    data,
    train: reducedSchedule({
      batchSize: 32,
      ...cadence,
      // Passes of 10 epochs, as cpu-mini ARC (16 groups: a few batches per epoch).
      epochsPerPass: 10,
      puzzleLr: 1e-2,
    }),
  };
}

/**
 * `smoke`: the whole pipeline in a few minutes on 2 cores (CI). Every task tiny: 4×4 Sudoku (100
 * puzzles × 11 versions), 6×6 Maze (200 mazes), 3 ARC tasks × 4 versions; width 32, T = 2, n = 2,
 * 4 ACT steps, lr 3e-3 with 10 warm-up steps, a few dozen steps. It checks that everything runs
 * and that the models still learn (cell accuracy above chance), not how well.
 */
function smokeConfig(task: TaskName, model: ModelName, seed: number, rope: boolean): RunConfig {
  const recipe = presetDataRecipe("smoke", task);
  const arc = task === "arc";
  return {
    task,
    model,
    preset: "smoke",
    scale: "smoke (tiny CI check; NOT the paper's setting)",
    seed,
    backend: "auto",
    arch: reducedArch(32, 2, 4, rope),
    data: recipe ? { dir: recipe.dir, generate: null, cacheRoot: ".cache/datasets" } : {
      dir: null,
      generate: { kind: "sudoku", size: 4, train: 100, test: 64, aug: 10, seed: 42 },
      cacheRoot: ".cache/datasets",
    },
    train: reducedSchedule({
      batchSize: arc ? 8 : 32,
      lr: 3e-3,
      warmupSteps: 10,
      puzzleLr: arc ? 1e-2 : 3e-3,
      emaDecay: 0.9,
      // 3 ARC groups give no full batch in one epoch: passes of 10 epochs.
      epochsPerPass: arc ? 10 : 1,
      steps: arc ? 40 : 300,
      evalEvery: arc ? 20 : 100,
      checkpointEvery: arc ? 20 : 100,
      evalBatchSize: arc ? 16 : 64,
    }),
  };
}

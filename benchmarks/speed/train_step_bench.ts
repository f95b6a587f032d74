/**
 * Training-step benchmark (`deno task bench:train`): the time of one training step (one ACT step:
 * forward, backward, AdamATan2 + sparse sign-SGD + EMA) of `trm-attn` and `tr-mamba2attn` at paper
 * width on fixed random batches — Sudoku shapes (B=64, L'=97, T=3, n=6) and ARC shapes (B=4,
 * L'=916, T=3, n=4) — on the cpu backend; against the GEMM-bound floor (the step's matmul FLOPs,
 * recursion/flops.ts, at the sgemm rate measured in the same run, interleaved) and against the same
 * model in PyTorch CPU (benchmarks/peers/torch_trm.py bench, f32 and bf16). Goals from the issue:
 * ours ≤ 0.8× PyTorch's f32 time and ≤ 1.3× the floor. Writes results/bench/train_step.csv.
 *
 *   deno task bench:train [--reps N] [--models a,b] [--tasks sudoku,arc] [--batch B]
 *                         [--dtype f32|bf16] [--dtypes f32,bf16] [--no-torch]
 *                         [--torch-json FILE] [--peer-cmd "CMD"] [--out FILE] [--help]
 *
 * `--dtype` is our model's forward dtype (default f32; bf16: recursion/config.ts ModelConfig.dtype,
 * the official forward's rounding points emulated in f32 storage — engine/bf16.ts; this CPU path
 * has no bf16 arithmetic, so it measures the emulation's cost, not a bf16 speed-up); `--dtypes`
 * are the PyTorch peer's.
 *
 * Side by side, in one invocation: for each (task, model) cell, after one warm-up step of ours,
 * `--reps` rounds (default 3) of: our step timed once (after the floor's 20 GEMMs, timed too), then
 * the PyTorch peer, a new process per round (torch_trm.py bench for this cell with --reps 1: its
 * own warm-up, then one timed step in each of `--dtypes`), then the `--peer-cmd` process if given.
 * Each implementation keeps its best round; every CSV row has the ISO time its figure was measured
 * (`measured_at`) and the number of rounds it is the best of (`rounds`). Ours has one row
 * (in its --dtype) with `vs_torch_f32` and `vs_torch_bf16` (ours / the peer's time: < 1 is ours faster); every
 * peer row has `ours_over_this`, and a line "ours X s vs peer Y s: ours faster/slower by Z×" is
 * printed for every case, lost ones too.
 *
 * Every peer process (bench_util.ts `spawnPeer`) runs with our environment less
 * OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, which some machines set for our OpenBLAS and which would
 * make the peer's OpenBLAS run AVX2 kernels on an AVX-512 CPU. PyTorch peer rows record the
 * peer's torch version, OpenBLAS core (`openblas_get_corename`), torch's CPU capability and its
 * torch and OpenBLAS thread counts (benchmarks/peers/peer_info.py).
 *
 * `--peer-cmd "CMD"`: another peer, e.g. the official TRM model code (the fairest peer of a
 * training step; this project does not depend on it, it is only ever passed in here). CMD runs
 * with `bash -c`, in the environment above, once per round of every cell (narrow the cells with
 * `--tasks`/`--models`); `{task}`, `{model}`, `{batch}` and `{threads}` in CMD are replaced by the
 * cell's values. It prints JSON lines; those with a numeric `step` field (seconds per step) are
 * results, with optional `dtype` (f32/float32, bf16/bfloat16), `config` and `batch`, and optional
 * `torch`/`torch_version`, `threads`, `openblas_core`, `cpu_capability` (or one line with
 * `"name": "peer_info"`, as our peers print); other lines are ignored. They become rows of impl
 * `peer-cmd` with CMD as run in the `peer` column; a row whose `batch` differs from ours gets no
 * ratio.
 * For example, with a harness that times the official model files of an export of the official
 * repository and prints `{"step": seconds}` (neither ships with this project):
 *
 *   deno task bench:train --tasks sudoku --models trm-attn --batch 8 --no-torch --peer-cmd \
 *     "/usr/bin/python3 HARNESS.py OFFICIAL_EXPORT --config sudoku-att --batch {batch} \
 *      --threads {threads} --dtype float32 --mode train --warmup 1 --iters 1"
 *
 * (a harness that waits for a quiet machine before each measured step makes rounds long on a
 * shared machine.)
 *
 * Cost: every round starts the PyTorch peer anew (its startup, model set-up and warm-up are not
 * timed but take time). PyTorch 1.13's bf16 autocast is slow on CPUs without AVX-512 BF16 (about
 * 100 s a Sudoku step at B=4 on a 2-core AVX2 machine): `--dtypes f32` leaves it out.
 *
 * `--torch-json FILE` reuses torch_trm.py bench output from a separate run on the same machine
 * instead of the interleaved peer (recorded in `torch_source`; `measured_at` is the file's time).
 */
import { getBackend } from "../../engine/backends/mod.ts";
import type { ModelName } from "../../recursion/config.ts";
import { trainStepFlops } from "../../recursion/flops.ts";
import { benchSetup } from "../../recursion/bench_setup.ts";
import {
  benchArgs,
  describePeer,
  intArg,
  interleavedBest,
  jsonLines,
  NO_PEER_INFO,
  peerError,
  type PeerInfo,
  peerInfoFrom,
  type Sample,
  type Side,
  spawnPeer,
  versusLine,
  writeBenchCsv,
} from "./bench_util.ts";

const USAGE =
  `Training-step benchmark: one training step of ours vs the GEMM floor, PyTorch (f32, bf16) and an
optional --peer-cmd, interleaved round by round (ours, peer, ours, peer, …), best of --reps.

  deno task bench:train [--reps N] [--models a,b] [--tasks sudoku,arc] [--batch B]
                        [--dtype f32|bf16] [--dtypes f32,bf16] [--no-torch]
                        [--torch-json FILE] [--peer-cmd "CMD"] [--out FILE]

  --reps N          rounds per cell, best kept (default 3)
  --models LIST     default trm-attn,tr-mamba2attn
  --tasks LIST      sudoku (B=64), arc (B=4); default sudoku,arc
  --batch B         batch size of every task, ours and the PyTorch peer (default: the task's)
  --dtype D         our forward dtype, f32 (default) or bf16 (emulated rounding in f32 storage)
  --dtypes LIST     the PyTorch peer's dtypes (default f32,bf16)
  --no-torch        no PyTorch peer
  --torch-json FILE PyTorch rows from an earlier torch_trm.py bench run instead of the live peer
  --peer-cmd "CMD"  another peer, run with bash -c each round; prints JSON lines with a numeric
                    "step" (s/step) and optional dtype, config, batch; {task} {model} {batch}
                    {threads} in CMD are replaced (see the module comment of train_step_bench.ts)
  --out FILE        CSV (default results/bench/train_step.csv)
  --help            this text

Peers run without OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE in their environment.`;

const SHAPES = { sudoku: { batch: 64 }, arc: { batch: 4 } } as const;
type Task = keyof typeof SHAPES;

/** One CSV row. */
export interface Row extends PeerInfo {
  model: string;
  task: string;
  batch: number | "";
  impl: string;
  dtype: string;
  seconds: number;
  /** Rounds this row's figure is the best of ("" when unknown: --torch-json). */
  rounds: number | "";
  measured_at: string;
  tflop: number;
  gflops: number;
  floor_seconds: number | "";
  vs_floor: number | "";
  /** Ours only: our seconds / the PyTorch peer's in f32 (< 1: ours faster). */
  vs_torch_f32: number | "";
  /** Ours only: our seconds / the PyTorch peer's in bf16. */
  vs_torch_bf16: number | "";
  /** Peer rows: our seconds / this row's (< 1: ours faster); "" when the batch differs. */
  ours_over_this: number | "";
  /** Which peer: "torch_trm.py", the --peer-cmd text as run (placeholders replaced), or the
   * --torch-json file. */
  peer: string;
  /** The peer's own name for its configuration (--peer-cmd `config`), else "". */
  peer_config: string;
}

/** One result line of a --peer-cmd's output. */
export interface PeerCmdResult {
  step: number;
  dtype: string;
  config: string;
  batch: number | "";
  info: PeerInfo;
  measured_at?: string;
}

/** "float32"/"fp32" → "f32", "bfloat16" → "bf16"; anything else as it is ("" when absent). */
export function normalizeDtype(d: unknown): string {
  if (typeof d !== "string") return "";
  const s = d.toLowerCase().replace(/^torch\./, "");
  if (s === "float32" || s === "fp32" || s === "f32" || s === "float") return "f32";
  if (s === "bfloat16" || s === "bf16") return "bf16";
  return d;
}

/**
 * The results of a --peer-cmd's stdout: the JSON-object lines whose `step` is a finite number > 0
 * (seconds per step); every other line is dropped. A line `"name": "peer_info"` gives the peer
 * columns of all results (a result's own fields win).
 */
export function parsePeerCmdOutput(text: string): PeerCmdResult[] {
  const lines = jsonLines(text);
  const head = lines.find((o) => o.name === "peer_info") ?? {};
  return lines
    .filter((o) => typeof o.step === "number" && Number.isFinite(o.step) && o.step > 0)
    .map((o) => {
      const own = peerInfoFrom(o), base = peerInfoFrom(head);
      const info = Object.fromEntries(
        Object.entries(own).map(([k, v]) => [k, v === "" ? base[k as keyof PeerInfo] : v]),
      ) as unknown as PeerInfo;
      return {
        step: o.step,
        dtype: normalizeDtype(o.dtype),
        config: typeof o.config === "string" ? o.config : "",
        batch: typeof o.batch === "number" ? o.batch : "",
        info,
        ...(typeof o.measured_at === "string" ? { measured_at: o.measured_at } : {}),
      };
    });
}

/** `cmd` with `{task}`, `{model}`, `{batch}`, `{threads}` replaced by `vars`. */
export function expandPeerCmd(
  cmd: string,
  vars: { task: string; model: string; batch: number; threads: number },
): string {
  return cmd.replace(
    /\{(task|model|batch|threads)\}/g,
    (_, k: keyof typeof vars) => String(vars[k]),
  );
}

/** The sample key of a --peer-cmd result (one row per distinct dtype, config and batch). */
function peerCmdKey(r: PeerCmdResult): string {
  return `peer-cmd\u0000${r.dtype}\u0000${r.config}\u0000${r.batch}`;
}

async function main(): Promise<void> {
  const args = benchArgs("train_step_bench", USAGE, {
    reps: { type: "string", default: "3" },
    models: { type: "string", default: "trm-attn,tr-mamba2attn" },
    tasks: { type: "string", default: "sudoku,arc" },
    batch: { type: "string" },
    dtypes: { type: "string", default: "f32,bf16" },
    dtype: { type: "string", default: "f32" },
    "no-torch": { type: "boolean", default: false },
    /** PyTorch peer lines measured earlier (`torch_trm.py bench` output) instead of a new run. */
    "torch-json": { type: "string" },
    "peer-cmd": { type: "string" },
    out: { type: "string", default: "results/bench/train_step.csv" },
  });
  const reps = intArg("reps", args.reps);
  const batchOverride = args.batch === undefined ? undefined : intArg("batch", args.batch);
  const tasks = args.tasks.split(",").filter(Boolean) as Task[];
  for (const t of tasks) {
    if (!(t in SHAPES)) throw new RangeError(`unknown task: ${t} (sudoku, arc)`);
  }
  const models = args.models.split(",").filter(Boolean) as ModelName[];
  const dtypes = args.dtypes.split(",").filter(Boolean);
  for (const d of dtypes) {
    if (d !== "f32" && d !== "bf16") throw new RangeError(`--dtypes: f32 or bf16, got ${d}`);
  }
  const ourDtype = args.dtype;
  if (ourDtype !== "f32" && ourDtype !== "bf16") {
    throw new RangeError(`--dtype: f32 or bf16, got ${ourDtype}`);
  }
  const peerCmd = args["peer-cmd"];
  const liveTorch = !args["no-torch"] && !args["torch-json"];
  const be = getBackend("cpu");
  const threads = Number(be.info.threads);
  const torchScript = new URL("../peers/torch_trm.py", import.meta.url).pathname;

  const rows: Row[] = [];
  const versus: string[] = [];
  const blank = {
    floor_seconds: "",
    vs_floor: "",
    vs_torch_f32: "",
    vs_torch_bf16: "",
    ours_over_this: "",
  } as const;

  console.log(
    `train-step benchmark: cpu backend (gemm ${be.info.blas}), ${threads} threads, best of ${reps} ` +
      `rounds (ours${liveTorch ? `, torch ${dtypes.join("+")}` : ""}${
        peerCmd ? ", peer-cmd" : ""
      }, interleaved)`,
  );
  for (const task of tasks) {
    for (const model of models) {
      const b = batchOverride ?? SHAPES[task].batch;
      const cell = `${model.padEnd(14)} ${task.padEnd(6)} B=${String(b).padEnd(3)}`;
      const { cfg, trainer, batch } = benchSetup(be, model, task, b, 0, undefined, ourDtype);
      const lp = cfg.seqLen + cfg.prefixLen;
      // The GEMM floor's rate: the qkv-projection shape of this batch, raw, on preallocated buffers.
      const [gm, gn, gk] = [b * lp, 3 * cfg.hidden, cfg.hidden];
      const ga = new Float32Array(gm * gk).fill(0.5), gb = new Float32Array(gn * gk).fill(0.25);
      const gc = new Float32Array(gm * gn);
      const gemm = () => be.gemm(false, true, gm, gn, gk, 1, ga, gk, gb, gk, 0, gc, gn, 1, 0, 0, 0);
      const timed = (fn: () => void) => {
        const t0 = performance.now();
        fn();
        be.sync();
        return (performance.now() - t0) / 1000;
      };
      // warm-up
      gemm();
      trainer.trainStep(batch);
      be.sync();

      const sides: Side[] = [() => {
        const tGemm = timed(() => {
          for (let i = 0; i < 20; i++) gemm();
        });
        const tStep = timed(() => trainer.trainStep(batch));
        console.log(`${cell} round: ours ${ourDtype} ${tStep.toFixed(3)} s`);
        return [{ key: "gemm", seconds: tGemm }, { key: "ours", seconds: tStep }];
      }];
      if (liveTorch) {
        sides.push(async () => {
          const run = await spawnPeer("/usr/bin/python3", [
            torchScript,
            "bench",
            "--threads",
            String(threads),
            "--models",
            model,
            "--tasks",
            task,
            "--dtypes",
            dtypes.join(","),
            "--batch",
            String(b),
            "--reps",
            "1",
          ]);
          const lines = jsonLines(run.stdout);
          const head = lines.find((o) => o.name === "peer_info");
          const info = head ? peerInfoFrom(head) : NO_PEER_INFO;
          const samples: Sample[] = [];
          for (const o of lines) {
            if (o.skipped) console.warn(`${cell} torch ${o.dtype}: skipped: ${o.skipped}`);
            if (o.model !== model || typeof o.seconds !== "number" || !o.dtype) continue;
            samples.push({
              key: `torch:${o.dtype}`,
              seconds: o.seconds,
              measured_at: o.measured_at,
              extra: { info, gflop: o.gflop, batch: o.batch },
            });
          }
          if (!run.success) console.warn(`${cell} PyTorch peer: ${peerError(run)}`);
          if (samples.length === 0) {
            console.warn(`${cell} PyTorch peer gave no step time: not run again in this cell`);
            return null;
          }
          console.log(
            `${cell} round: torch ${
              samples.map((s) => `${s.key.slice(6)} ${s.seconds.toFixed(3)} s`).join(", ")
            } (${describePeer(info)})`,
          );
          return samples;
        });
      }
      const cmd = peerCmd ? expandPeerCmd(peerCmd, { task, model, batch: b, threads }) : "";
      if (cmd) {
        sides.push(async () => {
          const run = await spawnPeer("bash", ["-c", cmd]);
          const results = parsePeerCmdOutput(run.stdout);
          if (!run.success) console.warn(`${cell} peer-cmd: ${peerError(run)}`);
          if (results.length === 0) {
            console.warn(
              `${cell} peer-cmd printed no line with a numeric "step": not run again in this cell`,
            );
            return null;
          }
          console.log(
            `${cell} round: peer-cmd ${
              results.map((r) => `${r.dtype || "?"} ${r.step.toFixed(3)} s`).join(", ")
            }`,
          );
          return results.map((r) => ({
            key: peerCmdKey(r),
            seconds: r.step,
            measured_at: r.measured_at,
            extra: { result: r },
          }));
        });
      }

      const best = await interleavedBest(reps, sides);
      const step = best.get("ours")!, g = best.get("gemm")!;
      const sgemm = (20 * 2 * gm * gn * gk) / g.seconds;
      const flops = trainStepFlops(cfg, b);
      const floor = flops / sgemm;
      const ours: Row = {
        model,
        task,
        batch: b,
        impl: "ours",
        dtype: ourDtype,
        seconds: step.seconds,
        rounds: step.rounds,
        measured_at: step.measured_at,
        tflop: flops / 1e12,
        gflops: flops / step.seconds / 1e9,
        ...blank,
        floor_seconds: floor,
        vs_floor: step.seconds / floor,
        peer: "",
        peer_config: "",
        ...NO_PEER_INFO,
      };
      rows.push(ours);
      console.log(
        `${cell} ours ${ourDtype} ${step.seconds.toFixed(2)} s (${
          (flops / step.seconds / 1e9).toFixed(0)
        } GFLOP/s; floor ${floor.toFixed(2)} s at sgemm ${(sgemm / 1e9).toFixed(0)} GFLOP/s → ${
          (step.seconds / floor).toFixed(2)
        }× floor)`,
      );
      for (const [key, s] of best) {
        if (key === "ours" || key === "gemm") continue;
        const peerRow: Row = {
          model,
          task,
          batch: b,
          impl: "torch",
          dtype: "",
          seconds: s.seconds,
          rounds: s.rounds,
          measured_at: s.measured_at,
          tflop: flops / 1e12,
          gflops: flops / s.seconds / 1e9,
          ...blank,
          peer: "",
          peer_config: "",
          ...(s.extra?.info ?? NO_PEER_INFO),
        };
        let name: string;
        if (key.startsWith("torch:")) {
          peerRow.dtype = key.slice(6);
          peerRow.peer = "torch_trm.py";
          name = `torch ${peerRow.dtype}`;
          if (peerRow.dtype === "f32") ours.vs_torch_f32 = step.seconds / s.seconds;
          if (peerRow.dtype === "bf16") ours.vs_torch_bf16 = step.seconds / s.seconds;
        } else {
          const r = s.extra!.result as PeerCmdResult;
          Object.assign(peerRow, r.info);
          peerRow.impl = "peer-cmd";
          peerRow.dtype = r.dtype;
          peerRow.batch = r.batch;
          peerRow.peer = cmd;
          peerRow.peer_config = r.config;
          name = `peer-cmd ${r.dtype || "?"}${r.config ? ` ${r.config}` : ""}`;
          if (r.batch !== "" && r.batch !== b) {
            // Its FLOPs at its batch (the same model), but no time ratio to ours.
            const f = trainStepFlops(cfg, r.batch);
            peerRow.tflop = f / 1e12;
            peerRow.gflops = f / s.seconds / 1e9;
            console.warn(
              `${cell} ${name}: ${
                s.seconds.toFixed(3)
              } s at batch ${r.batch} ≠ ours ${b}: no ratio`,
            );
            rows.push(peerRow);
            continue;
          }
        }
        peerRow.ours_over_this = step.seconds / s.seconds;
        rows.push(peerRow);
        const line = `${cell} ${versusLine(step.seconds, s.seconds, name)}`;
        versus.push(line);
        console.log(line);
      }
    }
  }

  let torchSource = liveTorch ? "same run, interleaved" : "";
  if (!args["no-torch"] && args["torch-json"]) {
    const file = args["torch-json"];
    const mtime = Deno.statSync(file).mtime?.toISOString() ?? "";
    torchSource = `${file} (a separate run on this machine)`;
    const lines = jsonLines(Deno.readTextFileSync(file));
    const head = lines.find((o) => o.name === "peer_info");
    const info = head ? peerInfoFrom(head) : NO_PEER_INFO;
    for (const o of lines) {
      if (!o.model || typeof o.seconds !== "number" || !o.dtype) continue;
      const ours = rows.find((r) => r.impl === "ours" && r.model === o.model && r.task === o.task);
      const sameBatch = ours !== undefined && ours.batch === o.batch;
      rows.push({
        model: o.model,
        task: o.task,
        batch: o.batch,
        impl: "torch",
        dtype: o.dtype,
        seconds: o.seconds,
        rounds: "",
        measured_at: typeof o.measured_at === "string" ? o.measured_at : mtime,
        tflop: ours ? ours.tflop : o.gflop / 1e3,
        gflops: (ours ? ours.tflop * 1e3 : o.gflop) / o.seconds,
        ...blank,
        ours_over_this: sameBatch ? ours.seconds / o.seconds : "",
        peer: file,
        peer_config: "",
        ...info,
      });
      if (!ours || !sameBatch) continue;
      if (o.dtype === "f32") ours.vs_torch_f32 = ours.seconds / o.seconds;
      if (o.dtype === "bf16") ours.vs_torch_bf16 = ours.seconds / o.seconds;
      const line = `${o.model.padEnd(14)} ${o.task.padEnd(6)} B=${String(o.batch).padEnd(3)} ${
        versusLine(ours.seconds, o.seconds, `torch ${o.dtype} (${file})`)
      }`;
      versus.push(line);
      console.log(line);
    }
  }

  await writeBenchCsv(args.out, rows, {
    backend: "cpu",
    threads,
    gemm: String(be.info.blas),
    reps,
    torch_source: torchSource,
    peer_env: "OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset in every peer process",
    flop_convention:
      "matmul-like, 2/multiply-add; T(n+1) net calls fwd + (n+1) bwd at 2x (recursion/flops.ts)",
  });
  if (versus.length) {
    console.log("\nside by side (every case, lost ones too):");
    for (const line of versus) console.log(`  ${line}`);
  }
  for (const r of rows.filter((r) => r.impl === "ours")) {
    const goals = [
      r.vs_torch_f32 === ""
        ? "vs torch f32: n/a"
        : `vs torch f32 ${r.vs_torch_f32.toFixed(2)} (goal ≤ 0.8: ${
          r.vs_torch_f32 <= 0.8 ? "met" : "MISSED"
        })`,
      ...(r.vs_torch_bf16 === "" ? [] : [`vs torch bf16 ${r.vs_torch_bf16.toFixed(2)}`]),
      `vs floor ${(r.vs_floor as number).toFixed(2)} (goal ≤ 1.3: ${
        (r.vs_floor as number) <= 1.3 ? "met" : "MISSED"
      })`,
    ];
    console.log(`${r.model} ${r.task}: ${goals.join("; ")}`);
  }
}

if (import.meta.main) await main();

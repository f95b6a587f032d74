/**
 * Training-step benchmark (`deno task bench:train`): the time of one training step (one ACT step:
 * forward, backward, AdamATan2 + sparse sign-SGD + EMA) of `trm-attn` and `tr-mamba2attn` at paper
 * width on fixed random batches — Sudoku shapes (B=64, L'=97, T=3, n=6) and ARC shapes (B=4,
 * L'=916, T=3, n=4) — on the cpu backend; against the GEMM-bound floor (the step's matmul FLOPs,
 * recursion/flops.ts, at the sgemm rate measured in the same run, interleaved) and against the same
 * model in PyTorch CPU (benchmarks/peers/torch_trm.py bench, f32 and bf16). Goals from the issue:
 * ours ≤ 0.8× PyTorch's f32 time and ≤ 1.3× the floor. Writes results/bench/train_step.csv.
 *
 *   deno task bench:train [--reps N] [--models a,b] [--tasks sudoku,arc] [--no-torch]
 *                         [--torch-json FILE] [--out FILE]
 *
 * The peer needs ~6 minutes and ~20 GB for all four cells in f32 and bf16; `--torch-json` reuses
 * its output from a separate run on the same machine (recorded in the `torch_source` column).
 */
import { parseArgs } from "node:util";
import { getBackend } from "../engine/backends/mod.ts";
import type { ModelName } from "../recursion/config.ts";
import { trainStepFlops } from "../recursion/flops.ts";
import { benchSetup } from "../recursion/bench_setup.ts";
import { bestTimes, writeBenchCsv } from "./bench_util.ts";

const { values: args } = parseArgs({
  options: {
    reps: { type: "string", default: "2" },
    models: { type: "string", default: "trm-attn,tr-mamba2attn" },
    tasks: { type: "string", default: "sudoku,arc" },
    "no-torch": { type: "boolean", default: false },
    /** PyTorch peer lines measured earlier (`torch_trm.py bench` output) instead of a new run. */
    "torch-json": { type: "string" },
    out: { type: "string", default: "results/bench/train_step.csv" },
  },
});
const reps = Number(args.reps);
const be = getBackend("cpu");
const threads = Number(be.info.threads);
const SHAPES = { sudoku: { batch: 64 }, arc: { batch: 4 } } as const;
type Task = keyof typeof SHAPES;

interface Row {
  model: string;
  task: string;
  batch: number;
  impl: string;
  dtype: string;
  seconds: number;
  tflop: number;
  gflops: number;
  floor_seconds: number | "";
  vs_floor: number | "";
  vs_torch_f32: number | "";
}
const rows: Row[] = [];

console.log(`train-step benchmark: cpu backend (gemm ${be.info.blas}), ${threads} threads`);
for (const task of args.tasks.split(",") as Task[]) {
  if (!(task in SHAPES)) throw new RangeError(`unknown task: ${task} (sudoku, arc)`);
  for (const model of args.models.split(",") as ModelName[]) {
    const b = SHAPES[task].batch;
    const { cfg, trainer, batch } = benchSetup(be, model, task, b, 0);
    const lp = cfg.seqLen + cfg.prefixLen;
    // The GEMM floor's rate: the qkv-projection shape of this batch, raw, on preallocated buffers.
    const [gm, gn, gk] = [b * lp, 3 * cfg.hidden, cfg.hidden];
    const ga = new Float32Array(gm * gk).fill(0.5), gb = new Float32Array(gn * gk).fill(0.25);
    const gc = new Float32Array(gm * gn);
    const gemm = () => be.gemm(false, true, gm, gn, gk, 1, ga, gk, gb, gk, 0, gc, gn, 1, 0, 0, 0);
    const [tGemm, tStep] = bestTimes(
      [() => {
        for (let i = 0; i < 20; i++) gemm();
      }, () => trainer.trainStep(batch)],
      reps,
      () => be.sync(),
    );
    const sgemm = (20 * 2 * gm * gn * gk) / tGemm;
    const flops = trainStepFlops(cfg, b);
    const floor = flops / sgemm;
    rows.push({
      model,
      task,
      batch: b,
      impl: "ours",
      dtype: "f32",
      seconds: tStep,
      tflop: flops / 1e12,
      gflops: flops / tStep / 1e9,
      floor_seconds: floor,
      vs_floor: tStep / floor,
      vs_torch_f32: "",
    });
    console.log(
      `${model.padEnd(14)} ${task.padEnd(6)} B=${String(b).padEnd(3)} ours f32 ${
        tStep.toFixed(2)
      } s ` +
        `(${(flops / tStep / 1e9).toFixed(0)} GFLOP/s; floor ${floor.toFixed(2)} s at sgemm ` +
        `${(sgemm / 1e9).toFixed(0)} GFLOP/s → ${(tStep / floor).toFixed(2)}× floor)`,
    );
  }
}

let torchSource = "";
if (!args["no-torch"]) {
  let text: string;
  if (args["torch-json"]) {
    text = Deno.readTextFileSync(args["torch-json"]).trim();
    torchSource = `${args["torch-json"]} (a separate run on this machine)`;
  } else {
    const script = new URL("./peers/torch_trm.py", import.meta.url).pathname;
    const out = new Deno.Command("/usr/bin/python3", {
      args: [
        script,
        "bench",
        "--threads",
        String(threads),
        "--models",
        args.models,
        "--tasks",
        args.tasks,
      ],
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    text = new TextDecoder().decode(out.stdout).trim();
    torchSource = "same run";
    if (!out.success) {
      const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" | ");
      console.warn(
        `PyTorch peer exited with ${out.code} (signal ${out.signal ?? "none"}): ${
          err || "no message"
        }`,
      );
    }
  }
  for (const line of text ? text.split("\n") : []) {
    let o;
    try {
      o = JSON.parse(line);
    } catch {
      continue; // not a result line
    }
    if (!o.model || !o.seconds || !o.dtype) continue;
    const ours = rows.find((r) => r.impl === "ours" && r.model === o.model && r.task === o.task);
    const row: Row = {
      model: o.model,
      task: o.task,
      batch: o.batch,
      impl: "torch",
      dtype: o.dtype,
      seconds: o.seconds,
      tflop: ours ? ours.tflop : o.gflop / 1e3,
      gflops: (ours ? ours.tflop * 1e3 : o.gflop) / o.seconds,
      floor_seconds: "",
      vs_floor: "",
      vs_torch_f32: "",
    };
    rows.push(row);
    if (ours && o.dtype === "f32") ours.vs_torch_f32 = ours.seconds / o.seconds;
    console.log(
      `${o.model.padEnd(14)} ${o.task.padEnd(6)} B=${String(o.batch).padEnd(3)} torch ${o.dtype} ` +
        `${o.seconds.toFixed(2)} s${
          ours ? ` (ours/torch ${(ours.seconds / o.seconds).toFixed(2)})` : ""
        }`,
    );
  }
}

await writeBenchCsv(args.out, rows, {
  backend: "cpu",
  threads,
  gemm: String(be.info.blas),
  torch_source: torchSource,
  flop_convention:
    "matmul-like, 2/multiply-add; T(n+1) net calls fwd + (n+1) bwd at 2x (recursion/flops.ts)",
});
for (const r of rows.filter((r) => r.impl === "ours")) {
  const goals = [
    r.vs_torch_f32 === ""
      ? "vs torch: n/a"
      : `vs torch f32 ${(r.vs_torch_f32 as number).toFixed(2)} (goal ≤ 0.8: ${
        (r.vs_torch_f32 as number) <= 0.8 ? "met" : "MISSED"
      })`,
    `vs floor ${(r.vs_floor as number).toFixed(2)} (goal ≤ 1.3: ${
      (r.vs_floor as number) <= 1.3 ? "met" : "MISSED"
    })`,
  ];
  console.log(`${r.model} ${r.task}: ${goals.join("; ")}`);
}

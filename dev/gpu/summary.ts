/**
 * The last step of dev/gpu/check.sh: adds the PyTorch peer's measurements (JSON lines of
 * benchmarks/peers/torch_step.py) and the ratios ours / PyTorch to gpu.csv, prints a summary and
 * sets the exit status of the whole check.
 *
 * Rows added (columns model,check,batch,ok,value,detail, as train_check.ts):
 * - `torch-peer-self-check`: the peer's own check against torch_trm.py (≤ 1e-4), once;
 * - `torch-step-seconds-<dtype>[-compile]`: the peer's median step time (value "oom" when it ran
 *   out of memory: ok; any other error: not ok); `-compile` only when torch.compile really ran;
 * - `ratio-f32`: our f32 step / PyTorch's f32 (eager) step; `ratio-bf16`: our bf16-GEMM step /
 *   PyTorch's bf16 step (compiled when it compiled, else eager) — same model and batch only;
 * - `goal`: our best step (f32 or bf16 GEMMs) / PyTorch's bf16 (compiled if it did) step, against
 *   the goal ≤ `--goal` (0.75). Reported, not a failed check, unless `--require-goal`.
 *
 * Exit status: 1 if any row is not ok (a failed check); else 2 if the run is incomplete (a row with
 * value "skipped" or "timeout": out of time, or PyTorch missing); else 0.
 *
 *   deno run -A dev/gpu/summary.ts --csv OUT/gpu.csv [--goal 0.75] [--require-goal] [TORCH.jsonl ...]
 */
import { cliArgs, usageText } from "../../engine/cli.ts";
import { parse } from "csv-parse/sync";
import { stringify } from "csv-stringify/sync";
import { gib } from "./gpu_csv.ts";

/** One gpu.csv row. */
export interface GpuRow {
  model: string;
  check: string;
  batch: string;
  ok: string;
  value: string;
  detail: string;
  /** Provenance (gpu_csv.ts); empty on the rows this summary adds. */
  commit?: string;
  device?: string;
  date?: string;
}

const COLUMNS: (keyof GpuRow)[] = [
  "model",
  "check",
  "batch",
  "ok",
  "value",
  "detail",
  "commit",
  "device",
  "date",
];

/** Rows for the peer's JSON lines (header lines give the torch version and GPU). */
export function torchRows(lines: string[]): GpuRow[] {
  const out: GpuRow[] = [];
  let head: Record<string, unknown> = {};
  for (const text of lines) {
    if (!text.trim().startsWith("{")) continue;
    let j: Record<string, unknown>;
    try {
      j = JSON.parse(text);
    } catch {
      continue;
    }
    if (j.name === "torch_step") {
      head = j;
      const d = j.peer_vs_torch_trm_rel_diff;
      if (d !== undefined && !out.some((r) => r.check === "torch-peer-self-check")) {
        out.push({
          model: "",
          check: "torch-peer-self-check",
          batch: "",
          ok: String(Number(d) <= 1e-4),
          value: Number(d).toExponential(2),
          detail: "torch_step.py's step (its attention, chunked SSD) vs torch_trm.act_step (the " +
            "golden-tested peer), f32, tiny tr-mamba2attn: relative difference of loss and a " +
            "gradient (≤ 1e-4)",
        });
      }
      if (j.error) {
        out.push({
          model: "",
          check: "torch-peer",
          batch: "",
          ok: "false",
          value: "",
          detail: String(j.error),
        });
      }
      continue;
    }
    if (typeof j.model !== "string") continue;
    const compiled = j.compile === true;
    const check = `torch-step-seconds-${j.dtype}${compiled ? "-compile" : ""}`;
    const err = j.error as string | undefined;
    const note = j.compile_note ? `; ${j.compile_note}` : "";
    const base = `torch ${head.torch ?? "?"} on ${head.gpu ?? j.device}; attn ${j.attn}` +
      (j.mamba2_chunk ? `; SSD chunk ${j.mamba2_chunk}` : "") +
      `; micro-batches ${j.micro_batches ?? 1}${j.recompute ? ", recompute" : ""}` +
      (head.sdpa_vs_math_max_abs_diff !== undefined
        ? `; sdpa vs math |Δ| ${Number(head.sdpa_vs_math_max_abs_diff).toExponential(1)}`
        : "");
    if (err) {
      out.push({
        model: j.model,
        check,
        batch: String(j.batch),
        ok: String(err === "oom"),
        value: err === "oom" ? "oom" : "",
        detail: `${base}; ${err}: ${j.detail ?? ""}${note}`,
      });
      continue;
    }
    const secs = Number(j.seconds);
    const times = (j.times as number[] | undefined ?? []).map((t) => t.toFixed(4)).join(" ");
    out.push({
      model: j.model,
      check,
      batch: String(j.batch),
      ok: String(j.finite === true && Number.isFinite(secs)),
      value: secs.toFixed(4),
      detail: `${base}; median of ${j.reps}; ${Number(j.tflops).toFixed(2)} TFLOP/s; ` +
        `peak ${j.peak_mem_bytes ? gib(Number(j.peak_mem_bytes)) : "?"}; warm-up ` +
        `${(j.warmup_s as number[] ?? []).map((t) => t.toFixed(2)).join(" ")} s; all: ${times}` +
        note,
    });
  }
  return out;
}

/** The ratio rows for every model with both our and the peer's times at the same batch. */
export function ratioRows(rows: GpuRow[], goal: number, requireGoal: boolean): GpuRow[] {
  const num = (r: GpuRow | undefined) => (r && /^\d/.test(r.value) ? Number(r.value) : NaN);
  const find = (model: string, check: string, batch?: string) =>
    rows.find((r) =>
      r.model === model && r.check === check && (batch === undefined || r.batch === batch) &&
      /^\d/.test(r.value)
    );
  const out: GpuRow[] = [];
  const models = new Set(
    rows.filter((r) => r.check.startsWith("step-seconds-")).map((r) => r.model),
  );
  for (const model of models) {
    const f32 = find(model, "step-seconds-f32"), bf16 = find(model, "step-seconds-bf16");
    const batch = (f32 ?? bf16)?.batch;
    if (batch === undefined) continue;
    const tf32 = find(model, "torch-step-seconds-f32", batch);
    const tbf16 = find(model, "torch-step-seconds-bf16-compile", batch) ??
      find(model, "torch-step-seconds-bf16", batch);
    const pair = (check: string, ours: GpuRow | undefined, peer: GpuRow | undefined) => {
      if (!ours || !peer) return;
      out.push({
        model,
        check,
        batch,
        ok: "true",
        value: (num(ours) / num(peer)).toFixed(3),
        detail: `ours ${ours.check} ${ours.value} s / ${peer.check} ${peer.value} s`,
      });
    };
    pair("ratio-f32", f32, tf32);
    pair("ratio-bf16", bf16, tbf16);
    const best = [f32, bf16].filter((r) => r).sort((a, b) => num(a) - num(b))[0];
    if (best && tbf16) {
      const ratio = num(best) / num(tbf16), met = ratio <= goal;
      out.push({
        model,
        check: "goal",
        batch,
        ok: String(met || !requireGoal),
        value: ratio.toFixed(3),
        detail: `ours best (${best.check}) ${best.value} s / ${tbf16.check} ${tbf16.value} s; ` +
          `goal ≤ ${goal}: ${met ? "met" : "NOT met"}`,
      });
    }
  }
  return out;
}

if (import.meta.main) {
  const USAGE =
    `usage: deno run -A dev/gpu/summary.ts --csv gpu.csv [--goal 0.75] [--require-goal] [torch.jsonl ...]
  Adds the PyTorch peer's rows and the ratios ours / PyTorch to gpu.csv and prints a summary.
  Exit 1: a check failed; 2: incomplete (or a usage error); 0: all ok.`;
  const { values, positionals } = cliArgs(
    "summary",
    USAGE,
    {
      csv: { type: "string", default: "" },
      goal: { type: "string", default: "0.75" },
      "require-goal": { type: "boolean", default: false },
    },
    Deno.args,
    { positionals: true },
  );
  if (!values.csv) {
    console.error(usageText("summary", "--csv is required", USAGE));
    Deno.exit(2);
  }
  let rows: GpuRow[] = [];
  try {
    rows = parse(Deno.readTextFileSync(values.csv), { columns: true, skip_empty_lines: true });
  } catch (e) {
    console.error(`summary: cannot read ${values.csv}: ${(e as Error).message}`);
  }
  // idempotent: drop rows a previous summary added
  rows = rows.filter((r) =>
    !/^(torch-step-seconds-|torch-peer-self-check$|ratio-|goal$)/.test(r.check)
  );
  for (const f of positionals) {
    try {
      rows.push(...torchRows(Deno.readTextFileSync(f).split("\n")));
    } catch (e) {
      console.error(`summary: cannot read ${f}: ${(e as Error).message}`);
    }
  }
  rows.push(...ratioRows(rows, Number(values.goal), values["require-goal"]));
  Deno.writeTextFileSync(values.csv, stringify(rows, { header: true, columns: COLUMNS }));

  const bad = rows.filter((r) => r.ok !== "true");
  const incomplete = rows.filter((r) => r.value === "skipped" || r.value === "timeout");
  console.log(`\n==== GPU check summary (${values.csv}) ====`);
  for (const r of rows) {
    const tag = r.ok !== "true"
      ? "FAIL"
      : r.value === "skipped" || r.value === "timeout"
      ? "SKIP"
      : "ok  ";
    const v = r.value.length > 40 ? r.value.slice(0, 40) + "…" : r.value;
    console.log(`${tag} ${r.model.padEnd(14)} ${r.check.padEnd(34)} B=${r.batch.padEnd(4)} ${v}`);
  }
  const detailed = (c: string) => c === "goal" || c.startsWith("ratio-") || c.startsWith("ssd-");
  for (const r of rows.filter((r) => detailed(r.check))) {
    console.log(`${r.model} ${r.check}: ${r.value} (${r.detail})`);
  }
  console.log(
    `${rows.length} rows: ${bad.length} failed, ${incomplete.length} skipped or timed out`,
  );
  Deno.exit(bad.length > 0 ? 1 : incomplete.length > 0 ? 2 : 0);
}

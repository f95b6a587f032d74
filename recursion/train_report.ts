/**
 * Collects finished training runs into a results folder: each run's `metrics.csv`, `eval.csv` and
 * `config.json` (no checkpoints), a `summary.csv` (one row per run, explicit columns) and a
 * README.md table with provenance and the chance level of the held-out task.
 *
 *   deno run -A recursion/train_report.ts --runs runs/cpu-mini --out results/train/cpu-mini \
 *     trm-attn trm-mlp-t tr-mamba2attn
 *
 * Chance level (Sudoku-like tasks: token 1 = blank, labels = the full solution): a predictor
 * that copies the givens and guesses each blank uniformly among the n digits is right on a
 * puzzle with b blanks with probability (1/n)^b; exact chance is the mean of that over the
 * held-out puzzles, and its per-cell accuracy is the mean of (givens + b/n) / cells.
 */
import { cliArgs, usageText } from "../engine/cli.ts";
import { guardResultsWrite, machineInfo } from "../engine/provenance.ts";
import { evalBatches } from "../tasks/dataset.ts";
import { openDataset } from "../tasks/open.ts";
import { csvText, parseCsv } from "../engine/csv.ts";
import { EVAL_COLUMNS, METRICS_COLUMNS } from "./run/record.ts";

const SUMMARY_COLUMNS = [
  "model",
  "preset",
  "steps",
  "wall_s",
  "steps_per_s",
  "final_exact_acc",
  "final_cell_acc",
  "best_exact_acc",
  "chance_exact_acc",
  "chance_cell_acc",
  "eval_examples",
  "trainable_params",
  "backend",
  "threads",
  "commit",
  "config_hash",
] as const;

/** Chance exact and per-cell accuracy of "copy the givens, guess the blanks" on a test split. */
export async function sudokuChance(dir: string): Promise<{ exact: number; cell: number }> {
  const ds = await openDataset(dir);
  const n = ds.metadata.vocabSize - 2, len = ds.metadata.seqLen;
  let exact = 0, cell = 0, count = 0;
  for (const b of evalBatches(ds.test, 256)) {
    for (let i = 0; i < b.valid; i++, count++) {
      let blanks = 0;
      for (let t = 0; t < len; t++) if (b.inputs[i * len + t] === 1) blanks++;
      exact += Math.pow(1 / n, blanks);
      cell += (len - blanks + blanks / n) / len;
    }
  }
  return { exact: exact / count, cell: cell / count };
}

const USAGE =
  `usage: deno run -A recursion/train_report.ts --runs DIR --out DIR [--allow-dirty] RUN...
  Collects the finished training runs DIR/RUN... into --out: each run's metrics.csv, eval.csv and
  config.json, a summary.csv and a README.md table.`;

if (import.meta.main) {
  const { values, positionals } = cliArgs(
    "train_report",
    USAGE,
    {
      runs: { type: "string" },
      out: { type: "string" },
      "allow-dirty": { type: "boolean" },
    },
    Deno.args,
    { positionals: { min: 1 } },
  );
  if (!values.runs || !values.out) {
    console.error(usageText("train_report", "--runs and --out are required", USAGE));
    Deno.exit(2);
  }
  const out = values.out;
  await guardResultsWrite(out, { allowDirty: values["allow-dirty"], what: "train_report" });
  await Deno.mkdir(out, { recursive: true });
  const rows: Record<string, string | number>[] = [];
  let chance: { exact: number; cell: number } | null = null;
  let provenance: Record<string, unknown> = {};
  for (const name of positionals) {
    const src = `${values.runs}/${name}`;
    const cfg = JSON.parse(await Deno.readTextFile(`${src}/config.json`));
    const metrics = await Deno.readTextFile(`${src}/metrics.csv`);
    const evals = await Deno.readTextFile(`${src}/eval.csv`);
    await Deno.mkdir(`${out}/${name}`, { recursive: true });
    await Deno.writeTextFile(`${out}/${name}/metrics.csv`, metrics);
    await Deno.writeTextFile(`${out}/${name}/eval.csv`, evals);
    await Deno.writeTextFile(`${out}/${name}/config.json`, JSON.stringify(cfg, null, 2) + "\n");
    chance ??= await sudokuChance(cfg.dataset.dir);
    provenance = cfg.machine;
    const m = parseCsv(metrics, METRICS_COLUMNS, `${src}/metrics.csv`);
    const e = parseCsv(evals, EVAL_COLUMNS, `${src}/eval.csv`);
    const last = m[m.length - 1], fin = e[e.length - 1];
    const wall = Number(last.elapsed_s);
    rows.push({
      model: cfg.config.model,
      preset: cfg.preset,
      steps: Number(last.step),
      wall_s: Math.round(wall),
      steps_per_s: Number((Number(last.step) / wall).toFixed(2)),
      final_exact_acc: Number(fin.exact_acc),
      final_cell_acc: Number(fin.cell_acc),
      best_exact_acc: Math.max(...e.map((r) => Number(r.exact_acc))),
      chance_exact_acc: Number(chance.exact.toPrecision(3)),
      chance_cell_acc: Number(chance.cell.toFixed(4)),
      eval_examples: Number(fin.examples),
      trainable_params: cfg.trainableParams,
      backend: cfg.backend.name,
      threads: cfg.backend.info.threads ?? "",
      commit: cfg.commit,
      config_hash: cfg.configHash,
    });
  }
  const csv = await csvText(SUMMARY_COLUMNS, rows);
  await Deno.writeTextFile(`${out}/summary.csv`, csv);
  const here = machineInfo();
  const table = [
    "| model | steps | wall time | held-out exact acc (final / best) | held-out per-cell acc | params |",
    "|---|---|---|---|---|---|",
    ...rows.map((r) =>
      `| ${r.model} | ${r.steps} | ${
        (Number(r.wall_s) / 60).toFixed(1)
      } min (${r.steps_per_s} steps/s) | ${(Number(r.final_exact_acc) * 100).toFixed(1)}% / ${
        (Number(r.best_exact_acc) * 100).toFixed(1)
      }% | ${(Number(r.final_cell_acc) * 100).toFixed(1)}% | ${
        Number(r.trainable_params).toLocaleString("en-US")
      } |`
    ),
  ].join("\n");
  const runs = positionals.map((n) => `${values.runs}/${n}`).join(", ");
  await Deno.writeTextFile(
    `${out}/README.md`,
    `# Training curves, preset cpu-mini (reduced; NOT the paper's setting)

Held-out exact accuracy (every cell of a 4×4 Sudoku right, after all ACT steps, EMA weights) and
per-cell accuracy on the 250 held-out puzzles of the cpu-mini task (recursion/presets.ts), one run
per model, one after another, each capped at 8 minutes (\`--max-minutes 8\`) of 3000 steps:

    deno task train --task sudoku --model MODEL --preset cpu-mini --seed 0 --out runs/cpu-mini/MODEL --max-minutes 8

${table}

Chance (copy the givens, guess each blank uniformly among the 4 digits): exact ${
      chance!.exact.toPrecision(3)
    }, per-cell ${(chance!.cell * 100).toFixed(1)}%.

Files: \`<model>/eval.csv\` (every 250 steps), \`<model>/metrics.csv\` (every step, training
slots that halted), \`<model>/config.json\` (resolved config, hash, commit, backend, machine),
\`summary.csv\` (this table). Collected by \`recursion/train_report.ts\` from ${runs}.

Provenance: commit ${provenance.commit} (per run in summary.csv), ${provenance.cpu} (${provenance.cores} cores), ${provenance.os}, Deno ${provenance.deno}; last run started ${provenance.date},
collected ${here.date}. The machine was shared with other jobs during these runs, so steps/s
varied during a run (e.g. trm-attn 9–19 steps/s); wall times are as measured, not best-of.
`,
  );
  console.log(table);
  console.log(`chance: exact ${chance!.exact.toPrecision(3)}, per-cell ${chance!.cell.toFixed(4)}`);
  console.log(`wrote ${out}/summary.csv, ${out}/README.md and each run's CSVs`);
}

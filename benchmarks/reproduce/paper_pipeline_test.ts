/**
 * The `paper` preset's whole pipeline at the paper's widths, so that a first paper run (on a GPU,
 * for days) cannot die late on something a small check would have shown — a wrong data recipe, an
 * evaluation batch that does not fit (the paper evaluates 768 examples at once: at hidden 512 and
 * ARC's 916 positions ~65 GiB), a step after training that breaks:
 *
 *   deno task prepare … (a small dataset at the task's paper geometry: 9×9 Sudoku / 30×30 ARC)
 *   deno task reproduce --preset paper --tasks T --models M --config PATCH.json
 *     prepare (the patch's data.dir) → parity → train 2 steps → evaluate → score → verify
 *
 * Kept from the paper preset: every width (hidden 512, 8 heads, expansion 4, Mamba-2 d_state 128,
 * head dim 64, chunk 256), the task geometry, the optimiser settings, the evaluation batch of 768.
 * Reduced by the patch: the dataset (a few puzzles, one augmentation), batch 2, 2 steps (an
 * evaluation after each), and the recursion to T = n = 1 with one ACT step (each evaluated example
 * costs 2 network calls instead of 16 · 15; the memory of a step does not grow with T).
 *
 * verify compares with the published numbers, which 2 steps cannot reach: it must run and report
 * mismatches (exit status 1), not fail otherwise.
 *
 * Default suite: Sudoku, trm-attn (~30 s on 2 cores). `TRM_PAPER_PIPELINE_TEST=1` adds ARC with
 * both of its models (~2 min on 2 AVX2 cores; the attention at 916 positions is slow there).
 * `TRM_PAPER_PIPELINE_BACKEND=cuda` (default auto) runs them on the GPU.
 */
import assert from "node:assert/strict";
import { presetDataRecipe } from "../../recursion/presets.ts";
import { readSwitch } from "../../engine/switches.ts";

const FULL = readSwitch("TRM_PAPER_PIPELINE_TEST") === "1";
const BACKEND = readSwitch("TRM_PAPER_PIPELINE_BACKEND") ?? "auto";
const ROOT = new URL("../..", import.meta.url).pathname;

/** The smoke ARC recipe (3 small evaluation tasks, 30×30 canvas) with one augmentation. */
function arcPrepareArgs(): string[] {
  const args = [...presetDataRecipe("smoke", "arc")!.args];
  const out = args.indexOf("--out");
  args.splice(out, 2);
  args.splice(args.indexOf("--no-progress"), 1);
  args[args.indexOf("--max-aug") + 1] = "1";
  return args;
}

const CASES = [
  {
    task: "sudoku",
    models: ["trm-attn"],
    prepare: () => ["sudoku", "--size", "9", "--train", "16", "--test", "8", "--aug", "1"],
    gated: false,
  },
  { task: "arc", models: ["tr-mamba2attn", "trm-attn"], prepare: arcPrepareArgs, gated: true },
] as const;

async function deno(args: string[]): Promise<{ code: number; out: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", ...args],
    cwd: ROOT,
    env: {
      NO_COLOR: "1",
      // as `deno task reproduce` runs it (deno.json)
      GLIBC_TUNABLES: "glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=" +
        "68719476736",
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

for (const c of CASES) {
  Deno.test({
    name: `paper pipeline at paper widths: ${c.task} (${c.models.join(", ")}) prepare → parity → ` +
      `train → evaluate → score → verify`,
    ignore: c.gated && !FULL,
    async fn() {
      const root = await Deno.makeTempDir({ prefix: `trm-paper-pipeline-${c.task}-` });
      try {
        const data = `${root}/data`;
        const prep = await deno([
          "tasks/prepare.ts",
          ...c.prepare(),
          ...["--seed", "42", "--out", data, "--no-progress"],
        ]);
        assert.equal(prep.code, 0, prep.out);
        const patch = `${root}/patch.json`;
        await Deno.writeTextFile(
          patch,
          JSON.stringify({
            data: { dir: data },
            arch: { hCycles: 1, lCycles: 1, haltMaxSteps: 1 },
            train: { batchSize: 2, steps: 2, evalEvery: 1 },
          }),
        );
        const t0 = performance.now();
        const r = await deno([
          "benchmarks/reproduce/cli.ts",
          ...["--preset", "paper", "--tasks", c.task, "--models", c.models.join(",")],
          ...["--backend", BACKEND, "--config", patch, "--no-progress", "--no-baseline"],
          ...["--out", `${root}/results`, "--runs", `${root}/runs`],
        ]);
        const secs = (performance.now() - t0) / 1000;
        console.log(`  paper pipeline ${c.task}: ${secs.toFixed(1)} s`);
        const log = r.out;
        // Every step of every run done, then the tables and verify.
        const n = c.models.length * 5;
        for (const [i, step] of ["prepare", "parity", "train", "evaluate", "score"].entries()) {
          for (const [k, model] of c.models.entries()) {
            const at = k * 5 + i + 1;
            assert.match(
              log,
              new RegExp(`\\[${at}/${n}\\] ${step} +${c.task}/${model} seed 0: done`),
              log,
            );
          }
        }
        assert.match(log, /reproduce: finished/, log);
        // The paper's numbers are out of reach in 2 steps: verify reports mismatches, nothing else;
        // the paper's claims (both ARC models, one seed: no interval) are inconclusive.
        const verify = (await Deno.readTextFile(`${root}/results/verify.csv`)).trim().split("\n");
        const status = verify[0].split(",").indexOf("status");
        const statuses = new Set(verify.slice(1).map((l) => l.split(",")[status]));
        const absolute = [...statuses].filter((s) => !s.startsWith("claim-"));
        assert.ok(absolute.length > 0 && absolute.every((s) => s === "mismatch"), log);
        assert.ok(
          [...statuses].every((s) => !s.startsWith("claim-") || s === "claim-inconclusive"),
        );
        assert.equal(r.code, 1, log);
        assert.doesNotMatch(log, /Error|error:/, log);
        // The paper's evaluation batch (768) was cut to what is evaluated and fits.
        assert.match(log, /evaluation in batches of \d+ examples \(configured 768/, log);
        for (const model of c.models) {
          const dir = `${root}/runs/${c.task}/${model}/seed-0`;
          const rec = JSON.parse(await Deno.readTextFile(`${dir}/train/config.json`));
          assert.equal(rec.config.arch.hidden, 512);
          assert.equal(rec.config.train.evalBatchSize, 768);
          assert.ok(rec.memoryCheck.evalBatchFit >= 1, JSON.stringify(rec.memoryCheck));
          const preds = (await Deno.readTextFile(`${dir}/pred.jsonl`)).trim().split("\n");
          assert.equal(preds.length, rec.dataset.splits.test.examples);
          const score = c.task === "arc" ? "pass_at_k.csv" : "accuracy.csv";
          assert.ok((await Deno.stat(`${dir}/score/${score}`)).isFile);
        }
      } finally {
        await Deno.remove(root, { recursive: true });
      }
    },
  });
}

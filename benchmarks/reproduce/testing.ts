/** Test helpers of the reproduce pipeline. */
import type { SummaryRow } from "./summary.ts";

/** A summary.csv row with test defaults, fields overridden by `over`. */
export function summaryRow(over: Partial<SummaryRow>): SummaryRow {
  return {
    task: "sudoku",
    model: "trm-attn",
    seed: 0,
    params: 1000,
    metric: "cell_accuracy",
    k: null,
    value: 74,
    unit: "pct",
    n: 64,
    preset: "smoke",
    scale: "smoke (tiny CI check; NOT the paper's setting)",
    commit: "abc",
    config_hash: "h1",
    backend: "cpu",
    dtype: "f32",
    device: "test",
    definition: "d",
    ...over,
  };
}

/** Exit code and decoded output of `deno run --allow-all --no-check script ...args`. */
export async function runScript(
  script: string,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--no-check", script].concat(args),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: o.code, stdout: dec.decode(o.stdout), stderr: dec.decode(o.stderr) };
}

/**
 * `deno task verify`: checks a reproduce run's summary.csv — against the committed regression
 * baseline at the reduced presets (benchmarks/reproduce/expected/baselines/<preset>/baseline.csv),
 * against the published values at `paper` — prints every check and exits 1 when one fails.
 *
 *   deno task verify --preset smoke|cpu-mini|paper --summary results/<preset>/summary.csv
 *                    [--baselines benchmarks/reproduce/expected/baselines] [--no-baseline]
 *                    [--out DIR]
 *
 * Exit status: 0 every check passed; 1 a check failed (regression, missing metric, missing
 * baseline file without --no-baseline, mismatch with the paper); 2 usage error.
 */
import { parseCli, runMain } from "../speed/bench_util.ts";
import { guardResultsWrite } from "../../engine/provenance.ts";
import { PRESET_NAMES, type PresetName } from "../../recursion/run/config.ts";
import { readSummary, verify } from "./verify.ts";

export const USAGE = `usage: deno task verify --preset ${PRESET_NAMES.join("|")} --summary FILE
         [--baselines benchmarks/reproduce/expected/baselines] [--no-baseline] [--out DIR]
         [--allow-dirty]
  Checks every number of a reproduce run's summary.csv: at the reduced presets each checked metric
  of each seed against its baseline threshold (mean over seeds − tolerance derived from their
  spread; benchmarks/reproduce/expected/baselines/<preset>/baseline.csv), at paper the mean over
  seeds against the published values. --out DIR also writes DIR/verify.csv. Exit 1 when a check
  fails, 2 on a usage error.`;

export async function main(args: string[], log = console.log): Promise<number> {
  const r = parseCli("verify", USAGE, {
    preset: { type: "string" },
    summary: { type: "string" },
    baselines: { type: "string", default: "benchmarks/reproduce/expected/baselines" },
    "no-baseline": { type: "boolean", default: false },
    out: { type: "string" },
  }, args);
  if ("exit" in r) {
    (r.exit ? console.error : log)(r.text);
    return r.exit;
  }
  const v = r.values;
  if (!v.preset || !v.summary) {
    console.error(`--preset and --summary are required\n${USAGE}`);
    return 2;
  }
  if (!PRESET_NAMES.includes(v.preset as PresetName)) {
    console.error(`--preset: unknown preset ${v.preset} (expected ${PRESET_NAMES.join(", ")})`);
    return 2;
  }
  let rows;
  try {
    rows = await readSummary(v.summary);
  } catch (e) {
    console.error(`--summary: cannot read ${v.summary}: ${(e as Error).message}`);
    return 2;
  }
  if (v.out) await guardResultsWrite(v.out, { allowDirty: v["allow-dirty"], what: "verify" });
  const res = await verify(v.preset as PresetName, rows, v.out ?? null, v.baselines, {
    noBaseline: v["no-baseline"],
  });
  for (const l of res.lines) log(l);
  return res.failed ? 1 : 0;
}

if (import.meta.main) await runMain(main, { name: "verify", usage: USAGE });

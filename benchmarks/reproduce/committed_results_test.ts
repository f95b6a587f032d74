/**
 * The committed results/ (outputs) and expected/baselines (the pipeline's regression baselines)
 * stay true to the code: a CSV whose columns or parity rows disagree with the code that would write
 * it fails here, and no committed number comes from uncommitted code without its diff beside it
 * (engine/provenance.ts guardResultsWrite).
 */
import assert from "node:assert/strict";
import { parse } from "csv-parse/sync";
import { PARITY_COLUMNS, parityTable } from "../../recursion/parity.ts";
import { LEGACY_SUMMARY_COLUMNS, REPRO_SUMMARY_COLUMNS } from "./summary.ts";
import { BASELINE_COLUMNS } from "./baseline.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const RESULTS = `${ROOT}results/`;
/** The committed baselines verify checks reduced presets against (rebaseline writes them). */
const BASELINES = new URL("./expected/baselines/", import.meta.url).pathname;

function readRows(path: string): Record<string, string>[] {
  return parse(Deno.readTextFileSync(path), { columns: true, skip_empty_lines: true });
}

function header(path: string): string[] {
  return (parse(Deno.readTextFileSync(path), { to: 1 }) as string[][])[0];
}

/** Every CSV under `dir` (recursively; default results/). */
function csvFiles(dir = RESULTS): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    const p = `${dir}${e.name}`;
    if (e.isDirectory) out.push(...csvFiles(`${p}/`));
    else if (e.name.endsWith(".csv")) out.push(p);
  }
  return out.sort();
}

/** A "-dirty" commit label names its stored diff ("-dirty.<sha12>" with the patch beside it). */
function assertCommitLabel(path: string, commit: string) {
  if (!commit.includes("dirty")) return;
  const m = commit.match(/-dirty\.([0-9a-f]{12})$/);
  assert.ok(m, `${path}: commit ${commit} is from uncommitted code with no diff stored`);
}

Deno.test("results/parity.csv holds the parameter counts the code computes", () => {
  const path = `${RESULTS}parity.csv`;
  assert.deepEqual(header(path).slice(0, PARITY_COLUMNS.length), [...PARITY_COLUMNS]);
  const committed = readRows(path).map((r) => PARITY_COLUMNS.map((c) => r[c]).join(","));
  const code = parityTable().map((r) =>
    PARITY_COLUMNS.map((c) => String((r as unknown as Record<string, unknown>)[c])).join(",")
  );
  assert.deepEqual(committed, code, "rerun deno task parity at a clean commit");
  for (const r of readRows(path)) assertCommitLabel(path, r.commit);
});

Deno.test("committed reproduce summaries and baselines follow the code's column contracts", () => {
  const files = [...csvFiles(), ...csvFiles(BASELINES)];
  assert.ok(files.some((f) => f.endsWith("/baseline.csv")), "no committed baseline.csv found");
  for (const path of files) {
    const name = path.slice(ROOT.length);
    if (name.endsWith("/summary.csv")) {
      // Summaries written before the dtype column (all f32) keep their header (verify.ts reads both).
      const h = header(path).join(",");
      assert.ok(
        h === REPRO_SUMMARY_COLUMNS.join(",") || h === LEGACY_SUMMARY_COLUMNS.join(","),
        `${name}: header ${h}`,
      );
    }
    if (name.endsWith("baseline.csv")) assert.deepEqual(header(path), [...BASELINE_COLUMNS], name);
  }
});

Deno.test("committed benchmark rows carry a clean commit, a date and the CPU they ran on", () => {
  const bench = csvFiles(`${RESULTS}bench/`);
  assert.ok(bench.length > 0);
  for (const path of bench) {
    const cols = header(path);
    for (const c of ["commit", "date", "cpu", "simd"]) assert.ok(cols.includes(c), `${path}: ${c}`);
    for (const r of readRows(path)) {
      assert.ok(r.commit && r.commit !== "unknown", `${path}: no commit`);
      assertCommitLabel(path, r.commit);
      assert.ok(!Number.isNaN(Date.parse(r.date)), `${path}: date ${r.date}`);
    }
  }
});

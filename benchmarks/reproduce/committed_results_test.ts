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

/**
 * A "-dirty" commit label names its stored diff: "-dirty.<sha12>", with `dirty-<sha12>.patch` in
 * the file's folder or a folder above it (guardResultsWrite stores it in the output folder).
 */
function assertCommitLabel(path: string, commit: string) {
  if (!commit.includes("dirty")) return;
  const m = commit.match(/-dirty\.([0-9a-f]{12})$/);
  assert.ok(m, `${path}: commit ${commit} is from uncommitted code with no diff stored`);
  const rel = path.startsWith(ROOT) ? path.slice(ROOT.length) : path;
  const parts = rel.split("/").slice(0, -1);
  for (let n = parts.length; n > 0; n--) {
    try {
      Deno.statSync(`${ROOT}${parts.slice(0, n).join("/")}/dirty-${m[1]}.patch`);
      return;
    } catch { /* not in this folder: look further up */ }
  }
  assert.fail(`${rel}: commit ${commit}: no dirty-${m[1]}.patch beside it or above it`);
}

/**
 * Committed files whose rows carry a bare "-dirty" label, each named with the label it may carry
 * and why. Nothing else may: a new file with such rows fails the test below.
 */
const LEGACY_DIRTY: Record<string, { label: string; why: string }> = (() => {
  const cpuMini = {
    label: "47cd857181bf-dirty",
    why: "the cpu-mini run predates clean provenance (README: regenerate with a clean-commit " +
      "cpu-mini rerun and deno task rebaseline --preset cpu-mini)",
  };
  const files = [
    "results/cpu-mini/summary.csv",
    "results/cpu-mini/sudoku/accuracy.csv",
    "results/cpu-mini/maze/accuracy.csv",
    "results/cpu-mini/arc/diagnostics.csv",
    "results/cpu-mini/arc/diagnostics_summary.csv",
    "results/cpu-mini/arc/pass_at_k.csv",
    "results/cpu-mini/arc/strata.csv",
    "benchmarks/reproduce/expected/baselines/cpu-mini/baseline.csv",
    "benchmarks/reproduce/expected/baselines/cpu-mini/summary.csv",
  ];
  const reason = (label: string) => ({
    label,
    why: "the commit deno task rebaseline ran from, read after it had written its own baseline " +
      "files (under the code paths, so always -dirty; fixed in 2b51e82); the baseline rows it " +
      "wrote come from clean-commit summaries, checked below",
  });
  return {
    ...Object.fromEntries(files.map((f) => [f, cpuMini])),
    "benchmarks/reproduce/expected/baselines/cpu-study/reasons.csv": reason("e5831af32a45-dirty"),
  };
})();

Deno.test("every committed commit label is clean, names its stored diff, or is a listed legacy row", () => {
  const files = [...csvFiles(), ...csvFiles(BASELINES)];
  let labels = 0;
  const seen = new Set<string>();
  for (const path of files) {
    const name = path.slice(ROOT.length);
    if (!header(path).includes("commit")) continue;
    const legacy = LEGACY_DIRTY[name];
    for (const r of readRows(path)) {
      labels++;
      if (legacy && r.commit === legacy.label) {
        seen.add(name);
        continue;
      }
      assertCommitLabel(name, r.commit);
    }
  }
  assert.ok(labels > 100, `only ${labels} commit labels found: is the walk broken?`);
  // A legacy entry whose rows were regenerated clean must leave the list.
  const stale = Object.keys(LEGACY_DIRTY).filter((f) => !seen.has(f));
  assert.deepEqual(stale, [], "no longer dirty: remove from LEGACY_DIRTY");
});

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

import assert from "node:assert/strict";
import { findReference, loadReference, REFERENCE_COLUMNS } from "./reference.ts";

const rows = await loadReference();
const one = (q: Parameters<typeof findReference>[1]) => {
  const found = findReference(rows, q);
  assert.equal(found.length, 1, `expected one row for ${JSON.stringify(q)}, got ${found.length}`);
  return found[0];
};
const M2 = "wang-reid-2026", TRM = "jolicoeur-martineau-2025";

Deno.test("reference: the hybrid paper's ARC pass@K, deltas and the pass@1 conflict", () => {
  const arc = { paper: M2, task: "arc-agi-1", metric: "pass_at_k" } as const;
  assert.equal(one({ ...arc, model: "trm-attn", k: 2 }).value, 43.88);
  assert.equal(one({ ...arc, model: "tr-mamba2attn", k: 2 }).value, 45.88);
  assert.equal(one({ ...arc, model: "tr-mamba2attn", k: 2 }).sourceKind, "primary");
  assert.equal(one({ ...arc, model: "trm-attn", k: 100 }).value, 60.5);
  assert.equal(one({ ...arc, model: "tr-mamba2attn", k: 100 }).value, 65.25);
  const d = {
    paper: M2,
    metric: "pass_at_k_delta",
    model: "tr-mamba2attn-minus-trm-attn",
  } as const;
  assert.equal(one({ ...d, k: 2, stratum: "all" }).value, 2);
  assert.equal(one({ ...d, k: 100, stratum: "all" }).value, 4.75);
  assert.equal(65.25 - 60.5, 4.75);
  // pass@1: two secondary readings per model, both flagged.
  const p1 = findReference(rows, { ...arc, k: 1 });
  assert.deepEqual(p1.map((r) => [r.model, r.value]).sort(), [
    ["tr-mamba2attn", 29.25],
    ["tr-mamba2attn", 40.5],
    ["trm-attn", 29.5],
    ["trm-attn", 40.75],
  ]);
  for (const r of p1) {
    assert.equal(r.sourceKind, "secondary");
    assert.match(r.notes, /CONFLICT/);
  }
});

Deno.test("reference: diagnostics, strata, Sudoku and Maze of the hybrid paper", () => {
  const u = { paper: M2, metric: "unique_candidates" } as const;
  assert.equal(one({ ...u, model: "tr-mamba2attn" }).value, 339.5);
  assert.equal(one({ ...u, model: "trm-attn" }).value, 266.6);
  const e = { paper: M2, metric: "vote_entropy" } as const;
  assert.equal(one({ ...e, model: "tr-mamba2attn" }).value, 5.39);
  assert.equal(one({ ...e, model: "trm-attn" }).value, 4.56);
  assert.equal(one({ ...e, model: "trm-attn" }).unit, "unknown");
  const hard = one({ metric: "stratum_n", stratum: "hard" }).value!;
  const easy = one({ metric: "stratum_n", stratum: "easy" }).value!;
  assert.deepEqual([hard, easy, hard + easy], [246, 173, 419]);
  const d = { metric: "pass_at_k_delta", model: "tr-mamba2attn-minus-trm-attn" } as const;
  assert.equal(one({ ...d, stratum: "hard", k: 5 }).value, 4.9);
  assert.equal(one({ ...d, stratum: "easy", k: 1 }).value, -4.6);
  const acc = (task: string, model: string) =>
    one({ paper: M2, task, model, metric: "exact_accuracy" }).value;
  assert.deepEqual(
    ["trm-attn", "tr-mamba2attn", "trm-mlp-t", "tr-mamba2mlpt"].map((m) =>
      acc("sudoku-extreme", m)
    ),
    [72.2, 66.5, 87.4, 84.2],
  );
  assert.deepEqual(
    ["trm-attn", "tr-mamba2attn", "mlp-t-variants"].map((m) => acc("maze-30x30-hard", m)),
    [60.8, 80.6, 0],
  );
});

Deno.test("reference: TRM paper Tables 1-5 and parameter counts", () => {
  const t = (table: string) => rows.filter((r) => r.paper === TRM && r.table.startsWith(table));
  assert.equal(t("Table 1").length, 9 * 4);
  assert.equal(t("Table 2").length, 3);
  assert.equal(t("Table 3").length, 7 * 4);
  assert.equal(t("Table 3").filter((r) => r.value === null).length, 2); // the two OOM cells
  assert.equal(t("Table 4").length, 7 * 2);
  assert.equal(t("Table 5").length, 10 * 2);
  assert.equal(one({ paper: TRM, task: "arc-agi-1", model: "trm-attn", k: 2 }).value, 44.6);
  assert.equal(one({ paper: TRM, task: "arc-agi-2", model: "trm-attn", k: 2 }).value, 7.8);
  assert.equal(one({ paper: TRM, task: "maze-30x30-hard", model: "trm-attn" }).value, 85.3);
  const p = (paper: string, model: string, task?: string) =>
    one({ paper, model, task, metric: "params" }).value;
  assert.equal(p(M2, "trm-attn"), 6.83);
  assert.equal(p(M2, "tr-mamba2attn"), 6.86);
  assert.equal(p(TRM, "trm-mlp-t", "sudoku-extreme"), 5);
  assert.equal(p(TRM, "trm-mlp-t", "maze-30x30-hard"), 19);
  assert.equal(p("computed", "trm-attn", "arc-agi-1"), 6829058);
  assert.equal(p("computed", "tr-mamba2attn", "arc-agi-1"), 6860386);
});

Deno.test("reference: a file with a wrong header or a bad value is rejected", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/a.csv`, "id,value\nx,1\n");
  await assert.rejects(
    () => loadReference(dir),
    (e: Error) => e instanceof TypeError && /header must be/.test(e.message),
  );
  const line = (v: Record<string, string>) => REFERENCE_COLUMNS.map((c) => v[c] ?? "").join(",");
  const ok = {
    id: "x",
    source_kind: "primary",
    metric: "params",
    stratum: "all",
    unit: "params",
    value: "1",
  };
  await Deno.writeTextFile(
    `${dir}/a.csv`,
    [REFERENCE_COLUMNS.join(","), line(ok), line({ ...ok, id: "y", unit: "furlongs" })].join("\n"),
  );
  await assert.rejects(
    () => loadReference(dir),
    (e: Error) => e instanceof RangeError && /a\.csv:3: unit/.test(e.message),
  );
  await Deno.writeTextFile(
    `${dir}/a.csv`,
    [REFERENCE_COLUMNS.join(","), line(ok), line(ok)].join("\n"),
  );
  await assert.rejects(() => loadReference(dir), /duplicate id x/);
  await Deno.remove(dir, { recursive: true });
});

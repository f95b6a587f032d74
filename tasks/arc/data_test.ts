import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  ARC_AGI_1_DIR,
  ARC_DATA_SUMS,
  checksumManifest,
  CONCEPTARC_DIR,
  shippedArcSources,
} from "./data.ts";
import { loadArcSource } from "./load.ts";
import { main as prepareMain } from "../prepare.ts";

function parseSums(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const hit = /^([0-9a-f]{64}) {2}(.+)$/.exec(line);
    assert.ok(hit, `malformed manifest line: ${line}`);
    m.set(hit[2], hit[1]);
  }
  return m;
}

Deno.test("the shipped ARC data matches SHA256SUMS (no file changed, missing or added)", async () => {
  const want = parseSums(await Deno.readTextFile(ARC_DATA_SUMS));
  const got = parseSums(await checksumManifest());
  const changed = [...want].filter(([p, h]) => got.has(p) && got.get(p) !== h).map(([p]) => p);
  const missing = [...want.keys()].filter((p) => !got.has(p));
  const added = [...got.keys()].filter((p) => !want.has(p));
  assert.deepEqual(
    { changed, missing, added },
    { changed: [], missing: [], added: [] },
    "tasks/arc/data differs from SHA256SUMS (regenerate only after a deliberate change: " +
      "deno run --allow-read --allow-write tasks/arc/data.ts)",
  );
  const json = [...want.keys()].filter((p) => p.endsWith(".json"));
  assert.equal(json.filter((p) => p.startsWith("arc-agi-1/")).length, 800);
  assert.equal(json.filter((p) => p.startsWith("conceptarc/corpus/")).length, 160);
  assert.ok(want.has("arc-agi-1/LICENSE") && want.has("conceptarc/LICENSE"));
});

Deno.test("shipped ARC-AGI-1 and ConceptARC have the documented counts", async () => {
  const arc = await loadArcSource(ARC_AGI_1_DIR);
  const carc = await loadArcSource(CONCEPTARC_DIR);
  const count = (ts: { train: readonly unknown[]; test: readonly unknown[] }[]) => [
    ts.length,
    ts.reduce((a, t) => a + t.train.length, 0),
    ts.reduce((a, t) => a + t.test.length, 0),
  ];
  assert.deepEqual([...arc.subsets.keys()], ["training", "evaluation"]);
  // [tasks, demonstration pairs, test pairs]
  assert.deepEqual(count(arc.subsets.get("training")!), [400, 1302, 416]);
  assert.deepEqual(count(arc.subsets.get("evaluation")!), [400, 1363, 419]);
  assert.deepEqual([...carc.subsets.keys()], ["concept"]);
  const concept = carc.subsets.get("concept")!;
  assert.deepEqual(count(concept), [160, 427, 480]);
  assert.ok(concept.every((t) => t.test.length === 3), "every ConceptARC task has 3 test pairs");
});

Deno.test("prepare arc's default sources are the shipped copies, named relative to the repository", () => {
  const repo = fileURLToPath(new URL("../..", import.meta.url));
  assert.deepEqual(shippedArcSources(repo), [
    "tasks/arc/data/arc-agi-1",
    "tasks/arc/data/conceptarc",
  ]);
  // From a folder the data is not under: absolute paths.
  assert.deepEqual(shippedArcSources(`${repo}/benchmarks`), [ARC_AGI_1_DIR, CONCEPTARC_DIR]);
});

Deno.test("prepare arc without --source builds from the shipped copies; --task-ids picks tasks", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const m = await prepareMain([
      ...["arc", "--task-ids", "Copy1,00576224,007bbfb7", "--max-aug", "1"],
      ...["--out", `${tmp}/d`, "--no-progress"],
    ]);
    assert.deepEqual(m.sources.map((s) => [s.kind, s.location]), [
      ["local", shippedArcSources()[0]],
      ["local", shippedArcSources()[1]],
    ]);
    assert.deepEqual(m.options.subsets, ["training", "evaluation", "concept"]);
    assert.deepEqual(m.options.taskIds, ["00576224", "007bbfb7", "Copy1"]);
    assert.deepEqual([m.splits.train.groups, m.splits.test.groups], [3, 1]);
    // The loader reads only the picked tasks; a subset none of them is in comes out empty.
    const one = await loadArcSource(ARC_AGI_1_DIR, { taskIds: ["00576224"] });
    assert.deepEqual([...one.subsets].map(([k, v]) => [k, v.length]), [
      ["training", 0],
      ["evaluation", 1],
    ]);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("prepare arc argument errors: unknown task id, --source with --download, --mirror alone", async () => {
  const out = ["--out", "/nonexistent/never-written", "--no-progress"];
  await assert.rejects(
    () => prepareMain(["arc", "--task-ids", "00576224,zzzzzzzz,yyyyyyyy", ...out]),
    /--task-ids: not found in the sources: yyyyyyyy, zzzzzzzz/,
  );
  await assert.rejects(() => prepareMain(["arc", "--task-ids", " , ", ...out]), /no task id/);
  await assert.rejects(
    () => prepareMain(["arc", "--source", ARC_AGI_1_DIR, "--download", ...out]),
    /--source and --download exclude each other/,
  );
  await assert.rejects(
    () => prepareMain(["arc", "--mirror", "http://127.0.0.1:1", ...out]),
    /apply to arc --download only/,
  );
  await assert.rejects(
    () => prepareMain(["sudoku", "--task-ids", "a", ...out]),
    /--task-ids: applies to arc only/,
  );
});

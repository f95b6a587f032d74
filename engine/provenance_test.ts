import assert from "node:assert/strict";
import {
  DirtyTreeError,
  gitCommit,
  guardResultsWrite,
  insideResults,
  resetDirtyLabel,
  sourceHash,
  treeState,
} from "./provenance.ts";

function git(root: string, ...args: string[]) {
  const o = new Deno.Command("git", { args, cwd: root, stdout: "null", stderr: "piped" })
    .outputSync();
  if (!o.success) throw new Error(`git ${args.join(" ")}: ${new TextDecoder().decode(o.stderr)}`);
}

/** A throw-away repository with one committed source file and a results/ folder. */
async function tempRepo(): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "trm-provenance-test-" });
  await Deno.mkdir(`${root}/engine`);
  await Deno.mkdir(`${root}/results`);
  await Deno.writeTextFile(`${root}/engine/a.ts`, "export const a = 1;\n");
  await Deno.writeTextFile(`${root}/results/old.csv`, "x\n1\n");
  git(root, "init", "-q");
  git(root, "-c", "user.email=t@t", "-c", "user.name=t", "add", ".");
  git(root, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init");
  return root;
}

Deno.test("provenance: results/ refuses numbers of uncommitted code unless --allow-dirty, which stores the diff", async () => {
  const root = await tempRepo();
  try {
    assert.equal(treeState(root).dirty, false);
    // Changing outputs under results/ does not make the code dirty.
    await Deno.writeTextFile(`${root}/results/old.csv`, "x\n2\n");
    await Deno.writeTextFile(`${root}/results/new.csv`, "x\n3\n");
    assert.equal(treeState(root).dirty, false);
    // Nor do documents: numbers depend on code.
    await Deno.writeTextFile(`${root}/engine/NOTES.md`, "docs\n");
    assert.equal(treeState(root).dirty, false);
    await guardResultsWrite(`${root}/results/t`, { root });

    // A code change (tracked edit or new file) makes it dirty: results/ refuses, elsewhere is fine.
    await Deno.writeTextFile(`${root}/engine/a.ts`, "export const a = 2;\n");
    await Deno.writeTextFile(`${root}/engine/b.ts`, "export const b = 1;\n");
    const s = treeState(root);
    assert.equal(s.dirty, true);
    assert.deepEqual(s.changed.sort(), ["engine/a.ts", "engine/b.ts"]);
    await assert.rejects(guardResultsWrite(`${root}/results/t`, { root }), DirtyTreeError);
    await assert.rejects(guardResultsWrite(`${root}/results/x.csv`, { root }), /--allow-dirty/);
    await guardResultsWrite(`${root}/elsewhere`, { root });
    assert.equal(insideResults(`${root}/results/../engine`, root), false);

    // --allow-dirty: the diff (both files) lands beside the results, its hash in the label.
    const label = await guardResultsWrite(`${root}/results/t/summary.csv`, {
      root,
      allowDirty: true,
    });
    assert.match(label, /^[0-9a-f]{12}-dirty\.[0-9a-f]{12}$/);
    assert.equal(gitCommit(), label, "later rows of this process carry the label");
    const patch = await Deno.readTextFile(`${root}/results/t/dirty-${label.slice(-12)}.patch`);
    assert.match(patch, /export const a = 2/);
    assert.match(patch, /export const b = 1/);
  } finally {
    resetDirtyLabel();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("provenance: the source hash follows code, not tests or docs", async () => {
  const root = await tempRepo();
  try {
    const h0 = sourceHash(["engine"], root);
    await Deno.writeTextFile(`${root}/engine/a_test.ts`, "// a test\n");
    await Deno.writeTextFile(`${root}/engine/README.md`, "docs\n");
    // sourceHash caches per process: a fresh root stands for a fresh process here.
    const copy = await Deno.makeTempDir({ prefix: "trm-provenance-test-" });
    try {
      await Deno.mkdir(`${copy}/engine`);
      for (const f of ["a.ts", "a_test.ts", "README.md"]) {
        await Deno.copyFile(`${root}/engine/${f}`, `${copy}/engine/${f}`);
      }
      assert.equal(sourceHash(["engine"], copy), h0, "tests and docs are not hashed");
      await Deno.writeTextFile(`${copy}/engine/kernel.c`, "int x;\n");
      assert.notEqual(sourceHash(["engine"], `${copy}/engine/..`), h0, "a C file is");
    } finally {
      await Deno.remove(copy, { recursive: true });
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

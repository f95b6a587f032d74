/**
 * The layers of the tree, lowest first: engine → tasks, operators → recursion → benchmarks → dev.
 * No module (tests included) imports from a higher layer or across the two middle ones: a lower
 * layer must run and be understood without the ones built on it.
 */
import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), "..");
const RANK: Record<string, number> = {
  engine: 0,
  tasks: 1,
  operators: 1,
  recursion: 2,
  benchmarks: 3,
  dev: 4,
};

function* tsFiles(dir: string): Generator<string> {
  for (const e of Deno.readDirSync(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory && !["node_modules", "build", ".cache"].includes(e.name)) yield* tsFiles(p);
    else if (e.isFile && e.name.endsWith(".ts")) yield p;
  }
}

/** Every (importer, imported) pair of relative imports that crosses layers the wrong way. */
export function layerViolations(root = ROOT): string[] {
  const bad: string[] = [];
  for (const top of Object.keys(RANK)) {
    for (const file of tsFiles(join(root, top))) {
      const text = Deno.readTextFileSync(file);
      for (const m of text.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)) {
        const target = relative(root, resolve(dirname(file), m[1]));
        const to = target.split("/")[0];
        if (!(to in RANK) || to === top) continue;
        if (RANK[to] >= RANK[top]) bad.push(`${relative(root, file)} → ${target}`);
      }
    }
  }
  return bad;
}

Deno.test("layers: no import runs from a lower layer up into a higher one", () => {
  assert.deepEqual(layerViolations(), []);
});

Deno.test("layers: the check finds an upward import (it can fail)", () => {
  const dir = Deno.makeTempDirSync();
  for (const d of Object.keys(RANK)) Deno.mkdirSync(join(dir, d));
  Deno.writeTextFileSync(join(dir, "engine/x.ts"), 'import { y } from "../benchmarks/y.ts";\n');
  Deno.writeTextFileSync(join(dir, "tasks/t.ts"), 'export * from "../operators/o.ts";\n');
  Deno.writeTextFileSync(join(dir, "benchmarks/y.ts"), 'import { x } from "../engine/x.ts";\n');
  assert.deepEqual(layerViolations(dir), [
    "engine/x.ts → benchmarks/y.ts",
    "tasks/t.ts → operators/o.ts",
  ]);
  Deno.removeSync(dir, { recursive: true });
});

import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";
import {
  readIntSwitch,
  readSwitch,
  SWITCH_NAMES,
  switchError,
  switchesLabel,
  switchesSet,
  unknownSwitches,
} from "./switches.ts";
import { machineInfo } from "./provenance.ts";

/** Runs `fn` with the given TRM_* variables set, restoring the environment after. */
function withEnv(vars: Record<string, string>, fn: () => void): void {
  const old = Object.fromEntries(Object.keys(vars).map((k) => [k, Deno.env.get(k)]));
  try {
    for (const [k, v] of Object.entries(vars)) Deno.env.set(k, v);
    fn();
  } finally {
    for (const [k, v] of Object.entries(old)) {
      v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
    }
  }
}

Deno.test("switches: values are checked, with the switch and its values named", () => {
  withEnv({ TRM_THREADS: "3", TRM_BLAS: "own" }, () => {
    assert.equal(readSwitch("TRM_THREADS"), "3");
    assert.equal(readIntSwitch("TRM_THREADS"), 3);
    assert.equal(readSwitch("TRM_BLAS"), "own");
  });
  withEnv({ TRM_THREADS: "two" }, () => {
    assert.throws(() => readSwitch("TRM_THREADS"), /TRM_THREADS must be an integer ≥ 1: got "two"/);
  });
  withEnv({ TRM_THREADS: "0" }, () => assert.throws(() => readIntSwitch("TRM_THREADS"), /≥ 1/));
  withEnv({ TRM_BLAS: "mkl" }, () => {
    assert.throws(() => readSwitch("TRM_BLAS"), /TRM_BLAS must be one of auto, own, openblas/);
  });
  assert.equal(switchError("TRM_CUDA_MATH", "bf16"), null);
  assert.match(String(switchError("TRM_POOL", "off")), /one of 0, 1/);
});

Deno.test("switches: the ones set are recorded in machineInfo; typos are listed", () => {
  withEnv({ TRM_THREADS: "1", TRM_POOL_POISON: "1", TRM_THRAEDS: "2" }, () => {
    const set = switchesSet();
    assert.equal(set.TRM_THREADS, "1");
    assert.equal(set.TRM_POOL_POISON, "1");
    assert.match(switchesLabel(), /TRM_THREADS=1/);
    assert.match(String(machineInfo().switches), /TRM_POOL_POISON=1/);
    assert.ok(unknownSwitches().includes("TRM_THRAEDS"));
    assert.ok(!unknownSwitches().includes("TRM_THREADS"));
  });
});

Deno.test("switches: no module reads a TRM_* variable except through the table", () => {
  const root = resolve(dirname(new URL(import.meta.url).pathname), "..");
  const bad: string[] = [];
  const walk = (dir: string) => {
    for (const e of Deno.readDirSync(dir)) {
      const p = join(dir, e.name);
      if (e.isDirectory && !["node_modules", "build", ".cache", ".git", "runs"].includes(e.name)) {
        walk(p);
      } else if (e.isFile && e.name.endsWith(".ts") && !p.endsWith("switches_test.ts")) {
        const text = Deno.readTextFileSync(p);
        for (const m of text.matchAll(/Deno\.env\.get\(\s*"(TRM_[A-Z0-9_]+)"/g)) {
          bad.push(`${relative(root, p)}: ${m[1]}`);
        }
        for (const m of text.matchAll(/readSwitch\(\s*"(TRM_[A-Z0-9_]+)"/g)) {
          if (!SWITCH_NAMES.includes(m[1] as never)) bad.push(`${relative(root, p)}: ${m[1]}?`);
        }
      }
    }
  };
  for (const top of ["engine", "tasks", "operators", "recursion", "benchmarks", "dev"]) {
    walk(join(root, top));
  }
  assert.deepEqual(bad, []);
});

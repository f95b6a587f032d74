/**
 * One process per output: reproduce refuses a runs/results folder and prepare a dataset folder
 * that a live process holds (tasks/lock.ts), before doing any work.
 */
import assert from "node:assert/strict";
import { reproduce } from "./pipeline.ts";
import { parseReproduceArgs } from "./options.ts";
import { main as prepareMain } from "../../tasks/prepare.ts";

function holder(pid: number): string {
  return JSON.stringify({
    pid,
    hostname: Deno.hostname(),
    startedAt: new Date().toISOString(),
    command: "deno task reproduce",
  });
}

async function deadPid(): Promise<number> {
  const child = new Deno.Command("true", { stdout: "null", stderr: "null" }).spawn();
  await child.status;
  return child.pid;
}

Deno.test("reproduce and prepare refuse an output that a live process holds; prepare clears a killed run's temporaries", async () => {
  const root = await Deno.makeTempDir({ prefix: "trm-reproduce-lock-" });
  const other = new Deno.Command("sleep", { args: ["60"] }).spawn();
  try {
    const patch = `${root}/short.json`;
    await Deno.writeTextFile(patch, JSON.stringify({ train: { steps: 2, evalEvery: 2 } }));
    const args = (out: string, runs: string) => [
      ...["--preset", "smoke", "--tasks", "sudoku", "--models", "trm-mlp-t", "--config", patch],
      ...["--out", out, "--runs", runs, "--no-progress"],
    ];
    for (const locked of ["runs", "results"]) {
      await Deno.mkdir(`${root}/${locked}`, { recursive: true });
      await Deno.writeTextFile(`${root}/${locked}/.trm.lock`, holder(other.pid));
      const o = parseReproduceArgs(args(`${root}/results`, `${root}/runs`));
      await assert.rejects(reproduce(o, () => {}), (e: unknown) => {
        assert.ok(e instanceof Error, String(e));
        assert.match(
          e.message,
          new RegExp(`reproduce folder ${root}/${locked} is in use by pid ${other.pid}`),
        );
        return true;
      });
      assert.ok(!(await Deno.stat(`${root}/runs/sudoku`).catch(() => null)), "no step ran");
      await Deno.remove(`${root}/${locked}/.trm.lock`);
      const left = [...Deno.readDirSync(`${root}/runs`), ...Deno.readDirSync(`${root}/results`)];
      assert.deepEqual(left, [], "the lock taken on the other folder was released");
    }

    const data = `${root}/datasets/sudoku4`;
    const prep = ["sudoku", "--size", "4", "--train", "8", "--test", "2", "--aug", "1"];
    await Deno.mkdir(`${root}/datasets`);
    await Deno.writeTextFile(`${data}.trm.lock`, holder(other.pid));
    await assert.rejects(
      prepareMain([...prep, "--out", data, "--no-progress"]),
      new RegExp(`dataset output ${data} is in use by pid ${other.pid}`),
    );
    assert.ok(!(await Deno.stat(data).catch(() => null)));
    // A prepare killed with -9: its lock and temporary folder stay; the next prepare takes over.
    const dead = await deadPid();
    await Deno.writeTextFile(`${data}.trm.lock`, holder(dead));
    await Deno.mkdir(`${data}.tmp-${dead}-abc1`);
    await prepareMain([...prep, "--out", data, "--no-progress"]);
    assert.deepEqual([...Deno.readDirSync(`${root}/datasets`)].map((e) => e.name), ["sudoku4"]);
  } finally {
    other.kill("SIGKILL");
    await other.status;
    await Deno.remove(root, { recursive: true });
  }
});

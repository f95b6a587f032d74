import assert from "node:assert/strict";
import { seedStats, seedStatsTable } from "./seeds.ts";
import { resultReadme } from "./results.ts";
import { summaryRow as row } from "./testing.ts";

Deno.test("seed statistics: mean, sample sd, min, max over seeds; single-seed groups left out", () => {
  const rows = [
    row({ seed: 0, metric: "exact_accuracy", value: 15 }),
    row({ seed: 1, metric: "exact_accuracy", value: 20 }),
    row({ seed: 2, metric: "exact_accuracy", value: 31 }),
    row({ seed: 0, model: "tr-mamba2attn", metric: "exact_accuracy", value: 28 }),
    row({ seed: 0, metric: "train_seconds", value: 100, unit: "s" }),
    row({ seed: 1, metric: "train_seconds", value: 120, unit: "s" }),
    row({ task: "arc", seed: 0, metric: "pass_at_k", k: 2, value: 0 }),
    row({ task: "arc", seed: 1, metric: "pass_at_k", k: 2, value: 6.25 }),
  ];
  const s = seedStats(rows);
  assert.equal(s.length, 2, "mamba (one seed) and train_seconds (not a headline metric) left out");
  const maze = s.find((x) => x.metric === "exact_accuracy")!;
  assert.equal(maze.n_seeds, 3);
  assert.equal(maze.seeds, "0 1 2");
  assert.equal(maze.mean, 22);
  // sample sd: deviations −7, −2, 9 → (49 + 4 + 81) / 2 = 67
  assert.ok(Math.abs(Number(maze.sd) - Math.sqrt(67)) < 1e-12);
  assert.deepEqual([maze.min, maze.max], [15, 31]);
  const arc = s.find((x) => x.metric === "pass_at_k")!;
  assert.equal(arc.k, 2);
  assert.equal(arc.mean, 3.125);
  assert.match(
    seedStatsTable(s, "arc").join("\n"),
    /\| trm-attn \| pass_at_k@2 \| 0 1 \| 3\.1% \|/,
  );
  assert.deepEqual(seedStatsTable(s, "maze"), [], "no rows of another task");
  assert.throws(() => seedStats([row({}), row({})]), /a seed twice/);
  const readme = resultReadme("smoke", rows, null, "cmd");
  assert.match(readme, /Over seeds/);
  assert.ok(!resultReadme("smoke", [row({})], null, "cmd").includes("Over seeds"));
});

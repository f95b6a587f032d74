/**
 * The task data a submission is scored against, rebuilt by the project's own data code in a
 * temporary folder (nothing cached is trusted): the Sudoku generator of `data.generate`, or the
 * preset's `deno task prepare` recipe (recursion/presets.ts `presetDataRecipe`); for ARC, the
 * test-split tasks read from the files shipped in tasks/arc/data. At the reduced presets this takes
 * about a second; at `paper` it costs what `deno task prepare` costs.
 */
import { resolve } from "node:path";
import { REPO_ROOT } from "../../engine/provenance.ts";
import { openRunData } from "../../recursion/data.ts";
import { presetDataRecipe } from "../../recursion/presets.ts";
import type { RunConfig } from "../../recursion/run/config.ts";
import { ARC_AGI_1_DIR, CONCEPTARC_DIR } from "../../tasks/arc/data.ts";
import { loadArcSource } from "../../tasks/arc/load.ts";
import type { TaskDataset } from "../../tasks/dataset.ts";
import { gridToRows } from "../../tasks/grid.ts";
import { openDataset } from "../../tasks/open.ts";
import { main as prepareMain } from "../../tasks/prepare.ts";
import { Refused } from "./bundle.ts";

/**
 * The configuration's dataset, built anew under `tmp` by the project's data code: the generator
 * of `data.generate`, or the preset's `deno task prepare` recipe.
 */
export async function regenerateDataset(
  c: RunConfig,
  tmp: string,
  note: (line: string) => void = () => {},
): Promise<TaskDataset> {
  // The builders' notes (e.g. ARC tasks left out by a reduced canvas) go to `note`.
  const { log, warn } = console;
  console.log = console.warn = (...a: unknown[]) => note(a.join(" "));
  try {
    return await build(c, tmp);
  } finally {
    Object.assign(console, { log, warn });
  }
}

async function build(c: RunConfig, tmp: string): Promise<TaskDataset> {
  if (c.data.generate !== null) {
    const { ds } = await openRunData(
      { dir: null, generate: c.data.generate, cacheRoot: `${tmp}/data` },
      () => {},
    );
    return ds;
  }
  const recipe = presetDataRecipe(c.preset, c.task);
  if (!recipe || recipe.dir !== c.data.dir) {
    throw new Refused("config.data", `${c.data.dir} is not a dataset of preset ${c.preset}`);
  }
  const out = `${tmp}/data/${recipe.dir.replace(/.*\//, "")}`;
  const args = recipe.args.map((a, i) =>
    recipe.args[i - 1] === "--out"
      ? out
      : recipe.args[i - 1] === "--source"
      ? resolve(REPO_ROOT, a)
      : a
  );
  await prepareMain(args);
  return await openDataset(out);
}

/**
 * A flat task folder (`<tmp>/arc-tasks/evaluation/<id>.json`) of the dataset's test-split tasks,
 * read from the ARC files shipped in the repository (tasks/arc/data), not from the dataset.
 */
export async function shippedArcTasks(ds: TaskDataset, tmp: string): Promise<string> {
  const groups = JSON.parse(await Deno.readTextFile(`${ds.dir}/tasks.json`)) as {
    id: string;
    subset: string;
    inTestSplit: boolean;
  }[];
  const wanted = groups.filter((g) => g.inTestSplit);
  const dir = `${tmp}/arc-tasks/evaluation`;
  await Deno.mkdir(dir, { recursive: true });
  const bySource = new Map<string, typeof wanted>();
  for (const g of wanted) {
    const src = g.subset === "concept" ? CONCEPTARC_DIR : ARC_AGI_1_DIR;
    bySource.set(src, [...(bySource.get(src) ?? []), g]);
  }
  for (const [src, gs] of bySource) {
    const source = await loadArcSource(src, { taskIds: gs.map((g) => g.id) });
    for (const g of gs) {
      const t = source.subsets.get(g.subset)?.find((t) => t.id === g.id);
      if (!t) {
        throw new Refused("dataset", `ARC task ${g.subset}/${g.id} is not among the shipped tasks`);
      }
      const pairs = (ps: typeof t.test) =>
        ps.map((p) => ({ input: gridToRows(p.input), output: gridToRows(p.output) }));
      await Deno.writeTextFile(
        `${dir}/${g.id}.json`,
        JSON.stringify({ train: pairs(t.train), test: pairs(t.test) }),
      );
    }
  }
  return `${tmp}/arc-tasks`;
}

/**
 * Loading ARC tasks from disk, with validation. A task is `{train, test}`, lists of
 * `{input, output}` pairs whose grids are lists of rows of ints 0..9, from 1×1 to 30×30
 * (fchollet/ARC-AGI).
 *
 * Layouts understood by `loadArcSource(dir)`:
 * - ARC repository: `dir/training/*.json`, `dir/evaluation/*.json` (also under `dir/data/`);
 * - ConceptARC: `dir/corpus/<Concept>/*.json` → subset `concept`;
 * - Kaggle combined: `dir/arc-agi_<subset>_challenges.json` (+ `_solutions.json`; when missing,
 *   every test output is the dummy grid [[0]] as in TRM);
 * - otherwise a plain folder of task files → subset named after the folder.
 * Unknown keys in a task (e.g. `name`) are ignored.
 */
import { ContentHash } from "../io.ts";
import type { Grid } from "../grid.ts";

/** Largest ARC grid side. */
export const ARC_MAX_SIDE = 30;

/** One input/output pair. */
export interface ArcPair {
  readonly input: Grid;
  readonly output: Grid;
}

/** One task: demonstration (`train`) and `test` pairs. */
export interface ArcTask {
  readonly id: string;
  readonly subset: string;
  readonly train: readonly ArcPair[];
  readonly test: readonly ArcPair[];
}

/** Tasks per subset, and a checksum of the files read. */
export interface ArcSource {
  readonly dir: string;
  readonly subsets: Map<string, ArcTask[]>;
  /** SHA-256 over the sorted (relative path, bytes) of every file read. */
  readonly sha256: string;
}

/**
 * Validates a grid: a non-empty list of equally long non-empty rows, at most 30×30, of integers
 * 0..9. `where` names the file and field for error messages.
 */
export function parseGrid(value: unknown, where: string): Grid {
  if (!Array.isArray(value) || value.length === 0) {
    throw new TypeError(`${where}: grid must be a non-empty list of rows`);
  }
  const h = value.length;
  const first = value[0];
  if (!Array.isArray(first) || first.length === 0) {
    throw new TypeError(`${where}: row 0 must be a non-empty list`);
  }
  const w = first.length;
  if (h > ARC_MAX_SIDE || w > ARC_MAX_SIDE) {
    throw new RangeError(`${where}: grid is ${h}x${w}, larger than 30x30`);
  }
  const cells = new Uint8Array(h * w);
  for (let i = 0; i < h; i++) {
    const row = value[i];
    if (!Array.isArray(row)) throw new TypeError(`${where}: row ${i} is not a list`);
    if (row.length !== w) {
      throw new TypeError(
        `${where}: ragged grid: row ${i} has ${row.length} cells, row 0 has ${w}`,
      );
    }
    for (let j = 0; j < w; j++) {
      const v = row[j];
      if (typeof v !== "number" || !Number.isInteger(v)) {
        throw new TypeError(`${where}: cell [${i}][${j}] is not an integer: ${JSON.stringify(v)}`);
      }
      if (v < 0 || v > 9) {
        throw new RangeError(`${where}: cell [${i}][${j}] colour ${v} not in 0..9`);
      }
      cells[i * w + j] = v;
    }
  }
  return { h, w, cells };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function parsePairs(
  value: unknown,
  where: string,
  outputs: "required" | "absent",
): { input: Grid; output: Grid | null }[] {
  if (!Array.isArray(value)) throw new TypeError(`${where}: must be a list of pairs`);
  return value.map((item, k) => {
    const at = `${where}[${k}]`;
    if (!isObject(item)) throw new TypeError(`${at}: must be an object with input/output`);
    const input = parseGrid(item.input, `${at}.input`);
    if (outputs === "absent" && item.output === undefined) return { input, output: null };
    return { input, output: parseGrid(item.output, `${at}.output`) };
  });
}

/** Validates one task object (`{train, test}`); `file` names it in errors. */
export function parseTask(value: unknown, id: string, subset: string, file: string): ArcTask {
  if (!isObject(value)) throw new TypeError(`${file}: task must be a JSON object`);
  const train = parsePairs(value.train, `${file}: train`, "required");
  const test = parsePairs(value.test, `${file}: test`, "required");
  if (train.length === 0) throw new RangeError(`${file}: train: task has no demonstration pairs`);
  if (test.length === 0) throw new RangeError(`${file}: test: task has no test pairs`);
  return {
    id,
    subset,
    train: train as ArcPair[],
    test: test as ArcPair[],
  };
}

/** Parses JSON text, turning a parse failure into a SyntaxError that names the file. */
export function parseJsonFile(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new SyntaxError(`${file}: malformed JSON: ${(e as Error).message}`);
  }
}

async function listDir(dir: string): Promise<Deno.DirEntry[]> {
  const out: Deno.DirEntry[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e);
  out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return out;
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

class Reader {
  readonly hash = new ContentHash();
  constructor(readonly root: string) {}
  async json(path: string): Promise<unknown> {
    const bytes = await Deno.readFile(path);
    this.hash.add(path.slice(this.root.length + 1), bytes);
    return parseJsonFile(new TextDecoder().decode(bytes), path);
  }
}

/** Which task ids to read; null = all. */
type IdFilter = ReadonlySet<string> | null;

async function loadTaskFolder(
  reader: Reader,
  dir: string,
  subset: string,
  only: IdFilter,
): Promise<ArcTask[]> {
  const tasks: ArcTask[] = [];
  for (const e of await listDir(dir)) {
    if (!e.isFile || !e.name.endsWith(".json")) continue;
    if (only && !only.has(e.name.slice(0, -5))) continue;
    const file = `${dir}/${e.name}`;
    tasks.push(parseTask(await reader.json(file), e.name.slice(0, -5), subset, file));
  }
  return tasks;
}

async function loadKaggle(
  reader: Reader,
  dir: string,
  subset: string,
  only: IdFilter,
): Promise<ArcTask[]> {
  const cFile = `${dir}/arc-agi_${subset}_challenges.json`;
  const sFile = `${dir}/arc-agi_${subset}_solutions.json`;
  const challenges = await reader.json(cFile);
  if (!isObject(challenges)) throw new TypeError(`${cFile}: must map task ids to tasks`);
  let solutions: Record<string, unknown> | null = null;
  try {
    const s = await reader.json(sFile);
    if (!isObject(s)) throw new TypeError(`${sFile}: must map task ids to lists of grids`);
    solutions = s;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    console.warn(`arc: ${sFile} not found: test outputs set to the dummy grid [[0]]`);
  }
  const tasks: ArcTask[] = [];
  for (const id of Object.keys(challenges).sort()) {
    if (only && !only.has(id)) continue;
    const raw = challenges[id];
    if (!isObject(raw)) throw new TypeError(`${cFile}: ${id}: task must be an object`);
    const train = parsePairs(raw.train, `${cFile}: ${id}.train`, "required") as ArcPair[];
    const testIn = parsePairs(raw.test, `${cFile}: ${id}.test`, "absent");
    let outs: Grid[];
    if (solutions === null) {
      outs = testIn.map(() => ({ h: 1, w: 1, cells: new Uint8Array(1) }));
    } else {
      const list = solutions[id];
      if (!Array.isArray(list) || list.length !== testIn.length) {
        throw new TypeError(
          `${sFile}: ${id}: expected a list of ${testIn.length} output grids, got ${
            Array.isArray(list) ? list.length : typeof list
          }`,
        );
      }
      outs = list.map((g, k) => parseGrid(g, `${sFile}: ${id}[${k}]`));
    }
    if (train.length === 0) throw new RangeError(`${cFile}: ${id}.train: no demonstration pairs`);
    if (testIn.length === 0) throw new RangeError(`${cFile}: ${id}.test: no test inputs`);
    tasks.push({
      id,
      subset,
      train,
      test: testIn.map((p, k) => ({ input: p.input, output: outs[k] })),
    });
  }
  return tasks;
}

/**
 * Loads every subset found in `dir` (see the module comment for layouts). With `taskIds`, only
 * those tasks are read (and hashed); the other files are skipped, and a subset may come out empty.
 */
export async function loadArcSource(
  dir: string,
  opts: { taskIds?: readonly string[] | null } = {},
): Promise<ArcSource> {
  const only: IdFilter = opts.taskIds ? new Set(opts.taskIds) : null;
  dir = dir.replace(/\/+$/, "");
  if (!await isDir(dir)) throw new Deno.errors.NotFound(`arc source folder not found: ${dir}`);
  const reader = new Reader(dir);
  const subsets = new Map<string, ArcTask[]>();
  const base = await isDir(`${dir}/data/training`) ? `${dir}/data` : dir;
  let found = false;
  for (const name of ["training", "evaluation"]) {
    if (await isDir(`${base}/${name}`)) {
      subsets.set(name, await loadTaskFolder(reader, `${base}/${name}`, name, only));
      found = true;
    }
  }
  if (await isDir(`${dir}/corpus`)) {
    const tasks: ArcTask[] = [];
    for (const e of await listDir(`${dir}/corpus`)) {
      if (e.isDirectory) {
        tasks.push(...await loadTaskFolder(reader, `${dir}/corpus/${e.name}`, "concept", only));
      }
    }
    subsets.set("concept", tasks);
    found = true;
  }
  for (const e of await listDir(dir)) {
    const m = /^arc-agi_(.+)_challenges\.json$/.exec(e.name);
    if (m && e.isFile) {
      subsets.set(m[1], await loadKaggle(reader, dir, m[1], only));
      found = true;
    }
  }
  if (!found) {
    const name = dir.replace(/.*\//, "");
    const tasks = await loadTaskFolder(reader, dir, name, only);
    if (tasks.length === 0 && !only) {
      throw new Deno.errors.NotFound(
        `${dir}: no ARC tasks found (expected training/, evaluation/, corpus/, ` +
          `arc-agi_*_challenges.json or *.json task files)`,
      );
    }
    subsets.set(name, tasks);
  }
  for (const [name, tasks] of subsets) {
    const seen = new Set<string>();
    for (const t of tasks) {
      if (seen.has(t.id)) throw new TypeError(`${dir}: subset ${name}: duplicate task id ${t.id}`);
      seen.add(t.id);
    }
  }
  return { dir, subsets, sha256: reader.hash.hex() };
}

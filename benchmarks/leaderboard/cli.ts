/**
 * `deno task leaderboard`: submission bundles and the leaderboard database.
 *
 * ```
 * deno task leaderboard pack RUN [--out FILE] [--name TEXT]
 * deno task leaderboard submit BUNDLE [--db FILE]
 * deno task leaderboard list [--db FILE]
 * deno task leaderboard render [--db FILE] [--out DIR]     (render.ts)
 * ```
 *
 * Exit status: 0 done (packed, accepted, listed), 1 refused or failed (one line naming the field
 * or the path), 2 usage. See README.md beside this file.
 */
import { dirname } from "node:path";
import {
  assertWritable,
  parseCli,
  printCliResult,
  runMain,
  UsageError,
  usageText,
} from "../../engine/cli.ts";
import { guardResultsWrite } from "../../engine/provenance.ts";
import { packRun, Refused } from "./bundle.ts";
import { DEFAULT_DB, listEntries, openDb, submitBundle } from "./db.ts";
import type { Entry } from "./entry.ts";

export const USAGE = `usage:
  deno task leaderboard pack RUN [--out FILE] [--name TEXT]
  deno task leaderboard submit BUNDLE [--db FILE]
  deno task leaderboard list [--db FILE]
  deno task leaderboard render [--db FILE] [--out DIR]
  pack: RUN is a finished run — a reproduce seed folder (<runs>/<task>/<model>/seed-<s>), a
    folder of such seed folders (one model on one task: all its seeds in one bundle), or a
    'deno task train --dump-predictions' folder scored into RUN/score. Writes one zip (default
    RUN.bundle.zip): config, prediction files, reported scores, SHA256SUMS; no checkpoints.
  submit: verifies the bundle (checksums, config hash, clean commit, dataset regenerated,
    parameter count, every score recomputed from the predictions) and adds it as one entry;
    a refusal names the field and writes nothing. Default database:
    ${DEFAULT_DB}
  list: the entries, one line each.`;

const OPTIONS = {
  out: { type: "string" },
  name: { type: "string" },
  db: { type: "string" },
} as const;

const ALLOWED: Record<string, readonly string[]> = {
  pack: ["out", "name"],
  submit: ["db"],
  list: ["db"],
};

/** The `render` subcommand's entry point (render.ts, written separately). */
type RenderModule = { renderCommand(args: string[]): Promise<number> };

function headline(e: Entry): string {
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  if (e.task === "arc") {
    const v = e.seeds.map((s) => s.passAtK.find((p) => p.k === 2)?.value ?? NaN);
    return `pass@2 ${mean(v).toFixed(2)} %`;
  }
  return `exact ${mean(e.seeds.map((s) => s.metrics.exact_accuracy)).toFixed(2)} %`;
}

function entryLine(e: Entry): string {
  return `#${e.id} ${e.task} ${e.preset} ${e.model} seeds ${e.seeds.map((s) => s.seed).join(",")}` +
    `: ${headline(e)} (mean), ${e.params} params, commit ${e.commit}, "${e.name}"`;
}

/** Runs the CLI on `args`; returns the exit status. */
export async function main(args: string[], log = console.log): Promise<number> {
  if (args[0] === "render") {
    // Loaded only when asked for, so that the other subcommands never depend on it.
    const spec = new URL("./render.ts", import.meta.url).href;
    const mod = await import(spec) as RenderModule;
    return await mod.renderCommand(args.slice(1));
  }
  const parsed = parseCli("leaderboard", USAGE, OPTIONS, args, { positionals: true });
  if ("exit" in parsed) return printCliResult(parsed, log);
  const [cmd, ...rest] = parsed.positionals;
  const v = parsed.values;
  try {
    if (!cmd || !(cmd in ALLOWED)) {
      throw new UsageError(
        `first argument must be pack, submit, list or render: ${cmd ?? "(none)"}`,
      );
    }
    for (const k of Object.keys(v)) {
      if (!ALLOWED[cmd].includes(k)) throw new UsageError(`${cmd}: option --${k} does not apply`);
    }
    const want = cmd === "list" ? 0 : 1;
    if (rest.length !== want) {
      const what = cmd === "pack" ? "RUN" : "BUNDLE";
      throw new UsageError(
        want ? `${cmd}: expected one ${what}, got ${rest.length}` : `list: unexpected ${rest[0]}`,
      );
    }
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(usageText("leaderboard", e.message, USAGE));
      return 2;
    }
    throw e;
  }
  if (cmd === "pack") {
    const run = rest[0].replace(/\/+$/, "");
    const out = v.out ?? `${run}.bundle.zip`;
    assertWritable(out);
    try {
      const { bytes, info } = await packRun(run, { name: v.name });
      await Deno.mkdir(dirname(out), { recursive: true });
      await Deno.writeFile(out, bytes);
      const files = info.seeds.reduce((a, s) => a + s.predictions.length, 0);
      log(
        `packed ${info.task}/${info.model} (${info.preset}), seed${
          info.seeds.length > 1 ? "s" : ""
        } ` +
          `${info.seeds.map((s) => s.seed).join(", ")}, ${files} prediction file(s), commit ` +
          `${info.provenance.commit} → ${out} (${bytes.length} bytes)`,
      );
      return 0;
    } catch (e) {
      if (e instanceof Deno.errors.NotCapable) throw e;
      console.error(`leaderboard pack: ${(e as Error).message}`);
      return 1;
    }
  }
  const dbPath = v.db ?? DEFAULT_DB;
  if (cmd === "list") {
    if (!(await Deno.stat(dbPath).then((s) => s.isFile, () => false))) {
      console.error(`leaderboard list: no database at ${dbPath}`);
      return 1;
    }
    const db = openDb(dbPath, { readonly: true });
    try {
      const entries = listEntries(db);
      for (const e of entries) log(entryLine(e));
      log(`${entries.length} entr${entries.length === 1 ? "y" : "ies"} in ${dbPath}`);
    } finally {
      db.close();
    }
    return 0;
  }
  if (!(await Deno.stat(rest[0]).then((s) => s.isFile, () => false))) {
    console.error(`leaderboard submit: no bundle file at ${rest[0]}`);
    return 1;
  }
  assertWritable(dbPath);
  // Entries in the committed results/ come from committed code (engine/provenance.ts).
  await guardResultsWrite(dbPath, { what: "submitting" });
  await Deno.mkdir(dirname(dbPath), { recursive: true });
  const db = openDb(dbPath);
  try {
    const entry = await submitBundle(db, rest[0], { log: (l) => log(`  ${l}`) });
    log(`accepted: ${entryLine(entry)} → ${dbPath}`);
    return 0;
  } catch (e) {
    if (e instanceof Refused) {
      console.error(`leaderboard submit: refused: ${e.message}`);
      return 1;
    }
    throw e;
  } finally {
    db.close();
  }
}

if (import.meta.main) await runMain(main, { name: "leaderboard", usage: USAGE });

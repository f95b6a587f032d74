/**
 * The ARC task data shipped with the repository in `tasks/arc/data/` (provenance and licences:
 * each subfolder's `SOURCE.md` and `LICENSE`):
 * - `arc-agi-1/`: fchollet/ARC-AGI `training/` and `evaluation/` (Apache-2.0);
 * - `conceptarc/`: victorvikram/ConceptARC `corpus/` (MIT).
 *
 * `prepare arc` reads these copies when no `--source` is given. `SHA256SUMS` lists the SHA-256 of
 * every shipped task file and licence (`sha256sum` format, paths relative to `tasks/arc/data`), and
 * `data_test.ts` recomputes it. After a deliberate change to the data, rewrite it with
 *
 *   deno run --allow-read --allow-write tasks/arc/data.ts
 *
 * (or, equivalently, `cd tasks/arc/data && sha256sum -c SHA256SUMS` to check it by hand).
 */
import { createHash } from "node:crypto";
import { isAbsolute, relative } from "node:path";
import { fileURLToPath } from "node:url";

/** Absolute path of `tasks/arc/data`. */
export const ARC_DATA_DIR = fileURLToPath(new URL("./data", import.meta.url));
/** ARC-AGI-1 (`training/`, `evaluation/`), as shipped. */
export const ARC_AGI_1_DIR = `${ARC_DATA_DIR}/arc-agi-1`;
/** ConceptARC (`corpus/<Concept>/`), as shipped. */
export const CONCEPTARC_DIR = `${ARC_DATA_DIR}/conceptarc`;
/** The checksum manifest. */
export const ARC_DATA_SUMS = `${ARC_DATA_DIR}/SHA256SUMS`;

/**
 * The default sources of `prepare arc` (ARC-AGI-1, then ConceptARC, as the paper preset builds),
 * relative to the working folder when they are under it (so the dataset metadata names
 * `tasks/arc/data/...` rather than a path of this machine), else absolute.
 */
export function shippedArcSources(cwd = Deno.cwd()): string[] {
  return [ARC_AGI_1_DIR, CONCEPTARC_DIR].map((dir) => {
    const rel = relative(cwd, dir);
    return rel === "" || rel.startsWith("..") || isAbsolute(rel) ? dir : rel;
  });
}

/** Files the manifest covers: every `*.json` and `LICENSE`, relative paths in byte order. */
export async function shippedFiles(root = ARC_DATA_DIR): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string) => {
    for await (const e of Deno.readDir(rel ? `${root}/${rel}` : root)) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) await walk(path);
      else if (e.isFile && (e.name.endsWith(".json") || e.name === "LICENSE")) out.push(path);
    }
  };
  await walk("");
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The manifest text of the files under `root`: `<sha256>  <path>` per line, as `sha256sum`. */
export async function checksumManifest(root = ARC_DATA_DIR): Promise<string> {
  const lines: string[] = [];
  for (const path of await shippedFiles(root)) {
    const hex = createHash("sha256").update(await Deno.readFile(`${root}/${path}`)).digest("hex");
    lines.push(`${hex}  ${path}\n`);
  }
  return lines.join("");
}

if (import.meta.main) {
  const text = await checksumManifest();
  await Deno.writeTextFile(ARC_DATA_SUMS, text);
  console.log(`wrote ${ARC_DATA_SUMS}: ${text.split("\n").length - 1} files`);
}

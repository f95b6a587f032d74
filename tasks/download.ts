/**
 * Downloading raw task data into a cache folder: archives of the pinned upstream repositories
 * (ARC-AGI, ConceptARC) and the Hugging Face CSVs. Each download is streamed to a temporary file
 * while its SHA-256 is computed, checked against an expected value when one is known, recorded
 * next to the file (`<file>.sha256`), and renamed into place; a cached file whose recorded checksum
 * still matches is reused. Being offline gives an error that says to use `--source`.
 */
import { unzipSync } from "fflate";
import { createHash } from "node:crypto";
import { AtomicDir, exists, progressBar, sha256File, writeFileAtomic } from "./io.ts";
import type { SourceRecord } from "./dataset.ts";

/** One file to fetch. */
export interface DownloadSpec {
  /** File name in the cache folder. */
  readonly file: string;
  readonly url: string;
  /** Expected SHA-256 when known. */
  readonly sha256?: string;
  /** Whether a mismatch only warns (for checksums from unverified third-party notes). */
  readonly sha256Unverified?: boolean;
}

export const ARC_AGI_COMMIT = "399030444e0ab0cc8b4e199870fb20b863846f34";
export const CONCEPTARC_COMMIT = "b22ef526b4656679816b7811e78f55cc24d736d7";

/** The pinned archives of the ARC-AGI-1 build: fchollet/ARC-AGI and victorvikram/ConceptARC. */
export const ARC_ARCHIVES: readonly DownloadSpec[] = [
  {
    file: `ARC-AGI-${ARC_AGI_COMMIT}.zip`,
    url: `https://github.com/fchollet/ARC-AGI/archive/${ARC_AGI_COMMIT}.zip`,
  },
  {
    file: `ConceptARC-${CONCEPTARC_COMMIT}.zip`,
    url: `https://github.com/victorvikram/ConceptARC/archive/${CONCEPTARC_COMMIT}.zip`,
  },
];

const SUDOKU_REV = "58942f96baeb572ca3127e2a9e9c70f330783d6b";
const MAZE_REV = "549754de3d67eebe57b6b22c7d226b9412d55b07";

/** Official CSVs (checksums from a third-party benchmark script, not verified by us). */
export const CSV_DOWNLOADS: Record<"sudoku" | "maze", readonly DownloadSpec[]> = {
  sudoku: [
    {
      file: "sudoku-extreme/train.csv",
      url:
        `https://huggingface.co/datasets/sapientinc/sudoku-extreme/resolve/${SUDOKU_REV}/train.csv`,
      sha256: "64b46674db0148e0d73a16346dadeb2b1c00824d3fca3f85b2ae7037f6b4b38e",
      sha256Unverified: true,
    },
    {
      file: "sudoku-extreme/test.csv",
      url:
        `https://huggingface.co/datasets/sapientinc/sudoku-extreme/resolve/${SUDOKU_REV}/test.csv`,
      sha256: "a2fd52aea23d331d5b4ee723c856236e838a9fb9a70e66f4e0e0cf26c338c6a8",
      sha256Unverified: true,
    },
  ],
  maze: [
    {
      file: "maze-30x30-hard-1k/train.csv",
      url:
        `https://huggingface.co/datasets/sapientinc/maze-30x30-hard-1k/resolve/${MAZE_REV}/train.csv`,
      sha256: "25f9e39b5aee16967da41ba63b2d1d75cf608c2360d8a1419d827f9859dbafa0",
      sha256Unverified: true,
    },
    {
      file: "maze-30x30-hard-1k/test.csv",
      url:
        `https://huggingface.co/datasets/sapientinc/maze-30x30-hard-1k/resolve/${MAZE_REV}/test.csv`,
      sha256: "5120d52088fb3f8036e62e90103808a79ba58847d8601f9451f40991b0903a62",
      sha256Unverified: true,
    },
  ],
};

/**
 * Downloads the official CSVs of `kind` into `cacheDir`, appending a source record for each to
 * `sources`; returns the folder they are in.
 */
export async function downloadCsvs(
  kind: keyof typeof CSV_DOWNLOADS,
  o: { cacheDir: string; progress: boolean; mirror?: string },
  sources: SourceRecord[],
): Promise<string | null> {
  let dir: string | null = null;
  for (const spec of CSV_DOWNLOADS[kind]) {
    const got = await download(spec, o.cacheDir, { progress: o.progress, mirror: o.mirror });
    sources.push({ kind: "download", location: got.url, sha256: got.sha256 });
    dir = got.path.replace(/\/[^/]*$/, "");
  }
  return dir;
}

/** Source records of a local folder's `train.csv` and `test.csv`. */
export async function localCsvSources(dir: string): Promise<SourceRecord[]> {
  const out: SourceRecord[] = [];
  for (const f of ["train.csv", "test.csv"]) {
    const location = `${dir}/${f}`;
    out.push({ kind: "local", location, sha256: await sha256File(location) });
  }
  return out;
}

/** Replaces the scheme and host of `url` with `mirror` (for mirrors and tests). */
export function mirrored(url: string, mirror: string | undefined): string {
  if (!mirror) return url;
  return mirror.replace(/\/+$/, "") + new URL(url).pathname;
}

/** Fetches `spec` into `cacheDir` (reusing a cached copy whose recorded checksum matches). */
export async function download(
  spec: DownloadSpec,
  cacheDir: string,
  opts: { progress?: boolean; mirror?: string } = {},
): Promise<{ path: string; sha256: string; url: string; cached: boolean }> {
  const path = `${cacheDir}/${spec.file}`;
  const url = mirrored(spec.url, opts.mirror);
  if (await exists(path) && await exists(`${path}.sha256`)) {
    const recorded = (await Deno.readTextFile(`${path}.sha256`)).trim().split(/\s+/)[0];
    if (recorded === await sha256File(path)) return { path, sha256: recorded, url, cached: true };
  }
  await Deno.mkdir(path.replace(/\/[^/]*$/, ""), { recursive: true });
  let response: Response;
  try {
    response = await fetch(url);
  } catch (e) {
    // a host the permissions leave out (--mirror, a redirect): say that, not "offline?"
    if (e instanceof Deno.errors.NotCapable) throw e;
    throw new Error(
      `download failed: ${url}: ${(e as Error).message} ` +
        `(offline? pass --source DIR with a local copy instead)`,
    );
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new Error(`download failed: ${url}: HTTP ${response.status} ${response.statusText}`);
  }
  const total = Number(response.headers.get("content-length") ?? 0);
  const bar = progressBar(`download ${spec.file}`, total > 0 ? total : 1, opts.progress ?? false);
  const tmp = `${path}.part-${Deno.pid}`;
  const hash = createHash("sha256");
  try {
    const f = await Deno.open(tmp, { write: true, create: true, truncate: true });
    try {
      for await (const chunk of response.body) {
        hash.update(chunk);
        let off = 0;
        while (off < chunk.length) off += await f.write(chunk.subarray(off));
        if (total > 0) bar.tick(chunk.length);
      }
    } finally {
      f.close();
      bar.stop();
    }
    const sha256 = hash.digest("hex");
    if (spec.sha256 && spec.sha256 !== sha256) {
      const msg = `${url}: SHA-256 ${sha256} differs from the expected ${spec.sha256}`;
      if (!spec.sha256Unverified) throw new Error(`download failed: ${msg}`);
      console.warn(`warning: ${msg} (the expected value is unverified)`);
    }
    await Deno.rename(tmp, path);
    await writeFileAtomic(`${path}.sha256`, `${sha256}  ${spec.file}\n`);
    return { path, sha256, url, cached: false };
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/**
 * Extracts a zip archive into `dest` (atomically; reused if present) and returns the folder to
 * read: the archive's single top-level folder when it has one.
 */
export async function extractZip(zipPath: string, dest: string): Promise<string> {
  if (!await exists(dest)) {
    let files: Record<string, Uint8Array>;
    try {
      files = unzipSync(await Deno.readFile(zipPath));
    } catch (e) {
      throw new SyntaxError(`${zipPath}: not a readable zip archive: ${(e as Error).message}`);
    }
    const dir = await AtomicDir.open(dest);
    try {
      for (const [name, bytes] of Object.entries(files)) {
        if (name.split("/").some((part) => part === "..") || name.startsWith("/")) {
          throw new RangeError(`${zipPath}: unsafe path in archive: ${name}`);
        }
        if (name.endsWith("/")) continue;
        const target = dir.file(name);
        await Deno.mkdir(target.replace(/\/[^/]*$/, ""), { recursive: true });
        await Deno.writeFile(target, bytes);
      }
      await dir.commit();
    } catch (e) {
      await dir.abort();
      throw e;
    }
  }
  const entries: Deno.DirEntry[] = [];
  for await (const e of Deno.readDir(dest)) entries.push(e);
  return entries.length === 1 && entries[0].isDirectory ? `${dest}/${entries[0].name}` : dest;
}

/** Downloads and extracts an archive; returns the folder to read and the archive checksum. */
export async function fetchArchive(
  spec: DownloadSpec,
  cacheDir: string,
  opts: { progress?: boolean; mirror?: string } = {},
): Promise<{ dir: string; sha256: string; url: string }> {
  const got = await download(spec, cacheDir, opts);
  // The folder name carries the checksum, so a changed archive is never read from a stale copy.
  const dir = await extractZip(
    got.path,
    `${got.path.replace(/\.zip$/, "")}-${got.sha256.slice(0, 12)}`,
  );
  return { dir, sha256: got.sha256, url: got.url };
}

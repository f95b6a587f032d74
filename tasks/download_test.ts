import assert from "node:assert/strict";
import { zipSync } from "fflate";
import { Rng } from "../engine/rng.ts";
import { ARC_AGI_COMMIT, CONCEPTARC_COMMIT, download } from "./download.ts";
import { sha256Hex } from "./io.ts";
import { main } from "./prepare.ts";
import { randomTaskJson } from "./testing.ts";

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

/** Fixture archives laid out like GitHub's archive of each pinned repository. */
function fixtureArchives(): Record<string, Uint8Array> {
  const rng = new Rng(11);
  const arc: Record<string, Uint8Array> = {};
  for (const subset of ["training", "evaluation"]) {
    for (let k = 0; k < 3; k++) {
      arc[`ARC-AGI-${ARC_AGI_COMMIT}/data/${subset}/${subset[0]}${k}aaaaaaa.json`] = enc(
        randomTaskJson(rng, 2, 1),
      );
    }
  }
  arc[`ARC-AGI-${ARC_AGI_COMMIT}/README.md`] = new TextEncoder().encode("fixture");
  const carc = {
    [`ConceptARC-${CONCEPTARC_COMMIT}/corpus/Copy/Copy1.json`]: enc(randomTaskJson(rng, 2, 3)),
    [`ConceptARC-${CONCEPTARC_COMMIT}/corpus/Copy/Copy2.json`]: enc(randomTaskJson(rng, 3, 3)),
  };
  return {
    [`/fchollet/ARC-AGI/archive/${ARC_AGI_COMMIT}.zip`]: zipSync(arc),
    [`/victorvikram/ConceptARC/archive/${CONCEPTARC_COMMIT}.zip`]: zipSync(carc),
  };
}

async function withServer(
  files: Record<string, Uint8Array>,
  fn: (base: string, hits: string[]) => Promise<void>,
) {
  const hits: string[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    hits.push(path);
    const body = files[path];
    return body
      ? new Response(body.slice().buffer as ArrayBuffer, {
        headers: { "content-length": String(body.length) },
      })
      : new Response("no", { status: 404 });
  });
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`, hits);
  } finally {
    await server.shutdown();
  }
}

Deno.test("prepare arc --download downloads, records checksums, extracts, and reuses the cache", async () => {
  const tmp = await Deno.makeTempDir();
  const files = fixtureArchives();
  try {
    await withServer(files, async (base, hits) => {
      const args = [
        "arc",
        "--download",
        "--mirror",
        base,
        "--cache",
        `${tmp}/cache`,
        "--max-aug",
        "3",
        "--no-progress",
      ];
      const m = await main([...args, "--out", `${tmp}/a`]);
      assert.deepEqual(m.sources.map((s) => s.kind), ["download", "download"]);
      const paths = Object.keys(files);
      assert.deepEqual(m.sources.map((s) => s.sha256), paths.map((p) => sha256Hex(files[p])));
      assert.equal(m.sources[0].location, base + paths[0]);
      assert.deepEqual([m.splits.train.groups, m.splits.test.groups], [3 + 3 + 2, 3]);
      const recorded = await Deno.readTextFile(`${tmp}/cache/ARC-AGI-${ARC_AGI_COMMIT}.zip.sha256`);
      assert.ok(recorded.startsWith(sha256Hex(files[paths[0]])));
      assert.equal(hits.length, 2);
      const again = await main([...args, "--out", `${tmp}/b`]);
      assert.equal(hits.length, 2, "cached archives were downloaded again");
      assert.equal(again.contentHash, m.contentHash);
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("download errors: HTTP 404 and an unreachable host (offline) say what to do", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    await withServer({}, async (base) => {
      await assert.rejects(
        () => download({ file: "x.zip", url: "https://example.org/x.zip" }, tmp, { mirror: base }),
        /HTTP 404/,
      );
    });
    // The server is shut down now: connecting fails like being offline.
    let closed = "";
    await withServer({}, (base) => Promise.resolve(void (closed = base)));
    await assert.rejects(
      () =>
        main([
          "arc",
          "--download",
          "--mirror",
          closed,
          "--cache",
          `${tmp}/cache`,
          "--out",
          `${tmp}/o`,
          "--no-progress",
        ]),
      (e: Error) => /download failed: .*offline\? pass --source DIR/.test(e.message),
    );
    await withServer({ "/x.zip": new Uint8Array([1, 2, 3]) }, async (base) => {
      await assert.rejects(
        () =>
          download(
            { file: "y.zip", url: "https://example.org/x.zip", sha256: "0".repeat(64) },
            tmp,
            { mirror: base },
          ),
        /SHA-256 [0-9a-f]{64} differs from the expected/,
      );
    });
    assert.deepEqual(
      [...Deno.readDirSync(tmp)].map((e) => e.name).filter((n) => n.includes(".part")),
      [],
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("CLI rejects bad arguments", async () => {
  await assert.rejects(() => main(["chess"]), /expected one of arc, sudoku, maze, got chess/);
  await assert.rejects(() => main(["arc", "--bogus"]), TypeError);
  await assert.rejects(
    () => main(["sudoku", "--train", "2.5"]),
    /--train: expected a non-negative integer/,
  );
  await assert.rejects(() => main(["maze", "--aug", "4"]), /must be 1 or 8/);
  await assert.rejects(
    () => main(["sudoku", "--size", "5", "--out", "/nonexistent/x"]),
    /side must be 4, 6 or 9/,
  );
});

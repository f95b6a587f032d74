import assert from "node:assert/strict";
import { WriteError } from "../engine/atomic_write.ts";
import { writeFileAtomic } from "./io.ts";

Deno.test("writeFileAtomic: a full disk names the file, keeps the previous version, removes the partial temporary", async () => {
  const dir = await Deno.makeTempDir({ prefix: "trm-io-full-" });
  try {
    const path = `${dir}/table.csv`;
    await writeFileAtomic(path, "old\n");
    let calls = 0;
    const full = async (f: Deno.FsFile, b: Uint8Array) => {
      if (calls++ === 0) return await f.write(b.subarray(0, 3));
      throw new Error("No space left on device (os error 28)");
    };
    await assert.rejects(writeFileAtomic(path, "new contents\n", { write: full }), (e: unknown) => {
      assert.ok(e instanceof WriteError, String(e));
      assert.ok(e.diskFull);
      assert.match(
        e.message,
        new RegExp(`^cannot write ${path}: No space left on device .*the disk is full`),
      );
      assert.match(e.message, new RegExp(`the previous ${path} is intact`));
      return true;
    });
    assert.equal(await Deno.readTextFile(path), "old\n");
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["table.csv"]);

    // A new file: nothing replaced, nothing left.
    await assert.rejects(
      writeFileAtomic(`${dir}/new.csv`, "x", {
        write: () => Promise.reject(new Error("Input/output error (os error 5)")),
      }),
      (e: unknown) => {
        assert.ok(e instanceof WriteError && !e.diskFull, String(e));
        assert.match(e.message, /new\.csv: Input\/output error .*nothing was replaced/);
        return true;
      },
    );
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["table.csv"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

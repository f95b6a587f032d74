import assert from "node:assert/strict";
import {
  acquireLock,
  folderLockPath,
  LockedError,
  pidAlive,
  removeStaleTemporaries,
  siblingLockPath,
} from "./lock.ts";

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = new Deno.Command("true", { stdout: "null", stderr: "null" }).spawn();
  await child.status;
  return child.pid;
}

function writeLock(path: string, pid: number, hostname = Deno.hostname()) {
  Deno.writeTextFileSync(
    path,
    JSON.stringify({ pid, hostname, startedAt: "2020-01-01T00:00:00Z", command: "deno task x" }),
  );
}

Deno.test("lock: exclusive; a live holder is refused naming pid and folder; a dead one is taken over", async () => {
  const dir = await Deno.makeTempDir({ prefix: "trm-lock-" });
  const sleeper = new Deno.Command("sleep", { args: ["60"] }).spawn();
  try {
    const path = folderLockPath(dir);
    assert.equal(path, `${dir}/.trm.lock`);
    assert.equal(siblingLockPath(`${dir}/data/`), `${dir}/data.trm.lock`);
    const lock = acquireLock(path, `run folder ${dir}`);
    const info = JSON.parse(Deno.readTextFileSync(path));
    assert.equal(info.pid, Deno.pid);
    assert.equal(info.hostname, Deno.hostname());
    assert.ok(!Number.isNaN(Date.parse(info.startedAt)), info.startedAt);
    // Held by this very process: refused as well.
    assert.throws(() => acquireLock(path, `run folder ${dir}`), (e: unknown) => {
      assert.ok(e instanceof LockedError, String(e));
      assert.match(e.message, new RegExp(`run folder ${dir} is in use by this process`));
      return true;
    });
    lock.release();
    lock.release(); // idempotent
    assert.ok(!(await Deno.stat(path).catch(() => null)), "released: file removed");

    // Another live process on this host.
    assert.ok(pidAlive(sleeper.pid));
    writeLock(path, sleeper.pid);
    assert.throws(
      () => acquireLock(path, `run folder ${dir}`, { warn: () => {} }),
      (e: unknown) => {
        assert.ok(e instanceof LockedError, String(e));
        assert.match(e.message, new RegExp(`run folder ${dir} is in use by pid ${sleeper.pid} `));
        assert.ok(!e.message.includes("\n"), "one line");
        return true;
      },
    );
    // Another host: cannot be checked, refused.
    writeLock(path, 1, "elsewhere.example");
    assert.throws(() => acquireLock(path, "x"), /pid 1 on host elsewhere\.example.*remove/);

    // A killed process that its parent has not reaped (a zombie) has exited: not alive. The
    // parent here is `sleep 5`, which never waits for the `sleep 60` the shell started.
    const parent = new Deno.Command("sh", {
      args: ["-c", "sleep 60 & echo $!; exec sleep 5"],
      stdout: "piped",
    }).spawn();
    const reader = parent.stdout.getReader();
    const zombie = Number(new TextDecoder().decode((await reader.read()).value).trim());
    reader.releaseLock();
    assert.ok(pidAlive(zombie));
    Deno.kill(zombie, "SIGKILL");
    await new Promise((r) => setTimeout(r, 200));
    const state = Deno.readTextFileSync(`/proc/${zombie}/stat`).replace(/^.*\) /s, "")[0];
    assert.equal(state, "Z");
    assert.ok(!pidAlive(zombie), "a zombie is not alive");
    parent.kill("SIGKILL");
    await parent.stdout.cancel();
    await parent.status;

    // A dead pid on this host: stale, taken over with a warning.
    const dead = await deadPid();
    assert.ok(!pidAlive(dead));
    writeLock(path, dead);
    const warnings: string[] = [];
    const taken = acquireLock(path, "x", { warn: (l) => warnings.push(l) });
    assert.equal(JSON.parse(Deno.readTextFileSync(path)).pid, Deno.pid);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], new RegExp(`stale lock ${path} of pid ${dead}`));
    taken.release();
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  } finally {
    sleeper.kill("SIGKILL");
    await sleeper.status;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("lock: removed when the holder is stopped by SIGTERM/SIGINT or dies of an uncaught error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "trm-lock-exit-" });
  const mod = new URL("./lock.ts", import.meta.url).href;
  try {
    for (const how of ["SIGTERM", "SIGINT", "throw", "reject", "exit"] as const) {
      const path = `${dir}/${how}.lock`;
      const code = `
        import { acquireLock } from "${mod}";
        acquireLock(${JSON.stringify(path)}, "test");
        console.log("locked");
        const how = ${JSON.stringify(how)};
        if (how === "throw") setTimeout(() => { throw new Error("boom"); }, 10);
        else if (how === "reject") Promise.reject(new Error("boom"));
        else if (how === "exit") Deno.exit(3);
        else setTimeout(() => {}, 60_000);
      `;
      const child = new Deno.Command(Deno.execPath(), {
        args: ["eval", "--no-check", code],
        stdout: "piped",
        stderr: "null",
      }).spawn();
      const reader = child.stdout.getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      assert.match(first, /locked/, how);
      if (how === "SIGTERM" || how === "SIGINT") {
        assert.ok(await Deno.stat(path), `${how}: held while running`);
        child.kill(how);
      }
      reader.releaseLock();
      await child.stdout.cancel();
      const status = await child.status;
      assert.notEqual(status.code, 0, how);
      if (how === "SIGTERM") assert.equal(status.code, 143);
      if (how === "SIGINT") assert.equal(status.code, 130);
      assert.ok(!(await Deno.stat(path).catch(() => null)), `${how}: lock file left behind`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("lock: removeStaleTemporaries removes the temporaries of other pids only", async () => {
  const dir = await Deno.makeTempDir({ prefix: "trm-lock-tmp-" });
  try {
    const names = [
      "checkpoint.next.safetensors.tmp-123", // engine/safetensors.ts
      "metrics.csv.tmp-45-lx3k9a", // tasks/io.ts writeFileAtomic
      `mine.json.tmp-${Deno.pid}-abc`, // this process's own: kept
      "checkpoint.safetensors", // not a temporary
      "notes.tmp-txt",
    ];
    for (const n of names) await Deno.writeTextFile(`${dir}/${n}`, "x");
    const removed = await removeStaleTemporaries(dir);
    assert.deepEqual(removed, [
      "checkpoint.next.safetensors.tmp-123",
      "metrics.csv.tmp-45-lx3k9a",
    ]);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
      "checkpoint.safetensors",
      `mine.json.tmp-${Deno.pid}-abc`,
      "notes.tmp-txt",
    ]);
    assert.deepEqual(await removeStaleTemporaries(`${dir}/missing`), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

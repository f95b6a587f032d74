/**
 * The command line: --help 0, misuse 2 (one line and the usage), pack → submit → list, a refusal
 * exit 1 with one line naming the field, render dispatched to render.ts.
 */
import assert from "node:assert/strict";
import { main } from "./cli.ts";
import { captureMain } from "../../engine/testing.ts";
import { editBundle, editJson, makeRun, removeTemporaries, tempDir } from "./testing.ts";

const root = await tempDir("lb-cli-");
const run = await makeRun(root, { task: "sudoku", right: 16 });

const quiet = (args: string[]) => captureMain(main, args);

Deno.test("cli: --help 0; misuse 2 with one line naming it", async () => {
  const help = await quiet(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.out[0], /^usage:\n {2}deno task leaderboard pack RUN/);
  for (
    const [args, msg] of [
      [["--definitely-not-a-flag"], /Unknown option/],
      [[], /first argument must be pack, submit, list or render: \(none\)/],
      [["publish"], /first argument must be/],
      [["pack"], /pack: expected one RUN, got 0/],
      [["submit", "a.zip", "--name", "x"], /submit: option --name does not apply/],
      [["list", "extra"], /list: unexpected extra/],
    ] as const
  ) {
    const r = await quiet([...args]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.err.join("\n")}`);
    assert.match(r.err[0].split("\n")[0], new RegExp(`^leaderboard: ${msg.source}`));
  }
});

Deno.test("cli: pack → submit → list; a refused bundle exits 1 with one line", async () => {
  const bundle = `${root}/b.zip`, db = `${root}/lb.sqlite`;
  const p = await quiet(["pack", run, "--out", bundle, "--name", "fixture run"]);
  assert.equal(p.code, 0, p.err.join("\n"));
  assert.match(p.out[0], /^packed sudoku\/trm-attn \(smoke\), seed 0, 1 prediction file/);
  const s = await quiet(["submit", bundle, "--db", db]);
  assert.equal(s.code, 0, s.err.join("\n"));
  assert.match(s.out.at(-1)!, /^accepted: #1 sudoku smoke trm-attn seeds 0: exact 25\.00 %/);
  const again = await quiet(["submit", bundle, "--db", db]);
  assert.equal(again.code, 1);
  assert.deepEqual(again.err, [
    "leaderboard submit: refused: bundle sha256: duplicate: this bundle is entry #1 already",
  ]);
  const bad = `${root}/bad.zip`;
  await Deno.writeFile(
    bad,
    editBundle(
      await Deno.readFile(bundle),
      (f) => editJson(f, "bundle.json", (v) => (v.preset = "paper-ish")),
      true,
    ),
  );
  const r = await quiet(["submit", bad, "--db", db]);
  assert.equal(r.code, 1);
  assert.equal(r.err.length, 1);
  assert.match(r.err[0], /^leaderboard submit: refused: bundle\.json preset: unknown scale preset/);
  const l = await quiet(["list", "--db", db]);
  assert.equal(l.code, 0);
  assert.match(
    l.out[0],
    /^#1 sudoku smoke trm-attn seeds 0: exact 25\.00 % \(mean\), \d+ params, commit [0-9a-f]{12}, "fixture run"$/,
  );
  assert.equal(l.out[1], `1 entry in ${db}`);
  const missing = await quiet(["submit", `${root}/none.zip`, "--db", db]);
  assert.equal(missing.code, 1);
  const noRun = await quiet(["pack", `${root}/none`, "--out", `${root}/x.zip`]);
  assert.equal(noRun.code, 1);
  assert.match(noRun.err[0], /^leaderboard pack: .*none: no such folder$/);
});

Deno.test("cli: render is dispatched to render.ts's renderCommand", async () => {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => lines.push(a.join(" "));
  try {
    assert.equal(await main(["render", "--help"]), 0);
  } finally {
    console.log = log;
  }
  assert.match(lines.join("\n"), /leaderboard render/);
});

Deno.test("(cleanup) temporary folders", removeTemporaries);

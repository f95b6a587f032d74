/**
 * The leaderboard page as a person's browser shows it: synthetic entries rendered to a temporary
 * folder, `index.html` opened from disk in headless Chromium, once for the DOM the browser built
 * (`--dump-dom`) and once for a screenshot (`--screenshot`, kept in the test's temporary folder
 * while it runs). Checked: the entries' names in rank order in each section, the scale labels,
 * the published rows marked "published, not re-run" and only in the paper section, a hostile
 * name shown as text (no script element in the DOM), the charts' <img> paths pointing at files
 * that exist, and a non-empty PNG of the window's size in which the charts' line colour appears
 * (the SVGs were loaded and drawn).
 *
 * Needs Chromium (Debian: `apt-get install -y chromium`; `TRM_CHROMIUM=/path` names another
 * binary). Without one the test is ignored and a SKIPPED line says why.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { inflateSync } from "node:zlib";
import type { Entry, LeaderboardTask } from "./entry.ts";
import { renderLeaderboard, writeSite } from "./render.ts";
import { PUBLISHED_MARK } from "./sections.ts";
import { SAMPLE_PUBLISHED, sampleEntry } from "./render_fixtures.ts";
import { readSwitch } from "../../engine/switches.ts";

const WIDTH = 1280, HEIGHT = 2000;
/** The chart colour of the second line (the study charts' red); the page's CSS never uses it. */
const LINE_RED = [0xd6, 0x27, 0x28];

function findChromium(): string | null {
  const explicit = readSwitch("TRM_CHROMIUM");
  if (explicit) return explicit;
  const dirs = (Deno.env.get("PATH") ?? "").split(":").filter(Boolean);
  for (const name of ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]) {
    for (const d of dirs) {
      try {
        if (Deno.statSync(join(d, name)).isFile) return join(d, name);
      } catch {
        // not here
      }
    }
  }
  return null;
}

const CHROMIUM = findChromium();
if (!CHROMIUM) {
  console.warn(
    "render_browser_test: SKIPPED: no chromium, chromium-browser or google-chrome on PATH " +
      "(Debian: apt-get install -y chromium; or TRM_CHROMIUM=/path/to/chrome): the leaderboard " +
      "page was NOT checked in a browser",
  );
}

function entry(
  task: LeaderboardTask,
  name: string,
  preset: string,
  values: number[],
  model = "trm-attn",
): Entry {
  const scale = preset === "paper" ? "paper" : `${preset} (reduced; NOT the paper's setting)`;
  return sampleEntry({ task, name, preset, scale, values, model, params: 6829058 });
}

const HOSTILE = `<script>document.title="pwned"</script>mallory`;

const ENTRIES: Entry[] = [
  entry("arc", "arc-third", "cpu-mini", [2, 3, 4]),
  entry("arc", HOSTILE, "cpu-mini", [10], "tr-mamba2attn"),
  entry("arc", "arc-first", "cpu-mini", [20, 25, 30], "tr-mamba2attn"),
  entry("arc", "arc-paper-run", "paper", [40]),
  entry("sudoku", "sudoku-low", "cpu-study", [24.8, 30, 19.6]),
  entry("sudoku", "sudoku-high", "cpu-study", [41.7, 50, 33.4], "tr-mamba2attn"),
  entry("maze", "maze-only", "smoke", [7]),
];

const PUBLISHED = SAMPLE_PUBLISHED;

/** Runs Chromium headless on `url` with `extra` flags; its stdout. */
async function chromium(url: string, profile: string, extra: string[]): Promise<string> {
  const cmd = new Deno.Command(CHROMIUM!, {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--no-first-run",
      "--no-default-browser-check",
      "--hide-scrollbars",
      `--user-data-dir=${profile}`,
      `--window-size=${WIDTH},${HEIGHT}`,
      ...extra,
      url,
    ],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  });
  const r = await cmd.output();
  const err = new TextDecoder().decode(r.stderr);
  assert.ok(r.success, `chromium ${extra.join(" ")} exited ${r.code}: ${err.slice(-2000)}`);
  return new TextDecoder().decode(r.stdout);
}

/** A PNG's size and RGBA pixels (8-bit RGB or RGBA, not interlaced: what Chromium writes). */
function decodePng(b: Uint8Array): { width: number; height: number; rgba: Uint8Array } {
  const sig = [137, 80, 78, 71, 13, 10, 26, 10];
  assert.ok(sig.every((v, i) => b[i] === v), "PNG signature");
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let width = 0, height = 0, colorType = 0;
  const idat: Uint8Array[] = [];
  for (let p = 8; p < b.length;) {
    const len = dv.getUint32(p), type = String.fromCharCode(...b.subarray(p + 4, p + 8));
    const data = b.subarray(p + 8, p + 8 + len);
    if (type === "IHDR") {
      width = dv.getUint32(p + 8);
      height = dv.getUint32(p + 12);
      assert.equal(data[8], 8, "bit depth 8");
      colorType = data[9];
      assert.ok(colorType === 2 || colorType === 6, `colour type ${colorType}`);
      assert.equal(data[12], 0, "not interlaced");
    } else if (type === "IDAT") idat.push(data);
    else if (type === "IEND") break;
    p += 12 + len;
  }
  const raw = new Uint8Array(inflateSync(Buffer.concat(idat)));
  const bpp = colorType === 6 ? 4 : 3, stride = width * bpp;
  const out = new Uint8Array(width * height * bpp);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)], src = y * (stride + 1) + 1, dst = y * stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? out[dst + x - bpp] : 0;
      const up = y > 0 ? out[dst - stride + x] : 0;
      const c = x >= bpp && y > 0 ? out[dst - stride + x - bpp] : 0;
      let v = raw[src + x];
      if (f === 1) v += a;
      else if (f === 2) v += up;
      else if (f === 3) v += (a + up) >> 1;
      else if (f === 4) {
        const p = a + up - c, pa = Math.abs(p - a), pb = Math.abs(p - up), pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? up : c;
      }
      out[dst + x] = v & 255;
    }
  }
  if (bpp === 4) return { width, height, rgba: out };
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0, j = 0; i < out.length; i += 3, j += 4) {
    rgba.set(out.subarray(i, i + 3), j);
    rgba[j + 3] = 255;
  }
  return { width, height, rgba };
}

const unescapeHtml = (s: string) =>
  s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&#39;/g, "'")
    .replace(/&nbsp;/g, "\u00a0").replace(/&amp;/g, "&");

/** The section with id `id` in the DOM dump. */
function section(dom: string, id: string): string {
  const m = dom.match(new RegExp(`<section [^>]*id="${id}"[^>]*>[\\s\\S]*?</section>`));
  assert.ok(m, `section ${id} missing from the DOM`);
  return m[0];
}

/** The names of a section's ranked rows, in DOM order. */
function namesIn(sec: string): string[] {
  return [...sec.matchAll(/<tr class="entry"[\s\S]*?<td class="name"[^>]*>([\s\S]*?)<\/td>/g)]
    .map((m) => unescapeHtml(m[1]));
}

Deno.test({
  name: "browser: headless Chromium shows the leaderboard page as intended",
  ignore: !CHROMIUM,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const t0 = performance.now();
    const dir = await Deno.makeTempDir({ prefix: "leaderboard_browser_" });
    try {
      const site = join(dir, "site");
      await writeSite(site, renderLeaderboard(ENTRIES, PUBLISHED));
      const url = new URL(`file://${join(site, "index.html")}`).href;
      const png = join(dir, "page.png");
      const [dom] = await Promise.all([
        chromium(url, join(dir, "profile-dom"), ["--dump-dom"]),
        chromium(url, join(dir, "profile-shot"), [`--screenshot=${png}`]),
      ]);
      const browserSeconds = (performance.now() - t0) / 1000;

      // What a person reads: names in rank order per section, scale labels, published marks.
      assert.ok(dom.includes("</html>"), "a whole document");
      assert.deepEqual(namesIn(section(dom, "arc-cpu-mini")), ["arc-first", HOSTILE, "arc-third"]);
      assert.deepEqual(namesIn(section(dom, "arc-paper")), ["arc-paper-run"]);
      assert.deepEqual(namesIn(section(dom, "sudoku-cpu-study")), ["sudoku-high", "sudoku-low"]);
      assert.deepEqual(namesIn(section(dom, "maze-smoke")), ["maze-only"]);
      for (const p of ["cpu-mini", "cpu-study", "smoke"]) {
        assert.ok(dom.includes(`${p} — reduced scale, NOT the paper's setting</h3>`), p);
      }
      assert.ok(dom.includes("paper — the paper's setting (full scale)</h3>"));
      for (const id of ["arc-paper", "sudoku-paper"]) {
        const marks = section(dom, id).match(
          new RegExp(`<tr class="published"[^>]*><td class="mark">${PUBLISHED_MARK}</td>`, "g"),
        );
        assert.equal(marks?.length, id === "arc-paper" ? 2 : 1, id);
        assert.ok(!/<tr class="published"[^>]*data-rank/.test(section(dom, id)), id);
      }
      for (const id of ["arc-cpu-mini", "sudoku-cpu-study", "maze-smoke"]) {
        assert.ok(!section(dom, id).includes(PUBLISHED_MARK), id);
      }
      // The hostile name is text: no script element was built, the title is untouched.
      assert.ok(!/<script/i.test(dom), "no <script> element in the DOM");
      assert.ok(dom.includes('&lt;script&gt;document.title="pwned"&lt;/script&gt;mallory'));
      assert.ok(dom.includes("<title>trm-bench leaderboard</title>"));

      // The charts: referenced relatively, and the files exist.
      const srcs = [...dom.matchAll(/<img [^>]*src="([^"]+)"/g)].map((m) => m[1]);
      assert.deepEqual(srcs.sort(), ["passk-arc-cpu-mini.svg", "passk-arc-paper.svg"]);
      for (const s of srcs) {
        assert.ok(!s.includes("/") && !s.includes(":"), `relative path ${s}`);
        const st = await Deno.stat(join(site, s));
        assert.ok(st.isFile && st.size > 500, s);
      }

      // The screenshot: a PNG of the window, with the charts' red line drawn in it.
      const bytes = await Deno.readFile(png);
      assert.ok(bytes.length > 10_000, `screenshot ${bytes.length} bytes`);
      const img = decodePng(bytes);
      assert.equal(img.width, WIDTH);
      assert.equal(img.height, HEIGHT);
      let red = 0, nonWhite = 0;
      for (let i = 0; i < img.rgba.length; i += 4) {
        const [r, g, b] = img.rgba.subarray(i, i + 3);
        if (r < 250 || g < 250 || b < 250) nonWhite++;
        if (
          Math.abs(r - LINE_RED[0]) <= 6 && Math.abs(g - LINE_RED[1]) <= 6 &&
          Math.abs(b - LINE_RED[2]) <= 6
        ) red++;
      }
      assert.ok(nonWhite > 50_000, `the page is drawn (${nonWhite} non-white pixels)`);
      assert.ok(red > 50, `the charts are drawn (${red} pixels of the red line)`);
      console.log(
        `render_browser_test: Chromium ${browserSeconds.toFixed(1)} s (DOM + screenshot, in ` +
          `parallel), ${((performance.now() - t0) / 1000).toFixed(1)} s in all; screenshot ` +
          `${bytes.length} bytes, ${red} red-line pixels`,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

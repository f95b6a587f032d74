/**
 * The fused CUDA row norms (norm_fused.cu: addRmsnorm, gatedRmsnorm and their backwards) WITHOUT
 * a GPU: the library's host entry points `trm_cuda_*_host` run the very block programs the GPU
 * runs, each block's threads one after another with barrier semantics, on host arrays. Checked
 * against the cpu backend (or, without the native library, the float64 ref backend) on seeded
 * inputs at awkward shapes: cols 1, 7, 64, 513, 1024 (below, at and above a block's 256 threads,
 * not multiples of 32), rows 1, 3 and 300 (more than one 256-row segment of the dweight sums),
 * 1, 2, 4 groups (and groups of 1 and of 171 columns), units past the 65535-block grid cap
 * (blocks taking several rows), z with |z| up to 100 (silu's exp guard).
 *
 * Each case runs with 256 threads per block in order and in reverse order (bitwise equal: a step
 * whose result depends on its threads' order has a race), with 37 threads (a partition that
 * divides nothing) and with the device's own choice (the unit's width rounded up to a multiple of
 * 32, at most 256). The backwards take the oracle's out / rstd as inputs, so each pass is checked
 * on its own. Also: ds = dy in place (bitwise the out-of-place result), rows = 0 and cols = 0
 * (no-ops; dweight zeroed), a group that does not divide cols (refused).
 *
 * Tolerances, per element, against the size of what was summed: |got − want| ≤ tol·bound + 1e-30,
 * bound = Σ|terms| of that output computed in float64 from the inputs (out, rstd: |want|; ds:
 * rstd·(|dy| + |out|·Σ|dy·out|/cols); dy, dz: the same with gw = dout·w and v, times |silu(z)| or
 * |y|·|silu'(z)|; dweight: Σ_r |dout·v|·rstd), so a result that cancels (cols 1: ds ≈ 0) is judged
 * by the rounding of its terms, not by its own tiny size. The kernels sum in f32 where the cpu
 * backend sums in double: per thread ⌈n/nt⌉ terms, a fold of ⌈nt/32⌉, then 32 — a chain of at most
 * n/nt + 40 additions, each off by ≤ u = 2⁻²⁴ relative to Σ|terms|. Row outputs: tol 64u (the
 * chain at n = 1024, nt = 37, plus the products and rsqrt); dweight, 256-row f32 segments then the
 * segments in order: 256u. Measured (logged per case): ≤ 10u for row outputs, ≤ 6u for dweight.
 * The 1e-30 floor covers denormals and the cpu's capped exp (its σ(−100) is e⁻⁸⁸-sized).
 * Planted bugs (checked by hand): a total that skips thread 31's partial fails at 1x64 (6·10⁴u);
 * the fold merged into the partial step (no barrier) fails "thread order changed it"; dweight
 * skipping its last segment fails at 300 rows.
 *
 * What this cannot show (device only; engine/backends/kernels_test.ts on a GPU): rsqrtf (≤ 2 ulp) where the host uses
 * 1/sqrtf, CUDA's expf vs glibc's, FMA contraction of the device code, the launch configuration
 * (threads, dynamic shared memory, grid) and __syncthreads itself (emulated here, not executed).
 */
import assert from "node:assert/strict";
import type { Buf } from "../../backend.ts";
import { Rng } from "../../rng.ts";
import { randomArray } from "../../testing.ts";
import { bitsEqual, hostOracle, hostSimTest, openCudaLibrary } from "./testing.ts";

const I64 = "i64" as const, F64 = "f64" as const, BUF = "buffer" as const;
const SYMBOLS = {
  trm_cuda_add_rmsnorm_host: {
    parameters: [I64, I64, BUF, BUF, F64, BUF, BUF, I64, I64],
    result: "i32",
  },
  trm_cuda_add_rmsnorm_backward_host: {
    parameters: [I64, I64, BUF, BUF, BUF, BUF, I64, I64],
    result: "i32",
  },
  trm_cuda_gated_rmsnorm_host: {
    parameters: [I64, I64, I64, BUF, BUF, BUF, F64, BUF, BUF, I64, I64],
    result: "i32",
  },
  trm_cuda_gated_rmsnorm_backward_host: {
    parameters: [I64, I64, I64, ...Array(8).fill(BUF), I64, I64],
    result: "i32",
  },
} as const;

const lib = openCudaLibrary(SYMBOLS, "norm_fused_test");
const { oracle, oracleName } = hostOracle();
const test = hostSimTest("cuda fused norms", lib, oracleName);
const EPS = 1e-6;
type Arrs = Record<string, Float32Array>;

/** Thread configurations [nt, reversed]: 0 threads means the device's choice. */
const RUNS = [[256, false], [256, true], [37, true], [0, false]] as const;

const nans = (n: number) => new Float32Array(n).fill(NaN);
const rngFor = (label: string) => new Rng(20261201).fork(`norm fused ${label}`);

/** Runs `fn` on the oracle with `inputs` uploaded and `outs` (name → length) allocated. */
function onOracle(
  inputs: Arrs,
  outs: Record<string, number>,
  fn: (b: Record<string, Buf>) => void,
) {
  const b: Record<string, Buf> = {};
  for (const [k, v] of Object.entries(inputs)) {
    b[k] = oracle.alloc("f32", v.length);
    oracle.upload(b[k], v);
  }
  for (const [k, n] of Object.entries(outs)) b[k] = oracle.alloc("f32", n);
  fn(b);
  const r: Arrs = {};
  for (const k of Object.keys(outs)) r[k] = Float32Array.from(oracle.download(b[k]));
  for (const v of Object.values(b)) oracle.free(v);
  return r;
}

const U = 2 ** -24; // f32 unit roundoff
/** Error budgets in units of u (see the header): row reductions, dweight's column sums. */
const TOL_ROW = 64 * U, TOL_COL = 256 * U;
const FLOOR = 1e-30; // below this, denormals and the cpu's capped exp (σ(−100) ≈ 6e−39) differ

/**
 * |got − want| ≤ tol·bound + FLOOR elementwise, where bound is Σ|terms| of each output (so a
 * result that cancels is judged against the size of what cancelled). Returns max err/bound.
 */
function within(
  msg: string,
  got: Float32Array,
  want: Float32Array,
  bound: Float64Array,
  tol: number,
) {
  let worst = 0, at = -1;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= tol * bound[i] + FLOOR)) {
      assert.fail(
        `${msg}: element ${i}: got ${got[i]}, want ${want[i]}, |err| ${err.toExponential(2)} > ` +
          `${(tol / U).toFixed(0)}u × bound ${bound[i].toExponential(2)}`,
      );
    }
    const e = err - FLOOR; // what the floor absorbed is not reported
    if (e > 0 && bound[i] > 0 && e / bound[i] > worst) worst = e / bound[i], at = i;
  }
  return at < 0 ? 0 : worst;
}

/**
 * The runs of `host` (one per RUNS entry) against `want[k]`, each within `tol[k]`·`bound[k]`
 * (within); 256 threads forwards and reversed bitwise equal. Reports the worst err/bound in u.
 */
function compareRuns(
  name: string,
  want: Arrs,
  bound: Record<string, Float64Array>,
  tol: Record<string, number>,
  host: (nt: number, rev: boolean) => Arrs,
  report: string[],
  runs: readonly (readonly [number, boolean])[] = RUNS,
) {
  const res = runs.map(([nt, rev]) => [nt, rev, host(nt, rev)] as const);
  for (const k of Object.keys(want)) {
    if (res.length > 1) {
      assert.ok(bitsEqual(res[0][2][k], res[1][2][k]), `${name} ${k}: thread order changed it`);
    }
    let worst = 0;
    for (const [nt, rev, got] of res) {
      const w = within(`${name} ${k} nt=${nt} rev=${rev}`, got[k], want[k], bound[k], tol[k]);
      worst = Math.max(worst, w);
    }
    report.push(`${k} ${(worst / U).toFixed(2)}u`);
  }
}

const abs64 = (a: Float32Array) => Float64Array.from(a, Math.abs);

/** compareRuns for a forward's out and rstd, each bounded by its own magnitude (one product). */
function compareForward(
  name: string,
  want: Arrs,
  host: (nt: number, rev: boolean) => Arrs,
  report: string[],
  runs: readonly (readonly [number, boolean])[],
) {
  const bound = { out: abs64(want.out), rstd: abs64(want.rstd) };
  const tol = { out: TOL_ROW, rstd: TOL_ROW };
  compareRuns(name, { out: want.out, rstd: want.rstd }, bound, tol, host, report, runs);
}

function checkAdd(rows: number, cols: number, runs: typeof RUNS | [[0, false]] = RUNS) {
  const rng = rngFor(`add ${rows} ${cols}`), n = rows * cols;
  const x = randomArray(rng, n, { std: 2 }), y = randomArray(rng, n, { std: 1 });
  const dy = randomArray(rng, n, { std: 1 });
  const want = onOracle({ x, y, dy }, { out: n, rstd: rows, ds: n }, (b) => {
    oracle.addRmsnorm(rows, cols, b.x, b.y, EPS, b.out, b.rstd);
    oracle.addRmsnormBackward(rows, cols, b.out, b.rstd, b.dy, b.ds);
  });
  // ds = rstd·(dy − out·k), k = Σ dy·out / cols: bound rstd·(|dy| + |out|·Σ|dy·out| / cols)
  const bds = new Float64Array(n);
  for (let r = 0; r < rows; r++) {
    let K = 0;
    for (let c = 0; c < cols; c++) K += Math.abs(dy[r * cols + c] * want.out[r * cols + c]);
    K /= cols;
    for (let c = 0, j = r * cols; c < cols; c++, j++) {
      bds[j] = want.rstd[r] * (Math.abs(dy[j]) + Math.abs(want.out[j]) * K);
    }
  }
  const L = lib!.symbols, R = BigInt(rows), C = BigInt(cols);
  const fwd = (nt: number, rev: boolean) => {
    const o = { out: nans(n), rstd: nans(rows) };
    const rc = L.trm_cuda_add_rmsnorm_host(
      R,
      C,
      x,
      y,
      EPS,
      o.out,
      o.rstd,
      BigInt(nt),
      rev ? 1n : 0n,
    );
    assert.equal(rc, 0);
    return o;
  };
  const bwd = (nt: number, rev: boolean, into = nans(n), from = dy) => {
    const rc = L.trm_cuda_add_rmsnorm_backward_host(
      ...[R, C, want.out, want.rstd, from, into, BigInt(nt), rev ? 1n : 0n] as const,
    );
    assert.equal(rc, 0);
    return { ds: into };
  };
  const name = `add ${rows}x${cols}`, report: string[] = [];
  compareForward(name, want, fwd, report, runs);
  compareRuns(name, { ds: want.ds }, { ds: bds }, { ds: TOL_ROW }, bwd, report, runs);
  // in place: ds = dy, bitwise the out-of-place result
  const inPlace = dy.slice();
  bwd(256, false, inPlace, inPlace);
  assert.ok(bitsEqual(inPlace, bwd(256, false).ds), `${name}: ds = dy in place differs`);
  console.log(`  ${name}: max |host − ${oracleName}| / bound: ${report.join(", ")}`);
}

function gatedInputs(rows: number, cols: number, G: number) {
  const rng = rngFor(`gated ${rows} ${cols} ${G}`), n = rows * cols;
  const z = randomArray(rng, n, { std: 2 });
  // exp guard: silu and silu' at |z| large (σ(−100) ≈ 4e−44, a denormal)
  [100, -100, 30, -30, 88, -88].forEach((v, i) => i < n && (z[(i * 7919) % n] = v));
  return {
    y: randomArray(rng, n, { std: 1 }),
    z,
    w: randomArray(rng, cols, { mean: 1, std: 0.5 }),
    dout: randomArray(rng, n, { std: 1 }),
  };
}

/** Bounds (Σ|terms|) of the gated backward's outputs, in float64 from the inputs and rstd. */
function gatedBounds(rows: number, cols: number, G: number, inp: Arrs, rstd: Float32Array) {
  const { y, z, w, dout } = inp, group = cols / G, n = rows * cols;
  const b = { dy: new Float64Array(n), dz: new Float64Array(n), dw: new Float64Array(cols) };
  const sig = (t: number) => 1 / (1 + Math.exp(-t));
  const v = (j: number) => y[j] * z[j] * sig(z[j]);
  for (let u = 0; u < rows * G; u++) {
    const j0 = Math.floor(u / G) * cols + (u % G) * group, w0 = (u % G) * group, rs = rstd[u];
    let K = 0;
    for (let c = 0; c < group; c++) K += Math.abs(dout[j0 + c] * w[w0 + c] * v(j0 + c));
    K /= group;
    for (let c = 0; c < group; c++) {
      const j = j0 + c, s = sig(z[j]);
      const m = rs * (Math.abs(dout[j] * w[w0 + c]) + Math.abs(v(j)) * rs * rs * K);
      b.dy[j] = m * Math.abs(z[j] * s);
      b.dz[j] = m * Math.abs(y[j]) * s * (1 + Math.abs(z[j]) * (1 - s));
      b.dw[w0 + c] += Math.abs(dout[j] * v(j)) * rs;
    }
  }
  return b;
}

function checkGated(
  rows: number,
  cols: number,
  G: number,
  runs: typeof RUNS | [[0, false]] = RUNS,
) {
  const group = cols / G, n = rows * cols, inp = gatedInputs(rows, cols, G);
  const { y, z, w, dout } = inp;
  const want = onOracle(
    { y, z, w, dout },
    { out: n, rstd: rows * G, dy: n, dz: n, dw: cols },
    (b) => {
      oracle.gatedRmsnorm(rows, cols, group, b.y, b.z, b.w, EPS, b.out, b.rstd);
      oracle.gatedRmsnormBackward(
        rows,
        cols,
        group,
        b.y,
        b.z,
        b.w,
        b.rstd,
        b.dout,
        b.dy,
        b.dz,
        b.dw,
      );
    },
  );
  const L = lib!.symbols, dims = [rows, cols, group].map(BigInt) as [bigint, bigint, bigint];
  const fwd = (nt: number, rev: boolean) => {
    const o = { out: nans(n), rstd: nans(rows * G) };
    const rc = L.trm_cuda_gated_rmsnorm_host(
      ...[...dims, y, z, w, EPS, o.out, o.rstd, BigInt(nt), rev ? 1n : 0n] as const,
    );
    assert.equal(rc, 0);
    return o;
  };
  const bwd = (nt: number, rev: boolean) => {
    const o = { dy: nans(n), dz: nans(n), dw: nans(cols) };
    const rc = L.trm_cuda_gated_rmsnorm_backward_host(
      ...[...dims, y, z, w, want.rstd, dout, o.dy, o.dz, o.dw, BigInt(nt), rev ? 1n : 0n] as const,
    );
    assert.equal(rc, 0);
    return o;
  };
  const name = `gated ${rows}x${cols} G=${G}`, report: string[] = [];
  compareForward(name, want, fwd, report, runs);
  const bb = gatedBounds(rows, cols, G, inp, want.rstd);
  const tb = { dy: TOL_ROW, dz: TOL_ROW, dw: TOL_COL };
  compareRuns(name, { dy: want.dy, dz: want.dz, dw: want.dw }, bb, tb, bwd, report, runs);
  console.log(`  ${name}: max |host − ${oracleName}| / bound: ${report.join(", ")}`);
}

test("addRmsnorm (+backward): cols 1…1024, rows 1, 3, 300; in place ds = dy", () => {
  for (const rows of [1, 3, 300]) for (const cols of [1, 7, 64, 513, 1024]) checkAdd(rows, cols);
});

test("gatedRmsnorm (+backward): 1, 2, 4 groups, groups of 1 and 171; 300 rows (2 segments)", () => {
  for (const rows of [1, 3, 300]) {
    for (const cols of [1, 7, 64, 513, 1024]) {
      for (const G of [1, 2, 4]) if (cols % G === 0) checkGated(rows, cols, G);
    }
    checkGated(rows, 7, 7); // groups of one column
    checkGated(rows, 513, 3); // groups of 171
  }
});

test("more units than the 65535-block grid: blocks loop over rows / (row, group) units", () => {
  checkAdd(70001, 3, [[0, false]]);
  checkGated(20001, 8, 4, [[0, false]]); // 80 004 units; dweight over 79 segments
});

test("empty inputs are no-ops (dweight zeroed at rows = 0); a bad group is refused", () => {
  const L = lib!.symbols, a = nans(8), b = nans(8), c = nans(8), dw = nans(8);
  assert.equal(L.trm_cuda_add_rmsnorm_host(0n, 8n, a, a, EPS, b, c, 256n, 0n), 0);
  assert.equal(L.trm_cuda_add_rmsnorm_host(4n, 0n, a, a, EPS, b, c, 256n, 0n), 0);
  assert.equal(L.trm_cuda_add_rmsnorm_backward_host(0n, 8n, a, a, a, b, 256n, 0n), 0);
  assert.equal(L.trm_cuda_gated_rmsnorm_host(0n, 8n, 4n, a, a, a, EPS, b, c, 256n, 0n), 0);
  assert.ok(b.every(Number.isNaN) && c.every(Number.isNaN), "an empty call wrote");
  assert.equal(
    L.trm_cuda_gated_rmsnorm_backward_host(3n, 0n, 1n, a, a, a, a, a, b, c, dw, 0n, 0n),
    0,
  );
  assert.ok(dw.every(Number.isNaN), "cols = 0 wrote dweight");
  assert.equal(
    L.trm_cuda_gated_rmsnorm_backward_host(0n, 8n, 4n, a, a, a, a, a, b, c, dw, 0n, 0n),
    0,
  );
  assert.deepEqual(Array.from(dw), new Array(8).fill(0));
  assert.ok(b.every(Number.isNaN) && c.every(Number.isNaN), "rows = 0 wrote dy / dz");
  assert.equal(L.trm_cuda_gated_rmsnorm_host(2n, 8n, 3n, a, a, a, EPS, b, c, 256n, 0n), 1);
  assert.equal(L.trm_cuda_gated_rmsnorm_host(2n, 8n, 0n, a, a, a, EPS, b, c, 256n, 0n), 1);
  assert.equal(L.trm_cuda_add_rmsnorm_host(2n, 4n, a, a, EPS, b, c, 1025n, 0n), 1);
});

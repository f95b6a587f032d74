/**
 * The backend contract: everything a compute backend must provide.
 *
 * Autograd, operators, models and optimisers call only what is listed here and never branch on
 * which backend runs them. The contract is shaped for a device backend (CUDA) as much as for the
 * host ones: buffers are opaque handles, every kernel takes explicit sizes and buffers, nothing in
 * a kernel reads values back to the host, and there are no per-element callbacks. Scalars passed
 * as arguments (learning rates, bias corrections, eps) are computed on the host from host state.
 *
 * Layout conventions, for every kernel:
 * - all matrices are row-major; "rows × cols" means `cols` is the fastest-moving index;
 * - a kernel writes (overwrites) its outputs unless its comment says "accumulates";
 * - outputs may not alias inputs unless the comment says "in place allowed";
 * - "f32" buffers hold floats (the `ref` backend may store them in float64 for gradient checks),
 *   "i32" buffers hold integer indices and labels.
 *
 * Backends: `ref` (pure TypeScript, the oracle), `cpu` (C + OpenBLAS over Deno FFI). A CUDA backend
 * implements the same interface.
 */

/** Element type of a buffer: float32 for compute, int32 for indices and labels. */
export type DType = "f32" | "i32";

/**
 * An opaque handle to backend memory. Host backends use typed arrays; a device backend uses its own
 * object. Only the backend that made a buffer may look inside it.
 */
export interface Buf {
  readonly length: number;
}

/** Host arrays accepted by `upload` and returned by `download`. */
export type HostArray = Float32Array | Float64Array | Int32Array;

/** Pointwise functions of `unary` / `unaryBackward`. softplus uses PyTorch's threshold 20. */
export type UnaryOp = "silu" | "softplus" | "exp" | "sigmoid";

/** The fixed list of kernels and buffer operations a backend implements. */
export interface Backend {
  /** Short name: "ref", "cpu", "cuda". */
  readonly name: string;
  /** Human-readable details (library paths, threads, precision) for provenance records. */
  readonly info: Record<string, string | number>;

  // ---------------------------------------------------------------- buffers
  /**
   * A new buffer of `n` elements, zero-filled unless `zero` is false (then its contents are
   * unspecified: the caller overwrites every element). Implementations may always zero.
   */
  alloc(dtype: DType, n: number, zero?: boolean): Buf;
  /**
   * Releases a buffer made by `alloc` (not a view). The caller guarantees nothing uses it
   * afterwards; a pooling backend may hand it out again. A no-op on plain host backends.
   */
  free(buf: Buf): void;
  /** A view of `n` elements of `buf` starting at element `offset`; shares memory, no copy. */
  view(buf: Buf, offset: number, n: number): Buf;
  /** Copies host data into `dst` (lengths must match). */
  upload(dst: Buf, src: ArrayLike<number>): void;
  /** Copies a buffer to a new host array (Float32Array/Float64Array for f32, Int32Array for i32). */
  download(src: Buf): HostArray;
  /** dst[0..n) = src[0..n). */
  copy(n: number, src: Buf, dst: Buf): void;
  /**
   * Strided 2-D copy: dst[r·ldd + c] = src[r·lds + c] for r < rows, c < cols (slicing and
   * concatenation along an inner axis; use views for the start offsets). lds = 0 broadcasts one
   * source row to every destination row.
   */
  copy2d(rows: number, cols: number, src: Buf, lds: number, dst: Buf, ldd: number): void;
  /** dst[0..n) = value. */
  fill(n: number, value: number, dst: Buf): void;
  /** Waits for queued work (device backends); host backends return at once. */
  sync(): void;

  // ---------------------------------------------------------------- GEMM
  /**
   * Batched row-major GEMM: for each i < batch,
   * C_i = alpha · op(A_i) · op(B_i) + beta · C_i, with op(A_i) of shape M × K and op(B_i) K × N.
   * A_i starts at element i·strideA of `a` (stride 0 shares one matrix), likewise B_i and C_i.
   * `lda`, `ldb`, `ldc` are the row strides of the stored (untransposed) matrices.
   * When beta is 0, C is not read (NaNs in C do not propagate).
   */
  gemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: Buf,
    lda: number,
    b: Buf,
    ldb: number,
    beta: number,
    c: Buf,
    ldc: number,
    batch: number,
    strideA: number,
    strideB: number,
    strideC: number,
  ): void;

  // ---------------------------------------------------------------- elementwise
  /** out = alpha·x + beta·y over n elements (in place allowed: out may be x or y). */
  axpby(n: number, alpha: number, x: Buf, beta: number, y: Buf, out: Buf): void;
  /** out = x ⊙ y over n elements (in place allowed). */
  mul(n: number, x: Buf, y: Buf, out: Buf): void;
  /** out[r, c] = x[r, c] + bias[c] (in place allowed for out = x). */
  addRowVector(rows: number, cols: number, x: Buf, bias: Buf, out: Buf): void;
  /** out[c] = Σ_r x[r, c] (the backward of `addRowVector` for the bias). */
  sumRows(rows: number, cols: number, x: Buf, out: Buf): void;
  /** out = f(x) over n elements (in place allowed). */
  unary(op: UnaryOp, n: number, x: Buf, out: Buf): void;
  /** dx = f'(x) ⊙ dy over n elements (in place allowed for dx = dy). */
  unaryBackward(op: UnaryOp, n: number, x: Buf, dy: Buf, dx: Buf): void;
  /** SwiGLU: gu is rows × 2·inter (gate | up); out[r, i] = silu(gate[r, i]) · up[r, i]. */
  swiglu(rows: number, inter: number, gu: Buf, out: Buf): void;
  /**
   * Backward of `swiglu`: dgu (rows × 2·inter) from gu and dy (rows × inter). With `out`, also
   * writes swiglu(gu) there, bit for bit what `swiglu` writes (one pass for a backward that
   * recomputes the forward's output instead of keeping it).
   */
  swigluBackward(
    rows: number,
    inter: number,
    gu: Buf,
    dy: Buf,
    dgu: Buf,
    out?: Buf | null,
  ): void;
  /** out[b, c, r] = x[b, r, c]: per-batch transpose of rows × cols matrices. */
  transpose(batch: number, rows: number, cols: number, x: Buf, out: Buf): void;
  /**
   * out = x rounded to the nearest bfloat16 value, ties to even (engine/bf16.ts `roundBf16`), over
   * n elements, kept in f32 storage: the engine's bf16 mode. NaN stays NaN, ±∞ stay, magnitudes at
   * or past the midpoint above bf16's largest finite value become ±∞ (in place allowed).
   */
  roundBf16(n: number, x: Buf, out: Buf): void;

  // ---------------------------------------------------------------- normalisation, softmax
  /**
   * RMSNorm over the last axis: rstd[r] = 1/√(mean_c x[r, c]² + eps) (accumulated in at least
   * f32), out[r, c] = x[r, c] · rstd[r] · (weight ? weight[c] : 1).
   */
  rmsnorm(
    rows: number,
    cols: number,
    x: Buf,
    weight: Buf | null,
    eps: number,
    out: Buf,
    rstd: Buf,
  ): void;
  /**
   * Backward of `rmsnorm` from the saved rstd: writes dx; when weight is given, writes
   * dweight[c] = Σ_r dy[r, c] · x[r, c] · rstd[r] (dweight must be given iff weight is).
   */
  rmsnormBackward(
    rows: number,
    cols: number,
    x: Buf,
    weight: Buf | null,
    rstd: Buf,
    dy: Buf,
    dx: Buf,
    dweight: Buf | null,
  ): void;
  /**
   * Fused residual + RMSNorm without weight (the post-norm sub-layer): s = x + y,
   * rstd[r] = 1/√(mean_c s[r, c]² + eps), out = s · rstd. The sum s is not stored.
   */
  addRmsnorm(rows: number, cols: number, x: Buf, y: Buf, eps: number, out: Buf, rstd: Buf): void;
  /**
   * Backward of `addRmsnorm` from its OUTPUT: ds = rstd · (dy − out · mean_c(dy ⊙ out)), the
   * gradient of both x and y (in place allowed for ds = dy).
   */
  addRmsnormBackward(rows: number, cols: number, out: Buf, rstd: Buf, dy: Buf, ds: Buf): void;
  /**
   * Gated RMSNorm (Mamba-2, norm_before_gate = false): each row of `cols` is cut into groups of
   * `group` columns; v = y ⊙ silu(z), rstd[r·G + g] = 1/√(mean over group g of v² + eps),
   * out[r, c] = v · rstd · weight[c] (G = cols / group). Neither v nor silu(z) is stored.
   */
  gatedRmsnorm(
    rows: number,
    cols: number,
    group: number,
    y: Buf,
    z: Buf,
    weight: Buf,
    eps: number,
    out: Buf,
    rstd: Buf,
  ): void;
  /**
   * Backward of `gatedRmsnorm` from its inputs and rstd: with gw = dout ⊙ weight,
   * dv = rstd · (gw − v · rstd² · mean_group(gw ⊙ v)); dy = dv ⊙ silu(z),
   * dz = dv ⊙ y ⊙ silu'(z); dweight[c] = Σ_r dout · v · rstd (written, not accumulated).
   */
  gatedRmsnormBackward(
    rows: number,
    cols: number,
    group: number,
    y: Buf,
    z: Buf,
    weight: Buf,
    rstd: Buf,
    dout: Buf,
    dy: Buf,
    dz: Buf,
    dweight: Buf,
  ): void;
  /** Row softmax: out[r, :] = softmax(x[r, :]) (max-subtracted). */
  softmax(rows: number, cols: number, x: Buf, out: Buf): void;
  /** Backward of `softmax` from its output y: dx = y ⊙ (dy − Σ_c dy·y). */
  softmaxBackward(rows: number, cols: number, y: Buf, dy: Buf, dx: Buf): void;

  // ---------------------------------------------------------------- embedding, positions
  /** out[i, :] = table[ids[i], :] for i < n; `ids` is i32, rows of width dim. */
  embedding(n: number, dim: number, ids: Buf, table: Buf, out: Buf): void;
  /**
   * Scatter-add backward of `embedding`: dtable[ids[i], :] += dy[i, :] (accumulates; repeated ids
   * sum). Deterministic: the summation order over i is ascending for every row.
   */
  embeddingBackward(n: number, dim: number, ids: Buf, dy: Buf, dtable: Buf): void;
  /**
   * Rotary embedding, rotate-half convention, over x viewed as [batch, seq, heads, headDim] where
   * consecutive tokens are `ldx` elements apart in x and `ldo` apart in out (head h of a token
   * starts at h·headDim). cos/sin are seq × headDim tables.
   * out = x·cos + rot(x)·sin, rot([a, b]) = [−b, a] over the two halves of a head;
   * with `inverse`, sin is negated (the exact inverse and the backward of the forward rotation).
   * In place allowed (out = x with ldo = ldx).
   */
  rope(
    batch: number,
    seq: number,
    heads: number,
    headDim: number,
    x: Buf,
    ldx: number,
    cos: Buf,
    sin: Buf,
    inverse: boolean,
    out: Buf,
    ldo: number,
  ): void;

  // ---------------------------------------------------------------- attention
  /**
   * Fused non-causal multi-head attention. q, k, v are viewed as [batch, seq, heads, headDim] with
   * consecutive tokens `ld` elements apart (so they can be views into a fused qkv buffer);
   * out is [batch, seq, heads·headDim] dense. o = softmax(scale · q kᵀ) v per (batch, head).
   * lse [batch, heads, seq] receives the log-sum-exp of each scaled score row, for the backward.
   * Implementations must not hold more than one head's seq × seq scores per thread.
   */
  attention(
    batch: number,
    seq: number,
    heads: number,
    headDim: number,
    scale: number,
    q: Buf,
    k: Buf,
    v: Buf,
    ld: number,
    out: Buf,
    lse: Buf,
  ): void;
  /**
   * Backward of `attention` from its saved out and lse: writes dq, dk, dv, laid out like q, k, v
   * (token stride `ld`; they may be views into one fused dqkv buffer). dout is dense like out.
   */
  attentionBackward(
    batch: number,
    seq: number,
    heads: number,
    headDim: number,
    scale: number,
    q: Buf,
    k: Buf,
    v: Buf,
    ld: number,
    out: Buf,
    lse: Buf,
    dout: Buf,
    dq: Buf,
    dk: Buf,
    dv: Buf,
  ): void;

  // ---------------------------------------------------------------- losses, reductions
  /**
   * Stable-max cross-entropy (TRM): s(x) = 1/(1−x) for x < 0, x+1 for x ≥ 0;
   * logp_i = log(s(x_i) / Σ_j s(x_j)). logits [batch·seq, vocab], labels i32 [batch·seq].
   * loss[b] = (Σ_t −logp_label over tokens with label ≠ ignore) / max(1, count of such tokens),
   * accumulated in float64.
   */
  stablemaxXent(
    batch: number,
    seq: number,
    vocab: number,
    logits: Buf,
    labels: Buf,
    ignoreLabel: number,
    loss: Buf,
  ): void;
  /** Backward of `stablemaxXent`: dlogits from dloss [batch] (no host read of dloss). */
  stablemaxXentBackward(
    batch: number,
    seq: number,
    vocab: number,
    logits: Buf,
    labels: Buf,
    ignoreLabel: number,
    dloss: Buf,
    dlogits: Buf,
  ): void;
  /** out[i] = BCE-with-logits(x[i], target[i]) = max(x,0) − x·t + log(1 + e^(−|x|)). */
  bceWithLogits(n: number, x: Buf, target: Buf, out: Buf): void;
  /** dx[i] = (σ(x[i]) − target[i]) · dy[i]. */
  bceWithLogitsBackward(n: number, x: Buf, target: Buf, dy: Buf, dx: Buf): void;
  /** out[0] = Σ x over n elements, accumulated in float64. */
  sum(n: number, x: Buf, out: Buf): void;
  /** out[r] (i32) = index of the first maximum of x[r, :]. */
  argmax(rows: number, cols: number, x: Buf, out: Buf): void;

  // ---------------------------------------------------------------- optimisers
  /**
   * AdamATan2 (TRM / adam-atan2 fused kernel), per element, in this order:
   * p ← p·(1 − lr·wd); m ← m + (1−β1)(g − m); v ← v + (1−β2)(g² − v);
   * p ← p − (lr / bc1) · atan2(m, √v / √bc2), with bc1 = 1 − β1^t, bc2 = 1 − β2^t.
   */
  adamAtan2(
    n: number,
    p: Buf,
    g: Buf,
    m: Buf,
    v: Buf,
    lr: number,
    wd: number,
    beta1: number,
    beta2: number,
    bc1: number,
    bc2: number,
  ): void;
  /**
   * Sparse sign-SGD with decoupled decay on selected table rows: for i < n with r = ids[i],
   * table[r, :] ← table[r, :]·(1 − lr·wd) − lr·sign(grads[i, :]). ids must be distinct.
   */
  signSgdRows(
    n: number,
    dim: number,
    ids: Buf,
    grads: Buf,
    table: Buf,
    lr: number,
    wd: number,
  ): void;
  /** EMA: shadow ← decay·shadow + (1 − decay)·p. */
  ema(n: number, shadow: Buf, p: Buf, decay: number): void;

  // ---------------------------------------------------------------- Mamba-2
  /**
   * Causal depthwise conv1d over a channels-last sequence (Mamba-2's conv; its SiLU is a separate
   * `unary`). x, out [batch, seq, ch]; w [ch, k] (PyTorch's [ch, 1, k]); bias [ch]:
   * out[b, t, c] = bias[c] + Σ_{j<k} w[c, j] · x[b, t − k + 1 + j, c], with x = 0 before t = 0.
   * Tap k−1 multiplies the current token (PyTorch's cross-correlation with padding k−1, cut to
   * the first seq outputs). Accumulated in at least f32.
   */
  conv1dCausal(
    batch: number,
    seq: number,
    ch: number,
    k: number,
    x: Buf,
    w: Buf,
    bias: Buf,
    out: Buf,
  ): void;
  /**
   * Backward of `conv1dCausal`: writes dx [batch, seq, ch],
   * dw[c, j] = Σ_{b,t} dy[b, t, c] · x[b, t − k + 1 + j, c] and dbias[c] = Σ_{b,t} dy[b, t, c].
   * Deterministic (fixed summation order).
   */
  conv1dCausalBackward(
    batch: number,
    seq: number,
    ch: number,
    k: number,
    x: Buf,
    w: Buf,
    dy: Buf,
    dx: Buf,
    dw: Buf,
    dbias: Buf,
  ): void;
  /**
   * Mamba-2's selective scan (SSD; Dao & Gu 2024, arXiv:2405.21060), per batch b and head h with
   * group g = floor(h / (heads/groups)):
   *   a_t = dt[b,t,h]·A[h];  S_t = exp(a_t)·S_{t−1} + dt[b,t,h] · x[b,t,h,:] ⊗ Bm[b,t,g,:];
   *   y[b,t,h,:] = S_t · Cm[b,t,g,:] + D[h] · x[b,t,h,:];  S_{−1} = init[b,h] (or 0 when null).
   * Buffers: x, y [batch, seq, heads, headDim]; dt [batch, seq, heads] (Δ after softplus, ≥ 0);
   * A [heads] (< 0); Bm, Cm [batch, seq, groups, dState]; D [heads]; init, finalState
   * [batch, heads, headDim, dState] (finalState = S_{seq−1}; not written when null).
   * `dims.chunk` is the chunk length of a chunked implementation (the result does not depend on
   * it beyond rounding; `ref` runs the plain recurrence and ignores it). Implementations keep
   * Δ, the decay cumsums, every exp and the states in at least f32 and never form exp(Λ_i − Λ_j)
   * as a product of two exps (exp(−Λ_j) overflows f32 once the cumulative decay passes about −88).
   */
  ssdScan(
    dims: SsdDims,
    x: Buf,
    dt: Buf,
    A: Buf,
    Bm: Buf,
    Cm: Buf,
    D: Buf,
    init: Buf | null,
    y: Buf,
    finalState: Buf | null,
  ): void;
  /**
   * Backward of `ssdScan` for the loss ⟨dy, y⟩ + ⟨dFinal, finalState⟩ (dFinal null: 0). Recomputes
   * what it needs from the inputs (a chunked implementation keeps only chunk-boundary states).
   * Writes dx, ddt, dBm, dCm (shaped like x, dt, Bm, Cm), dA [heads] and dD [heads] (summed over
   * batch and time), and dInit (like init) when given. dA and dD are reduced in a fixed order, so
   * the result is deterministic.
   */
  ssdScanBackward(
    dims: SsdDims,
    x: Buf,
    dt: Buf,
    A: Buf,
    Bm: Buf,
    Cm: Buf,
    D: Buf,
    init: Buf | null,
    dy: Buf,
    dFinal: Buf | null,
    dx: Buf,
    ddt: Buf,
    dA: Buf,
    dBm: Buf,
    dCm: Buf,
    dD: Buf,
    dInit: Buf | null,
  ): void;
}

/** Sizes of `ssdScan` / `ssdScanBackward`; heads must be a multiple of groups, chunk ≥ 1. */
export interface SsdDims {
  batch: number;
  seq: number;
  heads: number;
  headDim: number;
  groups: number;
  dState: number;
  chunk: number;
}

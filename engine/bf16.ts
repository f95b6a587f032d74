/**
 * bfloat16 arithmetic of the engine's bf16 mode: round-to-nearest-even from any float to the
 * nearest bf16 value (8 significant bits, f32's exponent range: normals from 2⁻¹²⁶, subnormals down
 * to 2⁻¹³³, largest finite (2 − 2⁻⁷)·2¹²⁷), and the precision scope the autograd consults.
 *
 * Values stay in f32 storage: a "bf16 tensor" is an f32 tensor every element of which is a bf16
 * value (its low 16 bits zero). Products of two bf16 values are exact in f32, so an f32 GEMM over
 * bf16 operands is the "bf16 operands, f32 accumulation" GEMM of PyTorch/oneDNN, whose result is
 * then rounded to bf16 like every other activation.
 *
 * The rounding points of bf16 mode (ModelConfig.dtype "bf16"; recursion/act.ts `inModelPrecision`
 * and engine/autograd.ts `record`), following the official TRM's `forward_dtype: bfloat16`:
 * - weights (every trainable tensor) and the H/L init states: rounded for the step, restored to
 *   their f32 masters after backward; the optimiser (AdamATan2) and the EMA stay f32;
 * - the puzzle-embedding rows entering the recursion and the carried states z_H, z_L: bf16;
 * - every output an op computes in the recursion and the heads (GEMMs, attention, norms, SwiGLU,
 *   Mamba-2's pieces, residual adds, logits, the halting logit): rounded once, after the op
 *   computed it in f32 (or f64 on ref). Views are not rounded (they share their base's values);
 * - the gradient reaching a bf16 op and every gradient its backward returns (weights' included,
 *   accumulated across uses in f32 as PyTorch accumulates into an f32 leaf): bf16;
 * - f32: the stable-max cross-entropy, the halting BCE and their gradients up to the logits.
 * Where we differ from PyTorch: a fused kernel (residual add + RMSNorm, the SSD scan, attention)
 * rounds only its final output, where PyTorch may round an intermediate (e.g. the residual sum
 * before the norm); a gradient summed over several uses of one bf16 activation is summed in f32
 * and rounded once, where PyTorch rounds after each addition.
 */

/** Largest finite bf16 value, (2 − 2⁻⁷)·2¹²⁷. */
export const BF16_MAX = (2 - 2 ** -7) * 2 ** 127;
/** Unit roundoff of bf16 (half an ulp at 1): 2⁻⁸. */
export const BF16_UNIT_ROUNDOFF = 2 ** -8;

/**
 * The bf16 value nearest to `v`, ties to even (NaN stays NaN, ±∞ and ±0 stay; values at or past
 * the midpoint above BF16_MAX become ±∞). Exact for every double (no double rounding through f32).
 */
export function roundBf16(v: number): number {
  if (v === 0 || !Number.isFinite(v)) return v;
  const a = Math.abs(v);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  // The quantum of a's binade: 8 significant bits, or the subnormal quantum 2⁻¹³³.
  const q = Math.max(e - 7, -133);
  const scaled = a * 2 ** -q; // exact: a power-of-two scaling of a double in range
  const lo = Math.floor(scaled), frac = scaled - lo;
  const m = frac > 0.5 ? lo + 1 : frac < 0.5 ? lo : lo % 2 === 0 ? lo : lo + 1;
  const r = m * 2 ** q;
  const out = r > BF16_MAX ? Infinity : r;
  return v < 0 ? -out : out;
}

/** Whether `v` (read as f32) is a bf16 value: its f32 bit pattern's low 16 bits are zero. */
export function isBf16(v: number): boolean {
  if (Number.isNaN(v)) return true;
  const f = new Float32Array([v]);
  if (f[0] !== v) return false;
  return (new Uint32Array(f.buffer)[0] & 0xffff) === 0;
}

/** The precision activations are stored in while a scope runs. */
export type Precision = "f32" | "bf16";

let precision: Precision = "f32";

/** The current activation precision (engine/autograd.ts `record` rounds outputs under "bf16"). */
export function currentPrecision(): Precision {
  return precision;
}

/** Runs `fn` with activations stored in `p` (restores the previous precision, also on throw). */
export function withPrecision<T>(p: Precision, fn: () => T): T {
  const prev = precision;
  precision = p;
  try {
    return fn();
  } finally {
    precision = prev;
  }
}

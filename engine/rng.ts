/**
 * The engine's one random number generator, passed explicitly to everything that draws.
 *
 * Generator: xoshiro128** (Blackman & Vigna), four 32-bit words of state, 32-bit outputs; it uses
 * only 32-bit integer operations, which JavaScript does fast (`Math.imul`, `>>> 0`). The state is
 * filled from a 64-bit key by splitmix64, so nearby seeds (0, 1, 2) give unrelated streams.
 *
 * Every `Rng` also carries its 64-bit key, from which `fork(label)` derives child streams: a child
 * depends only on the parent's key and the label, never on how many numbers the parent has drawn,
 * and forking does not advance the parent. Subsystems therefore get the same stream whatever order
 * they are set up in.
 *
 * @example
 * ```ts
 * import { Rng } from "./rng.ts";
 * const rng = new Rng(42);
 * const data = rng.fork("data"); // independent of how much `rng` is used
 * const x = rng.normal();
 * const saved = rng.state();
 * const resumed = Rng.fromState(saved); // continues exactly where `rng` is
 * ```
 */

const MASK64 = (1n << 64n) - 1n;
const GOLDEN64 = 0x9e3779b97f4a7c15n;
const TWO_POW_32 = 4294967296;
const TWO_POW_53 = 9007199254740992;

/** A checkpointable snapshot of an `Rng`; plain JSON. */
export interface RngState {
  /** The 64-bit fork key as 16 lowercase hex digits. */
  key: string;
  /** The four xoshiro128** state words, each an unsigned 32-bit integer, not all zero. */
  words: [number, number, number, number];
  /** The cached second value of the last polar-method pair, or null when none is cached. */
  spare: number | null;
}

/** The splitmix64 output function applied to a 64-bit value (a bijective mixer). */
function mix64(z: bigint): bigint {
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

/**
 * One step of splitmix64: advances `state` by the golden gamma and returns the mixed output and
 * the new state. Exported for its known-answer test.
 */
export function splitmix64(state: bigint): { value: bigint; state: bigint } {
  const next = (state + GOLDEN64) & MASK64;
  return { value: mix64(next), state: next };
}

/** FNV-1a 64 of the label's UTF-8 bytes, with a type tag so that fork(1) and fork("1") differ. */
function hashLabel(label: string | number): bigint {
  const text = typeof label === "number" ? `n:${label}` : `s:${label}`;
  let h = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(text)) {
    h = ((h ^ BigInt(byte)) * 0x100000001b3n) & MASK64;
  }
  return h;
}

function seedToKey(seed: number | bigint): bigint {
  if (typeof seed === "number") {
    if (!Number.isSafeInteger(seed)) {
      throw new RangeError(`Rng: seed must be a safe integer or a bigint: ${seed}`);
    }
    return BigInt.asUintN(64, BigInt(seed));
  }
  if (typeof seed === "bigint") return BigInt.asUintN(64, seed);
  throw new TypeError(`Rng: seed must be a number or a bigint: ${typeof seed}`);
}

function rotl32(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** Seeded xoshiro128** generator with forking and exact checkpoint/resume. */
export class Rng {
  #key: bigint;
  #s0 = 0;
  #s1 = 0;
  #s2 = 0;
  #s3 = 0;
  /** Second value of the last polar-method pair; part of the state so resume is exact. */
  #spare: number | null = null;

  /** Seeds from a safe integer or a bigint; both are reduced modulo 2^64 (so -1 ≡ 2^64 − 1). */
  constructor(seed: number | bigint) {
    this.#key = seedToKey(seed);
    this.#seedWords(this.#key);
  }

  #seedWords(key: bigint): void {
    const a = splitmix64(key);
    const b = splitmix64(a.state);
    this.#s0 = Number(a.value & 0xffffffffn);
    this.#s1 = Number(a.value >> 32n);
    this.#s2 = Number(b.value & 0xffffffffn);
    this.#s3 = Number(b.value >> 32n);
    // splitmix64 is a bijection of its counter, so two consecutive outputs both being zero cannot
    // happen; the all-zero state (a fixed point of xoshiro) is still guarded for clarity.
    if ((this.#s0 | this.#s1 | this.#s2 | this.#s3) === 0) this.#s0 = 1;
  }

  /** Next raw output: an unsigned 32-bit integer. */
  nextU32(): number {
    const s0 = this.#s0, s1 = this.#s1;
    let s2 = this.#s2, s3 = this.#s3;
    const result = Math.imul(rotl32(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = (s1 << 9) >>> 0;
    s2 = (s2 ^ s0) >>> 0;
    s3 = (s3 ^ s1) >>> 0;
    this.#s1 = (s1 ^ s2) >>> 0;
    this.#s0 = (s0 ^ s3) >>> 0;
    this.#s2 = (s2 ^ t) >>> 0;
    this.#s3 = rotl32(s3, 11);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits (two raw draws). */
  uniform(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / TWO_POW_53;
  }

  /**
   * Unbiased integer in [0, n) for a safe integer 1 ≤ n ≤ 2^53, by rejection: draws falling in the
   * incomplete last block of the 2^32 (or 2^53) range are redrawn.
   */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_POW_53) {
      throw new RangeError(`Rng.int: n must be an integer in [1, 2^53]: ${n}`);
    }
    if (n <= TWO_POW_32) {
      const limit = TWO_POW_32 - (TWO_POW_32 % n);
      for (;;) {
        const x = this.nextU32();
        if (x < limit) return x % n;
      }
    }
    const limit = TWO_POW_53 - (TWO_POW_53 % n);
    for (;;) {
      const x = (this.nextU32() >>> 11) * TWO_POW_32 + this.nextU32();
      if (x < limit) return x % n;
    }
  }

  /**
   * Standard normal by Marsaglia's polar method. Each accepted pair yields two independent values;
   * the second is cached and returned by the next call (the cache is part of `state()`).
   */
  normal(): number {
    if (this.#spare !== null) {
      const v = this.#spare;
      this.#spare = null;
      return v;
    }
    for (;;) {
      const u = 2 * this.uniform() - 1;
      const v = 2 * this.uniform() - 1;
      const s = u * u + v * v;
      if (s > 0 && s < 1) {
        const f = Math.sqrt((-2 * Math.log(s)) / s);
        this.#spare = v * f;
        return u * f;
      }
    }
  }

  /** Shuffles `array` in place (Fisher–Yates, from the end) and returns it. */
  shuffle<A extends { length: number; [index: number]: unknown }>(array: A): A {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = array[i];
      array[i] = array[j];
      array[j] = tmp;
    }
    return array;
  }

  /** A uniformly random permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) {
      throw new RangeError(`Rng.permutation: n must be an integer in [0, 2^31): ${n}`);
    }
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle(p);
  }

  /**
   * A child generator determined by this generator's key and `label` only: the same label always
   * gives the same child, and this generator is not advanced. Use distinct labels for distinct
   * streams (e.g. `fork(\`epoch-${i}\`)`); numbers and strings are different labels.
   */
  fork(label: string | number): Rng {
    if (typeof label !== "string" && !(typeof label === "number" && Number.isFinite(label))) {
      throw new TypeError(`Rng.fork: label must be a string or a finite number: ${String(label)}`);
    }
    const childKey = mix64((this.#key ^ mix64(hashLabel(label))) & MASK64);
    return new Rng(childKey);
  }

  /** Fills `arr` with uniform values in [lo, hi) (values that round up to hi are redrawn). */
  fillUniform<A extends Float32Array | Float64Array>(arr: A, lo = 0, hi = 1): A {
    if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo < hi)) {
      throw new RangeError(`Rng.fillUniform: need finite lo < hi: lo=${lo}, hi=${hi}`);
    }
    const width = hi - lo;
    for (let i = 0; i < arr.length; i++) {
      do arr[i] = lo + width * this.uniform(); while (arr[i] >= hi);
    }
    return arr;
  }

  /** Fills `arr` with normal values of the given mean and standard deviation. */
  fillNormal<A extends Float32Array | Float64Array>(arr: A, mean = 0, std = 1): A {
    if (!(Number.isFinite(mean) && Number.isFinite(std) && std >= 0)) {
      throw new RangeError(`Rng.fillNormal: need finite mean and std >= 0: ${mean}, ${std}`);
    }
    for (let i = 0; i < arr.length; i++) arr[i] = mean + std * this.normal();
    return arr;
  }

  /** A JSON-serialisable snapshot; `Rng.fromState` continues the exact same sequence. */
  state(): RngState {
    return {
      key: this.#key.toString(16).padStart(16, "0"),
      words: [this.#s0, this.#s1, this.#s2, this.#s3],
      spare: this.#spare,
    };
  }

  /** Restores a generator from `state()`, validating every field. */
  static fromState(state: RngState): Rng {
    if (typeof state !== "object" || state === null) {
      throw new TypeError(`Rng.fromState: state must be an object: ${String(state)}`);
    }
    if (typeof state.key !== "string" || !/^[0-9a-f]{16}$/.test(state.key)) {
      throw new TypeError(`Rng.fromState: key must be 16 lowercase hex digits: ${state.key}`);
    }
    const w = state.words;
    if (
      !Array.isArray(w) || w.length !== 4 ||
      !w.every((x) => Number.isInteger(x) && x >= 0 && x < TWO_POW_32)
    ) {
      throw new TypeError(`Rng.fromState: words must be four u32 values: ${JSON.stringify(w)}`);
    }
    if (w.every((x) => x === 0)) {
      throw new RangeError("Rng.fromState: words are all zero (not a valid xoshiro128** state)");
    }
    if (
      state.spare !== null && !(typeof state.spare === "number" && Number.isFinite(state.spare))
    ) {
      throw new TypeError(`Rng.fromState: spare must be null or a finite number: ${state.spare}`);
    }
    const rng = new Rng(BigInt("0x" + state.key));
    [rng.#s0, rng.#s1, rng.#s2, rng.#s3] = w;
    rng.#spare = state.spare;
    return rng;
  }
}

/**
 * Every environment switch of the project (`TRM_*`) in one typed table: what it does, which values
 * it takes, and one reader that checks them. Code reads a switch only through `readSwitch`; the
 * switches set in a process are part of every result's provenance (`switchesLabel`, recorded by
 * engine/provenance.ts `machineInfo` in each run's config.json and each benchmark's CSV).
 *
 * @example
 * ```ts
 * import { readSwitch, switchesLabel } from "./switches.ts";
 * readSwitch("TRM_THREADS"); // "2", or undefined when unset; a RangeError for "two"
 * switchesLabel(); // "TRM_THREADS=2" (or "none")
 * ```
 */

/** How a switch's value is checked. */
export type SwitchKind =
  | { kind: "enum"; values: readonly string[] }
  | { kind: "int"; min: number }
  | { kind: "text" };

export interface SwitchSpec {
  /** What it changes, in words (its default included). */
  doc: string;
  check: SwitchKind;
  /** Whether it can change a result's numbers (not only speed, paths or process handling). */
  numeric: boolean;
}

const oneOf = (...values: string[]): SwitchKind => ({ kind: "enum", values });
const int = (min: number): SwitchKind => ({ kind: "int", min });
const text: SwitchKind = { kind: "text" };

export const SWITCHES = {
  TRM_BACKEND: {
    doc: "backend when none is named: auto (cpu when the native library builds, else ref; " +
      "never cuda; default), ref, cpu, cuda",
    check: oneOf("auto", "ref", "cpu", "cuda"),
    numeric: true,
  },
  TRM_THREADS: {
    doc: "CPU threads of the cpu backend (default: every core); rounding of OpenBLAS depends on it",
    check: int(1),
    numeric: true,
  },
  TRM_BLAS: {
    doc: "GEMM of the cpu backend: auto (measured once per machine; default), own, openblas",
    check: oneOf("auto", "own", "openblas"),
    numeric: true,
  },
  TRM_OPENBLAS: {
    doc: "path of the OpenBLAS library (default libopenblas.so.0, then libopenblas.so)",
    check: text,
    numeric: true,
  },
  TRM_POOL: {
    doc: "0 turns the buffer pool off (default on)",
    check: oneOf("0", "1"),
    numeric: false,
  },
  TRM_POOL_MAX_BYTES: {
    doc: "bytes the buffer pool may cache (default 4 GiB)",
    check: int(0),
    numeric: false,
  },
  TRM_POOL_POISON: {
    doc: "1 fills recycled buffers with NaN (finds reads of released memory; default off)",
    check: oneOf("0", "1"),
    numeric: false,
  },
  TRM_DIE_WITH_PARENT: {
    doc: "1/0 forces on/off that a long-running command dies with its parent (default: on " +
      "under deno task)",
    check: oneOf("0", "1"),
    numeric: false,
  },
  TRM_NATIVE_BUILD_DIR: {
    doc: "folder of the compiled C library (default engine/native/build/)",
    check: text,
    numeric: false,
  },
  TRM_CUDA_BUILD_DIR: {
    doc: "folder of the compiled CUDA library (default engine/backends/cuda/build/)",
    check: text,
    numeric: false,
  },
  TRM_CUDA_ARCH: {
    doc: "compute capabilities the CUDA library is built for, comma-separated (default 90)",
    check: text,
    numeric: false,
  },
  TRM_CUDA_DEVICE: {
    doc: "CUDA device index (default 0)",
    check: int(0),
    numeric: false,
  },
  TRM_CUDA_GEMM: {
    doc: "GEMM of the cuda backend: auto (cuBLAS when it loads; default), cublas, own",
    check: oneOf("auto", "cublas", "own"),
    numeric: true,
  },
  TRM_CUDA_MATH: {
    doc: "GEMM multiply precision of the cuda backend: f32 (default), tf32, bf16",
    check: oneOf("f32", "tf32", "bf16"),
    numeric: true,
  },
  TRM_CUBLAS: {
    doc: "path of the cuBLAS library (default: the usual CUDA install locations)",
    check: text,
    numeric: true,
  },
  TRM_TEST_BACKEND: {
    doc: "the fast backend the operator tests compare with ref: cpu (default) or cuda",
    check: oneOf("cpu", "cuda"),
    numeric: false,
  },
  TRM_PAPER_PIPELINE_TEST: {
    doc: "1 adds the ARC cases of the paper-pipeline test (CI sets it; default off)",
    check: oneOf("0", "1"),
    numeric: false,
  },
  TRM_PAPER_PIPELINE_BACKEND: {
    doc: "backend of the paper-pipeline test (default auto)",
    check: oneOf("auto", "ref", "cpu", "cuda"),
    numeric: false,
  },
  TRM_SLOW_TESTS: {
    doc: "1 runs the slow cases of the ARC build test (default off)",
    check: oneOf("0", "1"),
    numeric: false,
  },
  TRM_GOLDEN_DIR: {
    doc: "folder of the PyTorch golden fixtures (default fixtures/trm)",
    check: text,
    numeric: false,
  },
  TRM_CHROMIUM: {
    doc: "the browser the leaderboard page test drives (default: chromium, chromium-browser or " +
      "google-chrome on PATH; the test is skipped, loudly, without one)",
    check: text,
    numeric: false,
  },
  TRM_LEADERBOARD_TEST_PAUSE: {
    doc: "test only: seconds a leaderboard submission pauses inside its transaction (the kill " +
      "test; default 0)",
    check: int(1),
    numeric: false,
  },
} as const satisfies Record<string, SwitchSpec>;

export type SwitchName = keyof typeof SWITCHES;
export const SWITCH_NAMES = Object.keys(SWITCHES) as SwitchName[];

/**
 * An environment variable's value, or undefined when unset or when this process may not read it
 * (no --allow-env for it: asking would prompt or throw).
 */
export function envIfAllowed(name: string): string | undefined {
  try {
    if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
      return undefined;
    }
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** Why `value` is not a valid value of `name`, or null when it is. */
export function switchError(name: SwitchName, value: string): string | null {
  const c: SwitchKind = SWITCHES[name].check;
  if (c.kind === "enum" && !c.values.includes(value)) {
    return `${name} must be one of ${c.values.join(", ")}: got ${JSON.stringify(value)}`;
  }
  if (c.kind === "int" && !(/^\d+$/.test(value) && Number(value) >= c.min)) {
    return `${name} must be an integer ≥ ${c.min}: got ${JSON.stringify(value)}`;
  }
  if (c.kind === "text" && value.trim() === "") return `${name} is set but empty`;
  return null;
}

/**
 * The value of a switch (undefined when unset or empty-and-free-text); a RangeError naming the
 * switch and its allowed values when the value is not one of them.
 */
export function readSwitch(name: SwitchName): string | undefined {
  const v = envIfAllowed(name);
  if (v === undefined || v === "") return undefined;
  const err = switchError(name, v);
  if (err) throw new RangeError(err);
  return v;
}

/** An integer switch's value as a number (undefined when unset). */
export function readIntSwitch(name: SwitchName): number | undefined {
  const v = readSwitch(name);
  return v === undefined ? undefined : Number(v);
}

/** The switches set in this process, name → value, in table order. */
export function switchesSet(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of SWITCH_NAMES) {
    const v = envIfAllowed(n);
    if (v !== undefined && v !== "") out[n] = v;
  }
  return out;
}

/** The switches set, as one provenance string ("TRM_THREADS=1 TRM_BLAS=own"), or "none". */
export function switchesLabel(): string {
  const s = Object.entries(switchesSet()).map(([k, v]) => `${k}=${v}`);
  return s.length ? s.join(" ") : "none";
}

/**
 * TRM_* variables in the environment that are not switches (a typo reads as "unset" otherwise);
 * empty when this process may not list its environment.
 */
export function unknownSwitches(): string[] {
  try {
    return Object.keys(Deno.env.toObject())
      .filter((k) => k.startsWith("TRM_") && !(k in SWITCHES)).sort();
  } catch {
    return [];
  }
}

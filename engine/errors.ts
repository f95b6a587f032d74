/**
 * Error classes of the engine. Shape and dtype mismatches are `TypeError`s and sizes out of range
 * are `RangeError`s (built-in classes chosen by meaning); messages say what failed, then the state
 * after a colon, e.g. `matmul: inner dimensions differ: [4, 3] x [5, 2]`.
 */

/**
 * A native library could not be built or loaded; `reason` says why, `fix` how to fix it, and
 * `what` names the backend in the message.
 */
export class NativeUnavailableError extends Error {
  constructor(readonly reason: string, readonly fix: string, what = "native cpu backend") {
    super(`${what} unavailable: ${reason} (fix: ${fix})`);
    this.name = "NativeUnavailableError";
  }
}

/** A native or device call reported failure: names the call and our call site. */
export class KernelError extends Error {
  constructor(call: string, detail: string) {
    super(`${call} failed: ${detail}`);
    this.name = "KernelError";
  }
}

/**
 * An allocation failed for lack of memory (e.g. cudaMalloc's cudaErrorMemoryAllocation). The
 * caching allocator (`backends/pool.ts`) empties its cache and retries once on this error.
 */
export class OutOfMemoryError extends KernelError {
  constructor(call: string, detail: string, readonly bytes: number) {
    super(call, detail);
    this.name = "OutOfMemoryError";
  }
}

/** Formats a shape for error messages: [2, 3, 4]. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

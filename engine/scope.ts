/**
 * Disposal scopes: `scoped(fn)` releases every tensor created while `fn` runs, except what it
 * returns, as soon as it returns — instead of leaving them to the garbage collector. With the
 * caching allocator (backends/pool.ts) their buffers are reused at once, which is what keeps TRM's
 * no-gradient recursion cycles (most of its compute) free of allocation cost.
 *
 * Only safe where nothing else keeps a reference to the intermediates: use it under `noGrad` (a
 * recorded graph references its intermediates until backward). Long-lived tensors created inside a
 * scope (caches, tables) must be created inside `untracked`.
 */
import type { Tensor } from "./tensor.ts";

const stack: Tensor[][] = [];

/** Called by the Tensor constructor for every tensor that owns its buffer. */
export function trackTensor(t: Tensor): void {
  if (stack.length) stack[stack.length - 1].push(t);
}

/** Runs `fn` and disposes the tensors it created, except those in its result. */
export function scoped<T extends Tensor | Tensor[] | Record<string, Tensor>>(fn: () => T): T {
  stack.push([]);
  let created: Tensor[];
  let result: T;
  try {
    result = fn();
  } finally {
    created = stack.pop()!;
  }
  const keep = new Set<Tensor>();
  const bases = (t: Tensor) => keep.add(t.base ?? t);
  if (Array.isArray(result)) result.forEach(bases);
  else if ((result as Tensor).buf !== undefined) bases(result as Tensor);
  else Object.values(result as Record<string, Tensor>).forEach(bases);
  for (const t of created) {
    if (keep.has(t)) {
      // A kept tensor belongs to the enclosing scope now.
      trackTensor(t);
    } else t.dispose();
  }
  return result;
}

/** Runs `fn` with tracking suspended: what it creates outlives any enclosing scope. */
export function untracked<T>(fn: () => T): T {
  const saved = stack.splice(0, stack.length);
  try {
    return fn();
  } finally {
    stack.push(...saved);
  }
}

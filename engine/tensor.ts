/**
 * Tensor: a shape, a dtype and a backend buffer, plus the autograd links.
 *
 * Tensors are dense and row-major; `reshape` and `detach` share the buffer. Compute is float32
 * ("f32"), indices and labels are int32 ("i32").
 */
import type { Backend, Buf, DType, HostArray } from "./backend.ts";
import { fmtShape } from "./errors.ts";
import { trackTensor } from "./scope.ts";

/** A recorded operation: its inputs and the rule mapping the output gradient to input gradients. */
export interface Node {
  readonly op: string;
  readonly inputs: readonly Tensor[];
  /** Gradients for each input (null where an input needs none). */
  backward(grad: Tensor): (Tensor | null)[];
  /**
   * Recorded in bf16 mode (engine/bf16.ts): the gradient reaching this node and the gradients its
   * rule returns are rounded to bf16, as PyTorch keeps the gradients of bf16 tensors in bf16.
   */
  readonly bf16?: boolean;
}

/** Number of elements of a shape; throws RangeError for negative or fractional dims. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new RangeError(`bad shape: ${fmtShape(shape)}`);
    n *= d;
  }
  return n;
}

export class Tensor {
  /** Gradient accumulated by `backward` (leaf tensors with requiresGrad). */
  grad: Tensor | null = null;
  /** The operation that produced this tensor, when recorded with gradients enabled. */
  node: Node | null = null;
  readonly size: number;

  constructor(
    readonly backend: Backend,
    readonly buf: Buf,
    readonly shape: readonly number[],
    readonly dtype: DType = "f32",
    public requiresGrad = false,
    /** The tensor owning `buf` when this one is a view of it (reshape, detach); null = owner. */
    readonly base: Tensor | null = null,
  ) {
    this.size = numel(shape);
    if (buf.length < this.size) {
      throw new RangeError(`tensor: buffer of ${buf.length} too short for ${fmtShape(shape)}`);
    }
    if (requiresGrad && dtype !== "f32") {
      throw new TypeError(`tensor: only f32 tensors can require grad: got ${dtype}`);
    }
    if (base === null) trackTensor(this);
  }

  get rank(): number {
    return this.shape.length;
  }

  /** Copies the data to a new host array. */
  toArray(): HostArray {
    const host = this.backend.download(this.buf);
    return host.length === this.size ? host : host.subarray(0, this.size);
  }

  /** Plain JS numbers (tests, small outputs). */
  toList(): number[] {
    return Array.from(this.toArray());
  }

  /** The single value of a one-element tensor (a host read: not for the hot path). */
  item(): number {
    if (this.size !== 1) throw new TypeError(`item: tensor has ${this.size} elements`);
    return this.toArray()[0];
  }

  /** Same data, no autograd history (a view: shares the buffer). */
  detach(): Tensor {
    return this.view(this.shape);
  }

  /** A tensor sharing this one's buffer, with another shape of the same size (no autograd). */
  view(shape: readonly number[]): Tensor {
    return new Tensor(this.backend, this.buf, [...shape], this.dtype, false, this.base ?? this);
  }

  /**
   * Releases the buffer now (to a pooling or device backend) instead of waiting for the garbage
   * collector. Nothing may use this tensor or any view of it afterwards. A no-op on views and
   * on a tensor already disposed.
   */
  dispose(): void {
    if (this.base === null && !this.#disposed) this.backend.free(this.buf);
    this.#disposed = true;
  }

  #disposed = false;

  toString(): string {
    return `Tensor(${fmtShape(this.shape)}, ${this.dtype}, ${this.backend.name})`;
  }
}

/** A tensor from host data. */
export function tensor(
  backend: Backend,
  data: ArrayLike<number>,
  shape: readonly number[],
  opts: { dtype?: DType; requiresGrad?: boolean } = {},
): Tensor {
  const dtype = opts.dtype ?? "f32";
  const n = numel(shape);
  if (data.length !== n) {
    throw new TypeError(`tensor: ${data.length} values for shape ${fmtShape(shape)}`);
  }
  const buf = backend.alloc(dtype, n);
  backend.upload(buf, data);
  return new Tensor(backend, buf, [...shape], dtype, opts.requiresGrad ?? false);
}

/** A zero-filled tensor. */
export function zeros(
  backend: Backend,
  shape: readonly number[],
  opts: { dtype?: DType; requiresGrad?: boolean } = {},
): Tensor {
  const dtype = opts.dtype ?? "f32";
  return new Tensor(
    backend,
    backend.alloc(dtype, numel(shape)),
    [...shape],
    dtype,
    opts.requiresGrad ?? false,
  );
}

/** A tensor whose contents are unspecified: for outputs that a kernel overwrites entirely. */
export function empty(
  backend: Backend,
  shape: readonly number[],
  dtype: DType = "f32",
): Tensor {
  return new Tensor(backend, backend.alloc(dtype, numel(shape), false), [...shape], dtype, false);
}

/** A tensor filled with one value. */
export function full(backend: Backend, shape: readonly number[], value: number): Tensor {
  const t = zeros(backend, shape);
  backend.fill(t.size, value, t.buf);
  return t;
}

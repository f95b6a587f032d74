import assert from "node:assert/strict";
import { createRefBackend } from "./ref/mod.ts";
import { withPool } from "./pool.ts";
import type { Backend, Buf, DType } from "../backend.ts";
import { OutOfMemoryError } from "../errors.ts";
import { backward, zeroGrad } from "../autograd.ts";
import { linear, rmsnorm, silu } from "../ops.ts";
import { attention, ropeTables, sum } from "../ops_nn.ts";
import { tensor } from "../tensor.ts";
import { Rng } from "../rng.ts";

Deno.test("pool: freed buffers are reused by dtype and length, zeroed on request", () => {
  const be = withPool(createRefBackend());
  const a = be.alloc("f32", 8);
  be.upload(a, [1, 2, 3, 4, 5, 6, 7, 8]);
  be.free(a);
  const b = be.alloc("f32", 8);
  assert.equal(b, a, "same buffer handed out again");
  assert.deepEqual(Array.from(be.download(b)), [0, 0, 0, 0, 0, 0, 0, 0], "zeroed by default");
  be.upload(b, [9, 9, 9, 9, 9, 9, 9, 9]);
  be.free(b);
  const c = be.alloc("f32", 8, false);
  assert.equal(c, a);
  assert.equal(be.download(c)[0], 9, "zero=false leaves contents alone");
  assert.notEqual(be.alloc("i32", 8), a, "dtype is part of the key");
  assert.notEqual(be.alloc("f32", 7), a, "length is part of the key");
  assert.deepEqual(be.poolStats().hits, 2);
});

Deno.test("pool: views are never pooled, double free throws, maxBytes bounds the cache", () => {
  const be = withPool(createRefBackend(), { maxBytes: 64 });
  const a = be.alloc("f32", 16);
  be.free(be.view(a, 4, 4));
  assert.equal(be.poolStats().pooledBytes, 0);
  be.free(a);
  assert.throws(() => be.free(a), /twice/);
  const big = be.alloc("f32", 100);
  be.free(big);
  assert.equal(be.poolStats().pooledBytes, 64, "over the bound: dropped, not kept");
});

Deno.test("pool: a view covering a whole host buffer is not an owner (never pooled)", () => {
  const be = withPool(createRefBackend());
  const a = be.alloc("f32", 4);
  be.upload(a, [1, 2, 3, 4]);
  be.free(be.view(a, 0, 4)); // a distinct typed array over a's memory
  assert.equal(be.poolStats().pooledBuffers, 0);
  assert.notEqual(be.alloc("f32", 4), a, "a is still live: not handed out");
  assert.deepEqual(Array.from(be.download(a)), [1, 2, 3, 4]);
});

/**
 * A fake device backend: opaque handles (not typed arrays), views as separate handles, a memory
 * capacity whose overflow throws OutOfMemoryError, and a log of what reached its free.
 */
class FakeBuf implements Buf {
  released = false;
  constructor(
    readonly data: Float32Array | Int32Array,
    readonly dtype: DType,
    readonly isView: boolean,
  ) {}
  get length() {
    return this.data.length;
  }
}
function fakeDevice(capacityBytes: number) {
  const ref = createRefBackend();
  const state = { liveBytes: 0, allocs: 0, released: 0, viewFrees: 0, fills: 0 };
  const fb = (b: Buf) => {
    if (!(b instanceof FakeBuf)) throw new TypeError("not a fake buffer");
    if (b.released) throw new Error("use after release");
    return b;
  };
  const be: Backend = {
    ...ref,
    name: "fake",
    info: { backend: "fake" },
    alloc(dtype, n, _zero = true) {
      if (state.liveBytes + n * 4 > capacityBytes) {
        throw new OutOfMemoryError("fake alloc", `out of memory (${n * 4} bytes)`, n * 4);
      }
      state.liveBytes += n * 4;
      state.allocs++;
      // "device memory" is not zeroed unless asked: poison it to catch a missing fill
      const data = dtype === "i32" ? new Int32Array(n).fill(-1) : new Float32Array(n).fill(NaN);
      if (_zero) data.fill(0);
      return new FakeBuf(data, dtype, false);
    },
    free(b) {
      const f = fb(b);
      if (f.isView) return void state.viewFrees++;
      f.released = true;
      state.liveBytes -= f.length * 4;
      state.released++;
    },
    view(b, offset, n) {
      const f = fb(b);
      return new FakeBuf(f.data.subarray(offset, offset + n), f.dtype, true);
    },
    fill(n, value, dst) {
      state.fills++;
      fb(dst).data.fill(value, 0, n);
    },
    upload(dst, src) {
      fb(dst).data.set(Array.from(src));
    },
    download(src) {
      return fb(src).data.slice();
    },
  };
  return { be, state };
}

Deno.test("pool over a device-like backend: reuse, zero-fill by fill, views go to the backend", () => {
  const { be: dev, state } = fakeDevice(1 << 20);
  const be = withPool(dev);
  const a = be.alloc("f32", 8, false);
  be.upload(a, [1, 2, 3, 4, 5, 6, 7, 8]);
  const v = be.view(a, 0, 8);
  be.free(v);
  assert.equal(state.viewFrees, 1, "the view reached the backend's free");
  assert.equal(be.poolStats().pooledBuffers, 0, "the view was not pooled");
  be.free(a);
  assert.equal(state.released, 0, "pooled, not released");
  assert.deepEqual(be.poolStats(), {
    hits: 0,
    misses: 1,
    pooledBytes: 32,
    pooledBuffers: 1,
    dropped: 0,
    oomRetries: 0,
    liveBytes: 0,
    peakLiveBytes: 32,
  });
  const b = be.alloc("f32", 8);
  assert.equal(b, a);
  assert.equal(state.fills, 1, "zeroed with the backend's fill kernel");
  assert.deepEqual(Array.from(be.download(b)), new Array(8).fill(0));
  be.free(b);
  const c = be.alloc("f32", 8, false);
  assert.equal(c, a);
  assert.equal(state.fills, 1, "zero=false: no fill");
  be.free(c);
  assert.notEqual(be.alloc("i32", 8), c, "dtype is part of the key");
  assert.equal(state.allocs, 2);
  assert.equal(be.alloc("f32", 8), c);
  be.free(c);
  assert.throws(() => be.free(c), /twice/);
});

Deno.test("pool over a device-like backend: maxBytes drops to the backend; emptyPool releases all", () => {
  const { be: dev, state } = fakeDevice(1 << 20);
  const be = withPool(dev, { maxBytes: 100 });
  const bufs = [be.alloc("f32", 10), be.alloc("f32", 10), be.alloc("f32", 10)];
  for (const b of bufs) be.free(b);
  const st = be.poolStats();
  assert.equal(st.pooledBytes, 80);
  assert.equal(st.dropped, 1, "the third (40 B over the 100 B cap) went back to the backend");
  assert.equal(state.released, 1);
  assert.equal(be.emptyPool(), 80);
  assert.equal(state.released, 3);
  assert.equal(state.liveBytes, 0);
  assert.equal(be.poolStats().pooledBuffers, 0);
  assert.throws(
    () => be.free(bufs[0]),
    /use after release/,
    "a released owner is not pooled again",
  );
});

Deno.test("pool over a device-like backend: out of memory empties the pool and retries once", () => {
  const { be: dev, state } = fakeDevice(400);
  const be = withPool(dev);
  const a = be.alloc("f32", 50), b = be.alloc("f32", 40); // 200 + 160 of 400 bytes
  be.free(a);
  be.free(b);
  // 60 floats = 240 B: fits only once the 360 cached bytes are released
  const c = be.alloc("f32", 60);
  assert.equal(c.length, 60);
  assert.equal(be.poolStats().oomRetries, 1);
  assert.equal(state.released, 2);
  assert.equal(be.poolStats().pooledBytes, 0);
  // nothing cached: an allocation that cannot fit raises at once
  assert.throws(() => be.alloc("f32", 100), OutOfMemoryError);
  assert.equal(be.poolStats().oomRetries, 1);
  // cached, but still too big after emptying: the retry's error is raised
  be.free(c);
  assert.throws(() => be.alloc("f32", 101), OutOfMemoryError);
  assert.equal(be.poolStats().oomRetries, 2);
  assert.equal(state.liveBytes, 0);
});

/** A few training steps touching every op that releases internals; returns the losses. */
function steps(be: ReturnType<typeof createRefBackend>, n: number): number[] {
  const rng = new Rng(3);
  const r = (shape: number[], g = false) =>
    tensor(be, Array.from({ length: shape.reduce((a, b) => a * b) }, () => rng.normal()), shape, {
      requiresGrad: g,
    });
  const w1 = r([24, 8], true), w2 = r([8, 8], true);
  const rope = ropeTables(be, 5, 4);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = r([2, 5, 8]);
    const h = rmsnorm(attention(linear(x, w1), 2, { rope }));
    const loss = sum(silu(linear(h, w2)));
    zeroGrad([w1, w2]);
    backward(loss);
    be.axpby(w1.size, 1, w1.buf, -0.01, w1.grad!.buf, w1.buf);
    be.axpby(w2.size, 1, w2.buf, -0.01, w2.grad!.buf, w2.buf);
    out.push(loss.item());
  }
  return out;
}

Deno.test("pool: recycling buffers changes no result (bitwise)", () => {
  const pooled = withPool(createRefBackend());
  assert.deepEqual(steps(pooled, 6), steps(createRefBackend(), 6));
  assert.ok(pooled.poolStats().hits > 0, "the pool was exercised");
});

Deno.test("pool: live bytes count what is handed out and not freed; the peak resets", () => {
  const be = withPool(createRefBackend({ precision: "f32" }), { maxBytes: 32 });
  const a = be.alloc("f32", 4), b = be.alloc("f32", 8);
  assert.equal(be.poolStats().liveBytes, 48);
  be.free(a);
  be.free(be.view(b, 0, 2)); // a view: b stays live
  assert.deepEqual([be.poolStats().liveBytes, be.poolStats().peakLiveBytes], [32, 48]);
  be.resetPeak();
  const c = be.alloc("f32", 4); // a pool hit counts as well
  assert.equal(c, a);
  assert.deepEqual([be.poolStats().liveBytes, be.poolStats().peakLiveBytes], [48, 48]);
  be.free(b); // the pool is empty: 32 ≤ maxBytes, kept
  be.free(c); // 32 + 16 > maxBytes: dropped to the backend, no longer live either
  assert.deepEqual([be.poolStats().liveBytes, be.poolStats().dropped], [0, 1]);
});

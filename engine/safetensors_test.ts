import assert from "node:assert/strict";
import {
  decodeSafetensors,
  encodeSafetensors,
  readSafetensors,
  type SafeTensor,
  writeSafetensors,
} from "./safetensors.ts";

/** A file from a raw header text and data bytes; the length prefix may be overridden. */
function rawFile(header: string, data: number[] = [], prefix?: bigint): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, prefix ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function allDtypes(): Record<string, SafeTensor> {
  return {
    "w.f32": {
      dtype: "F32",
      shape: [2, 3],
      data: new Float32Array([1, -2.5, 3e-8, NaN, Infinity, -0]),
    },
    "w.f64": { dtype: "F64", shape: [3], data: new Float64Array([Math.PI, -1e300, 5e-324]) },
    "ids": {
      dtype: "I32",
      shape: [1, 2, 2],
      data: new Int32Array([0, -1, 2 ** 31 - 1, -(2 ** 31)]),
    },
    "steps": { dtype: "I64", shape: [2], data: new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n]) },
    "scalar": { dtype: "F32", shape: [], data: new Float32Array([0.25]) },
    "scalar64": { dtype: "I64", shape: [], data: new BigInt64Array([7n]) },
    "empty": { dtype: "F32", shape: [0], data: new Float32Array(0) },
    "empty2d": { dtype: "I32", shape: [3, 0], data: new Int32Array(0) },
    "0": { dtype: "F64", shape: [1], data: new Float64Array([1]) },
    "__proto__": { dtype: "I32", shape: [1], data: new Int32Array([5]) },
    "naïve/ünïcode": { dtype: "F32", shape: [1], data: new Float32Array([2]) },
  };
}

function assertSameTensors(got: Record<string, SafeTensor>, want: Record<string, SafeTensor>) {
  assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort());
  for (const name of Object.keys(want)) {
    const g = got[name], w = want[name];
    assert.equal(g.dtype, w.dtype, name);
    assert.deepEqual(g.shape, w.shape, name);
    assert.equal(g.data.constructor, w.data.constructor, name);
    // Compare bytes so NaN and -0 are checked exactly.
    assert.deepEqual(
      new Uint8Array(g.data.buffer, g.data.byteOffset, g.data.byteLength),
      new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength),
      name,
    );
  }
}

Deno.test("round trip of every dtype, scalars, empty tensors, odd names and metadata", () => {
  const tensors = allDtypes();
  const metadata = { format: "pt", step: "1200", "ключ": "значение" };
  const bytes = encodeSafetensors(tensors, metadata);
  const back = decodeSafetensors(bytes);
  assertSameTensors(back.tensors, tensors);
  assert.deepEqual(back.metadata, metadata);
  assert.equal(Object.getPrototypeOf(back.tensors), Object.prototype);
  // Deterministic: equal inputs give equal bytes, whatever the key order of the input object.
  const reversed = Object.fromEntries(Object.entries(tensors).reverse());
  assert.deepEqual(encodeSafetensors(reversed, metadata), bytes);
  // No tensors, no metadata: just "{}" padded to 8 bytes.
  assert.deepEqual(decodeSafetensors(encodeSafetensors({})), { tensors: {}, metadata: {} });
});

Deno.test("decoding copies: results do not alias the input, inputs may be unaligned views", () => {
  const bytes = encodeSafetensors(allDtypes());
  const shifted = new Uint8Array(bytes.length + 3);
  shifted.set(bytes, 3);
  const view = shifted.subarray(3);
  const back = decodeSafetensors(view);
  assertSameTensors(back.tensors, allDtypes());
  shifted.fill(0);
  assertSameTensors(back.tensors, allDtypes());
  // Writing from a view with a byte offset writes only the view's elements.
  const big = new Float32Array([9, 1, 2, 9]);
  const enc = encodeSafetensors({ v: { dtype: "F32", shape: [2], data: big.subarray(1, 3) } });
  assert.deepEqual([...decodeSafetensors(enc).tensors.v.data], [1, 2]);
});

Deno.test("byte-exact layout of a hand-built file", () => {
  const bytes = encodeSafetensors({
    b: { dtype: "I32", shape: [2], data: new Int32Array([1, -2]) },
    a: { dtype: "F64", shape: [], data: new Float64Array([1.5]) },
  }, { k: "v" });
  // Metadata first; then 8-byte dtypes before 4-byte ones, by name: a (F64) then b (I32).
  const header = '{"__metadata__":{"k":"v"},' +
    '"a":{"dtype":"F64","shape":[],"data_offsets":[0,8]},' +
    '"b":{"dtype":"I32","shape":[2],"data_offsets":[8,16]}}';
  assert.equal(header.length, 132); // 132 % 8 = 4, so 4 spaces of padding: N = 136 = 0x88
  const expected = [
    ...[0x88, 0, 0, 0, 0, 0, 0, 0], // N as little-endian u64
    ...[...header].map((ch) => ch.charCodeAt(0)),
    ...[0x20, 0x20, 0x20, 0x20], // padding to 8 + N = 144, a multiple of 8
    ...[0, 0, 0, 0, 0, 0, 0xf8, 0x3f], // 1.5 as little-endian f64 (0x3ff8000000000000)
    ...[1, 0, 0, 0], // 1 as little-endian i32
    ...[0xfe, 0xff, 0xff, 0xff], // -2 as little-endian i32
  ];
  assert.equal(expected.length, 160);
  assert.deepEqual([...bytes], expected);
});

Deno.test("header length prefix: 8 + N is a multiple of 8 and matches the padded header", () => {
  for (let len = 1; len <= 17; len++) {
    const name = "x".repeat(len);
    const bytes = encodeSafetensors({
      [name]: { dtype: "F32", shape: [1], data: new Float32Array([1]) },
    });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal((8 + n) % 8, 0, `name length ${len}`);
    assert.equal(bytes.length, 8 + n + 4);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    assert.match(text, /^\{.*\} *$/);
    assert.ok(text.length - text.trimEnd().length < 8, "at most 7 padding spaces");
  }
});

Deno.test("every tensor is aligned to its element size within the file", () => {
  const bytes = encodeSafetensors({
    a: { dtype: "I32", shape: [3], data: new Int32Array(3) },
    b: { dtype: "F64", shape: [1], data: new Float64Array(1) },
    c: { dtype: "F32", shape: [1], data: new Float32Array(1) },
    d: { dtype: "I64", shape: [2], data: new BigInt64Array(2) },
  });
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  assert.deepEqual(Object.keys(header), ["b", "d", "a", "c"]);
  for (const [name, size] of [["a", 4], ["b", 8], ["c", 4], ["d", 8]] as const) {
    assert.equal((8 + n + header[name].data_offsets[0]) % size, 0, name);
  }
});

Deno.test("decode rejects each kind of malformed input with the right error", () => {
  const f32 = (offsets: string, shape = "[1]") =>
    `{"dtype":"F32","shape":${shape},"data_offsets":${offsets}}`;
  const four = [0, 0, 128, 63];
  const cases: [string, Uint8Array, ErrorConstructor, RegExp][] = [
    ["short file", new Uint8Array(5), RangeError, /shorter than the 8-byte/],
    ["length beyond file", rawFile("{}", [], 1000n), RangeError, /header length beyond the file/],
    ["huge length", rawFile("{}", [], 2n ** 63n), RangeError, /header length beyond the file/],
    ["bad JSON", rawFile('{"a":'), SyntaxError, /not valid JSON/],
    ["bad UTF-8", rawFile("{}  ").map((b, i) => (i === 9 ? 0xff : b)), TypeError, /UTF-8/],
    ["not an object", rawFile("[1, 2]"), TypeError, /must be a JSON object/],
    [
      "unknown dtype",
      rawFile(`{"t":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}`, four),
      TypeError,
      /"t" dtype/,
    ],
    ["bad shape", rawFile(`{"t":${f32("[0,4]", "[-1]")}}`, four), TypeError, /"t" shape/],
    [
      "shape/offset mismatch",
      rawFile(`{"t":${f32("[0,4]", "[2]")}}`, four),
      TypeError,
      /"t" shape and data_offsets disagree/,
    ],
    ["reversed offsets", rawFile(`{"t":${f32("[4,0]")}}`, four), TypeError, /"t" data_offsets/],
    ["not-an-array offsets", rawFile(`{"t":${f32('"0,4"')}}`, four), TypeError, /"t" data_offsets/],
    [
      "unknown field",
      rawFile(`{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}`, four),
      TypeError,
      /"t" has an unknown field: x/,
    ],
    [
      "overlap",
      rawFile(`{"a":${f32("[0,4]")},"b":${f32("[2,6]")}}`, [...four, ...four]),
      RangeError,
      /"b" data_offsets are not contiguous/,
    ],
    [
      "gap",
      rawFile(`{"a":${f32("[0,4]")},"b":${f32("[8,12]")}}`, [...four, ...four, ...four]),
      RangeError,
      /"b" data_offsets are not contiguous: begins at 8, expected 4/,
    ],
    [
      "not from 0",
      rawFile(`{"a":${f32("[4,8]")}}`, [...four, ...four]),
      RangeError,
      /"a" data_offsets are not contiguous/,
    ],
    [
      "trailing bytes",
      rawFile(`{"a":${f32("[0,4]")}}`, [...four, 1]),
      RangeError,
      /do not cover the data buffer: end at 4, buffer is 5/,
    ],
    [
      "data too short",
      rawFile(`{"a":${f32("[0,4]")}}`, [0, 0]),
      RangeError,
      /do not cover the data buffer/,
    ],
    [
      "metadata value",
      rawFile(`{"__metadata__":{"k":1}}`),
      TypeError,
      /__metadata__ value "k" must be a string/,
    ],
    ["metadata type", rawFile(`{"__metadata__":"x"}`), TypeError, /__metadata__ must be an object/],
    [
      "duplicate names",
      rawFile(`{"a":${f32("[0,4]")},"a":${f32("[0,4]")}}`, four),
      TypeError,
      /duplicate names: 2 keys, 1 distinct/,
    ],
  ];
  for (const [what, bytes, cls, pattern] of cases) {
    assert.throws(() => decodeSafetensors(bytes, "bad.safetensors"), (e: unknown) => {
      assert.ok(e instanceof cls, `${what}: got ${e}`);
      assert.match((e as Error).message, pattern, what);
      assert.match((e as Error).message, /in bad\.safetensors/, what);
      return true;
    }, what);
  }
  // Nested objects with duplicate-looking keys, or keys inside strings, are not duplicates.
  const tricky = rawFile(`{"__metadata__":{"a":"\\",\\"a\\":","b":"{"},"a":${f32("[0,4]")}}`, four);
  assert.deepEqual(Object.keys(decodeSafetensors(tricky).tensors), ["a"]);
});

Deno.test("encode rejects inconsistent tensors", () => {
  const bad: [string, Record<string, SafeTensor>, RegExp][] = [
    [
      "length",
      { t: { dtype: "F32", shape: [2, 2], data: new Float32Array(3) } },
      /"t" data length differs/,
    ],
    [
      "array type",
      { t: { dtype: "F64", shape: [1], data: new Float32Array(1) } },
      /"t" dtype F64 needs a Float64Array/,
    ],
    [
      "I64 from numbers",
      { t: { dtype: "I64", shape: [1], data: new Int32Array(1) } },
      /needs a BigInt64Array/,
    ],
    [
      "dtype",
      { t: { dtype: "BF16" as "F32", shape: [1], data: new Float32Array(1) } },
      /unsupported dtype: BF16/,
    ],
    ["shape", { t: { dtype: "F32", shape: [1.5], data: new Float32Array(1) } }, /"t" shape/],
    [
      "reserved name",
      { __metadata__: { dtype: "F32", shape: [1], data: new Float32Array(1) } },
      /reserved/,
    ],
  ];
  for (const [what, tensors, pattern] of bad) {
    assert.throws(() => encodeSafetensors(tensors), (e: unknown) => {
      assert.ok(e instanceof TypeError, `${what}: got ${e}`);
      assert.match((e as Error).message, pattern, what);
      return true;
    });
  }
  assert.throws(
    () => encodeSafetensors({}, { k: 1 as unknown as string }),
    /metadata "k" must be a string/,
  );
});

Deno.test("writeSafetensors is atomic and readSafetensors names the file in errors", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/model.safetensors`;
    await writeSafetensors(path, allDtypes(), { step: "3" });
    await writeSafetensors(path, allDtypes(), { step: "4" }); // overwrites in place
    const back = await readSafetensors(path);
    assertSameTensors(back.tensors, allDtypes());
    assert.deepEqual(back.metadata, { step: "4" });
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["model.safetensors"]);

    // A failed encode leaves neither the target nor a temporary file behind.
    const other = `${dir}/other.safetensors`;
    await assert.rejects(
      writeSafetensors(other, { t: { dtype: "F32", shape: [2], data: new Float32Array(1) } }),
      TypeError,
    );
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["model.safetensors"]);

    await Deno.writeFile(other, rawFile("{not json"));
    await assert.rejects(readSafetensors(other), (e: unknown) => {
      assert.ok(e instanceof SyntaxError);
      assert.ok(e.message.includes(other), e.message);
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * safetensors reader/writer (dino-backbone.md §3.6): round trips of every writable dtype, f16/bf16
 * conversion against exact values, and clear errors (naming the file) for truncated, random and
 * malformed files.
 * @module
 */
import assert from "node:assert/strict";
import {
  encodeSafetensors,
  readSafetensors,
  readSafetensorsSync,
  writeSafetensors,
} from "../../core/io/safetensors.ts";
import { f16BitsToF32, f32ToF16Bits } from "../../core/io/tensor_data.ts";
import { assertInputError, randnF32, rng } from "../_util.ts";

async function tmpFile(bytes?: Uint8Array): Promise<string> {
  const p = await Deno.makeTempFile({ suffix: ".safetensors" });
  if (bytes) await Deno.writeFile(p, bytes);
  return p;
}

function expectInputError(path: string, pattern: RegExp) {
  assertInputError(() => readSafetensorsSync(path), path, pattern);
}

Deno.test("writeSafetensors() round-trips every writable dtype, shapes and metadata", async () => {
  const path = await tmpFile();
  const f32 = randnF32(3 * 5 * 7, 1);
  const i32 = Int32Array.from({ length: 6 }, (_, i) => i * 1000 - 2500);
  const u32 = Uint32Array.from([0, 1, 0xffffffff, 12345]);
  const u8 = Uint8Array.from([0, 7, 255]);
  const halfs = f32ToF16Bits([0, 1, -2.5, 65504, 1e-7, 0.1]);
  const i64 = BigInt64Array.from([-3n, 0n, 1n << 40n]);
  await writeSafetensors(path, {
    w: { shape: [3, 5, 7], data: f32 },
    idx: { shape: [2, 3], data: i32 },
    u: { dtype: "U32", shape: [4], data: u32 },
    mask: { shape: [3], data: u8 },
    h: { dtype: "F16", shape: [6], data: halfs },
    scalar: { shape: [], data: Float32Array.of(42) },
    empty: { shape: [0, 4], data: new Float32Array(0) },
    big: { dtype: "I64", shape: [3], data: i64 },
  }, { format: "pt", step: "17" });
  const st = await readSafetensors(path);
  try {
    assert.deepEqual(st.keys(), ["w", "idx", "u", "mask", "h", "scalar", "empty", "big"]);
    assert.deepEqual(st.metadata, { format: "pt", step: "17" });
    assert.deepEqual(st.info("w"), { dtype: "F32", shape: [3, 5, 7] });
    assert.deepEqual(st.getF32("w"), f32);
    assert.deepEqual(new Int32Array(st.getRaw("idx").buffer), i32);
    assert.deepEqual(new Uint32Array(st.getRaw("u").buffer), u32);
    assert.deepEqual(st.getRaw("mask"), u8);
    assert.deepEqual(st.info("h"), { dtype: "F16", shape: [6] });
    assert.deepEqual(Array.from(st.getF32("h")), Array.from(f16BitsToF32(halfs)));
    assert.deepEqual(Array.from(st.getF32("scalar")), [42]);
    assert.equal(st.getF32("empty").length, 0);
    assert.deepEqual(Array.from(st.getF32("big")), [-3, 0, 2 ** 40]);
    assert.throws(() => st.getF32("nope"), /Cannot find tensor "nope" in .*\.safetensors/);
  } finally {
    st.close();
    await Deno.remove(path);
  }
});

Deno.test("encodeSafetensors() aligns the data section to 8 bytes and rejects inconsistent tensors", () => {
  for (const name of ["a", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg", "abcdefgh"]) {
    const bytes = encodeSafetensors({ [name]: { shape: [1], data: Float32Array.of(1) } });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal((8 + n) % 8, 0, `data start for key ${name}`);
  }
  assert.throws(() => encodeSafetensors({ x: { shape: [2, 2], data: new Float32Array(3) } }), /do not fill/);
  assert.throws(
    () => encodeSafetensors({ x: { dtype: "F32", shape: [2], data: new Int32Array(2) } }),
    /needs a Float32Array/,
  );
});

Deno.test("f16 and bf16 tensors are converted to exact float32 values", async () => {
  // Hand-built file: bit patterns with known values (1, -2, 0.5, the smallest f16 subnormal, +inf).
  const f16 = Uint16Array.from([0x3c00, 0xc000, 0x3800, 0x0001, 0x7c00]);
  const bf16 = Uint16Array.from([0x3f80, 0xc040, 0x4049]); // 1, -3, 3.140625
  const path = await tmpFile(encodeSafetensors({
    a: { dtype: "F16", shape: [5], data: f16 },
    b: { dtype: "BF16", shape: [3], data: bf16 },
  }));
  const st = readSafetensorsSync(path);
  try {
    assert.deepEqual(Array.from(st.getF32("a")), [1, -2, 0.5, 2 ** -24, Infinity]);
    assert.deepEqual(Array.from(st.getF32("b")), [1, -3, 3.140625]);
  } finally {
    st.close();
    await Deno.remove(path);
  }
});

Deno.test("f32ToF16Bits() rounds to nearest even and agrees with the f16 decoder", () => {
  const r = rng(5);
  const vals = Array.from({ length: 2000 }, () => (r() - 0.5) * 2 ** Math.floor(r() * 40 - 28));
  const back = f16BitsToF32(f32ToF16Bits(vals));
  for (let i = 0; i < vals.length; i++) {
    const v = vals[i], b = back[i];
    if (Math.abs(v) > 65504) continue;
    // Nearest representable: error at most half an ulp (2^-11 relative, 2^-25 absolute for subnormals).
    assert.ok(Math.abs(b - v) <= Math.max(Math.abs(v) * 2 ** -11, 2 ** -25) + 1e-30, `value ${v} → ${b}`);
  }
  // Ties go to even: 1 + 2^-11 lies exactly between 1 and 1 + 2^-10.
  assert.deepEqual(Array.from(f32ToF16Bits([1 + 2 ** -11, 1 + 3 * 2 ** -11])), [0x3c00, 0x3c02]);
});

Deno.test("readSafetensors() reports truncated, random and malformed files clearly, naming the file", async () => {
  const good = encodeSafetensors({ w: { shape: [64], data: randnF32(64, 2) } });
  const paths: string[] = [];
  const mk = async (b: Uint8Array) => {
    const p = await tmpFile(b);
    paths.push(p);
    return p;
  };
  try {
    expectInputError(await mk(good.subarray(0, good.length - 10)), /truncated/);
    expectInputError(await mk(good.subarray(0, 20)), /truncated|header length/);
    expectInputError(await mk(good.subarray(0, 5)), /truncated/);
    expectInputError(await mk(new Uint8Array(0)), /truncated/);
    const r = rng(9);
    const random = Uint8Array.from({ length: 4096 }, () => Math.floor(r() * 256));
    expectInputError(await mk(random), /header length|not a safetensors/);
    // A huge header length must fail at once, not try to allocate or read it.
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 0xffffffffffffn, true);
    expectInputError(await mk(huge), /over the 100000000-byte limit/);
    const notJson = new Uint8Array(8 + 8);
    new DataView(notJson.buffer).setBigUint64(0, 8n, true);
    notJson.set(new TextEncoder().encode("{garbage"), 8);
    expectInputError(await mk(notJson), /not valid UTF-8 JSON/);
    const hdr = (h: unknown, data = 0) => {
      const j = new TextEncoder().encode(JSON.stringify(h));
      const b = new Uint8Array(8 + j.length + data);
      new DataView(b.buffer).setBigUint64(0, BigInt(j.length), true);
      b.set(j, 8);
      return b;
    };
    expectInputError(
      await mk(hdr({ x: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, 8)),
      /needs 12 bytes/,
    );
    expectInputError(
      await mk(hdr({ x: { dtype: "Q9", shape: [1], data_offsets: [0, 4] } }, 4)),
      /unsupported dtype/,
    );
    expectInputError(
      await mk(hdr({ x: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, 4)),
      /bad shape/,
    );
    expectInputError(
      await mk(hdr({
        x: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
        y: { dtype: "F32", shape: [1], data_offsets: [4, 8] },
      }, 8)),
      /overlap/,
    );
    expectInputError(await mk(hdr([1, 2])), /does not start with/);
    expectInputError(await mk(hdr({ x: 5 })), /entry "x" is not an object/);
    expectInputError(await mk(hdr({ __metadata__: { a: 1 } })), /not a string/);
    assert.throws(() => readSafetensorsSync("/nonexistent/x.safetensors"), /Cannot open .*no such file/);
  } finally {
    for (const p of paths) await Deno.remove(p);
  }
});

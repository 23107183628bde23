/**
 * Element types of checkpoint tensors and their conversion to float32 on the CPU
 * (dino-backbone.md §3.4 storage table, §3.6 safetensors dtypes). Shared by safetensors.ts and pth.ts.
 * All stored data is little-endian.
 * @module
 */

/** Element types, named as safetensors names them. */
export type TensorDtype =
  | "F64"
  | "F32"
  | "F16"
  | "BF16"
  | "I64"
  | "I32"
  | "I16"
  | "I8"
  | "U64"
  | "U32"
  | "U16"
  | "U8"
  | "BOOL";

/** Bytes per element of each dtype. */
export const ITEM_SIZE: Record<TensorDtype, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
};

/** True when `s` names a dtype we can read. */
export function isTensorDtype(s: unknown): s is TensorDtype {
  return typeof s === "string" && Object.hasOwn(ITEM_SIZE, s);
}

/** True for the floating-point dtypes (weights must be one of these; an integer tensor is not a weight). */
export function isFloatDtype(d: TensorDtype): boolean {
  return d === "F32" || d === "F16" || d === "BF16" || d === "F64";
}

/** Index of the first NaN or ±Inf value, or -1 when every value is finite. */
export function firstNonFinite(data: Float32Array): number {
  for (let i = 0; i < data.length; i++) {
    // x - x is 0 for finite x and NaN for NaN and ±Inf: one comparison per element.
    if (data[i] - data[i] !== 0) return i;
  }
  return -1;
}

/** Counts the NaN and ±Inf values (for error messages). */
export function countNonFinite(data: Float32Array): number {
  let n = 0;
  for (let i = 0; i < data.length; i++) if (data[i] - data[i] !== 0) n++;
  return n;
}

/**
 * The one sentence the readers use for a weight with a non-finite value, e.g.
 * `tensor "pos_embed" holds 3 NaN/Inf values (first: NaN at element 0)`; null when all are finite.
 */
export function nonFiniteProblem(data: Float32Array, label: string): string | null {
  const i = firstNonFinite(data);
  if (i < 0) return null;
  return `${label} holds ${countNonFinite(data)} NaN/Inf value(s) of ${data.length} (first: ${
    data[i]
  } at element ${i})`;
}

/** Product of a shape's dimensions (1 for a scalar). */
export function shapeNumel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

const f16Table = (() => {
  // Exact float32 value of every binary16 bit pattern: 64K entries, built once.
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    let v: number;
    if (exp === 0) v = frac * 2 ** -24;
    else if (exp === 31) v = frac ? NaN : Infinity;
    else v = (1 + frac / 1024) * 2 ** (exp - 15);
    t[h] = sign * v;
  }
  return t;
})();

/** binary16 bits → float32 (exact). */
export function f16BitsToF32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = f16Table[bits[i]];
  return out;
}

/** float32 → binary16 bits, round to nearest even (for writing f16 tensors and tests). */
export function f32ToF16Bits(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < values.length; i++) {
    f[0] = values[i];
    const x = u[0];
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant ? 0x200 : 0);
      continue;
    }
    const e = exp - 127 + 15;
    if (e >= 31) {
      out[i] = sign | 0x7c00;
      continue;
    }
    if (e <= 0) {
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      mant |= 0x800000;
      const shift = 14 - e;
      let h = mant >>> shift;
      const rem = mant & ((1 << shift) - 1);
      const half = 1 << (shift - 1);
      if (rem > half || (rem === half && (h & 1))) h++;
      out[i] = sign | h;
      continue;
    }
    let h = (e << 10) | (mant >>> 13);
    const rem = mant & 0x1fff;
    // A carry out of the mantissa bumps the exponent (up to infinity), which is the correct rounding.
    if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
    out[i] = sign | h;
  }
  return out;
}

/** Copies `bytes` into a fresh, aligned buffer when its offset is not a multiple of `align`. */
function aligned(bytes: Uint8Array, align: number): Uint8Array {
  return bytes.byteOffset % align === 0 ? bytes : bytes.slice();
}

/**
 * Interprets little-endian `bytes` of `dtype` as float32 values (F32 is a view when aligned, everything
 * else is converted; I64/U64 values beyond 2^53 lose precision, which is fine for weights).
 */
export function bytesToF32(bytes: Uint8Array, dtype: TensorDtype): Float32Array {
  const n = bytes.byteLength / ITEM_SIZE[dtype];
  const b = aligned(bytes, ITEM_SIZE[dtype]);
  switch (dtype) {
    case "F32":
      return new Float32Array(b.buffer, b.byteOffset, n);
    case "F16":
      return f16BitsToF32(new Uint16Array(b.buffer, b.byteOffset, n));
    case "BF16": {
      const src = new Uint16Array(b.buffer, b.byteOffset, n);
      const out = new Float32Array(n);
      const u = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) u[i] = src[i] << 16;
      return out;
    }
    case "F64":
      return Float32Array.from(new Float64Array(b.buffer, b.byteOffset, n));
    case "I64":
      return Float32Array.from(new BigInt64Array(b.buffer, b.byteOffset, n), (v) => Number(v));
    case "U64":
      return Float32Array.from(new BigUint64Array(b.buffer, b.byteOffset, n), (v) => Number(v));
    case "I32":
      return Float32Array.from(new Int32Array(b.buffer, b.byteOffset, n));
    case "U32":
      return Float32Array.from(new Uint32Array(b.buffer, b.byteOffset, n));
    case "I16":
      return Float32Array.from(new Int16Array(b.buffer, b.byteOffset, n));
    case "U16":
      return Float32Array.from(new Uint16Array(b.buffer, b.byteOffset, n));
    case "I8":
      return Float32Array.from(new Int8Array(b.buffer, b.byteOffset, n));
    case "U8":
    case "BOOL":
      return Float32Array.from(b);
  }
}

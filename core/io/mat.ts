/**
 * A MATLAB v5 ("Level 5") MAT-file reader of our own, enough for the Potsdam tiles of IIC
 * (hp-method.md §9.3): `img` uint8 H×W×4 and `gt` int32 H×W, written by scipy.io.savemat with or without
 * compression.
 *
 * Format facts used: a 128-byte header (text, subsystem offset, version 0x0100, endian indicator "IM"/"MI"),
 * then data elements, each an 8-byte tag (type u32, byte count u32) padded to 8 bytes — or a "small" element
 * packing type and count (≤ 4) into one u32 plus 4 data bytes. miCOMPRESSED (15) holds one zlib-compressed
 * element; miMATRIX (14) holds array flags (class in the low byte), dimensions, name and the real part, whose
 * stored type may be narrower than the class (scipy stores as is; MATLAB may shrink). Compressed elements
 * are not padded to 8 bytes. Data are column-major;
 * we return row-major (C order) arrays with the dimensions as MATLAB lists them.
 * @module
 */
import { inflateSync } from "node:zlib";
import { imageLimits } from "../image/size_limits.ts";
import { InputError } from "../errors.ts";

/** A numeric array from a MAT file, row-major (C order) with MATLAB's dimension list. */
export interface MatArray {
  name: string;
  /** MATLAB class: "double", "single", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64". */
  className: string;
  dims: number[];
  data:
    | Float64Array
    | Float32Array
    | Int8Array
    | Uint8Array
    | Int16Array
    | Uint16Array
    | Int32Array
    | Uint32Array;
}

const MI = {
  INT8: 1,
  UINT8: 2,
  INT16: 3,
  UINT16: 4,
  INT32: 5,
  UINT32: 6,
  SINGLE: 7,
  DOUBLE: 9,
  INT64: 12,
  UINT64: 13,
  MATRIX: 14,
  COMPRESSED: 15,
  UTF8: 16,
} as const;

const MI_SIZE: Record<number, number> = {
  1: 1,
  2: 1,
  3: 2,
  4: 2,
  5: 4,
  6: 4,
  7: 4,
  9: 8,
  12: 8,
  13: 8,
  16: 1,
};

const CLASSES: Record<number, { name: string; make: (n: number) => MatArray["data"] }> = {
  6: { name: "double", make: (n) => new Float64Array(n) },
  7: { name: "single", make: (n) => new Float32Array(n) },
  8: { name: "int8", make: (n) => new Int8Array(n) },
  9: { name: "uint8", make: (n) => new Uint8Array(n) },
  10: { name: "int16", make: (n) => new Int16Array(n) },
  11: { name: "uint16", make: (n) => new Uint16Array(n) },
  12: { name: "int32", make: (n) => new Int32Array(n) },
  13: { name: "uint32", make: (n) => new Uint32Array(n) },
  14: { name: "int64", make: (n) => new Float64Array(n) },
  15: { name: "uint64", make: (n) => new Float64Array(n) },
};

class Truncated extends Error {}

interface Tag {
  type: number;
  nbytes: number;
  /** Offset of the data. */
  data: number;
  /** Offset of the next element. */
  next: number;
}

function readTag(v: DataView, pos: number, le: boolean): Tag {
  if (pos + 8 > v.byteLength) {
    throw new Truncated(`element tag at byte ${pos} needs 8 bytes, only ${v.byteLength - pos} remain`);
  }
  const first = v.getUint32(pos, le);
  if (first >>> 16 !== 0) {
    // Small data element: count in the upper half, type in the lower, data in the next 4 bytes.
    return { type: first & 0xffff, nbytes: first >>> 16, data: pos + 4, next: pos + 8 };
  }
  const nbytes = v.getUint32(pos + 4, le);
  const data = pos + 8;
  if (data + nbytes > v.byteLength) {
    throw new Truncated(
      `element at byte ${pos} declares ${nbytes} bytes, only ${v.byteLength - data} remain`,
    );
  }
  // Compressed elements are not padded: the next tag follows the zlib stream directly.
  const pad = first === MI.COMPRESSED ? 0 : (8 - (nbytes % 8)) % 8;
  return { type: first, nbytes, data, next: data + nbytes + pad };
}

function readNumber(v: DataView, type: number, off: number, le: boolean): number {
  switch (type) {
    case MI.INT8:
      return v.getInt8(off);
    case MI.UINT8:
    case MI.UTF8:
      return v.getUint8(off);
    case MI.INT16:
      return v.getInt16(off, le);
    case MI.UINT16:
      return v.getUint16(off, le);
    case MI.INT32:
      return v.getInt32(off, le);
    case MI.UINT32:
      return v.getUint32(off, le);
    case MI.SINGLE:
      return v.getFloat32(off, le);
    case MI.DOUBLE:
      return v.getFloat64(off, le);
    case MI.INT64:
      return Number(v.getBigInt64(off, le));
    case MI.UINT64:
      return Number(v.getBigUint64(off, le));
  }
  throw new Error(`unsupported data type ${type}`);
}

/** Parses one miMATRIX body; returns null for non-numeric classes (cells, structs, chars, sparse). */
function parseMatrix(v: DataView, start: number, end: number, le: boolean): MatArray | null {
  const flagsTag = readTag(v, start, le);
  const flags = v.getUint32(flagsTag.data, le);
  const cls = flags & 0xff;
  const complex = (flags & 0x800) !== 0;
  const dimsTag = readTag(v, flagsTag.next, le);
  const dims: number[] = [];
  for (let i = 0; i < dimsTag.nbytes / 4; i++) dims.push(v.getInt32(dimsTag.data + 4 * i, le));
  const nameTag = readTag(v, dimsTag.next, le);
  const name = new TextDecoder().decode(
    new Uint8Array(v.buffer, v.byteOffset + nameTag.data, nameTag.nbytes),
  );
  const info = CLASSES[cls];
  if (!info) return null;
  if (complex) throw new Error(`variable "${name}" is complex, which is not supported`);
  const realTag = readTag(v, nameTag.next, le);
  if (realTag.next > end + 8) throw new Truncated(`variable "${name}" runs past its element`);
  const size = MI_SIZE[realTag.type];
  if (!size) throw new Error(`variable "${name}" stores data type ${realTag.type}, which is not supported`);
  const n = dims.reduce((a, b) => a * b, 1);
  if (realTag.nbytes !== n * size) {
    throw new Error(`variable "${name}" has ${realTag.nbytes / size} values, dimensions [${dims}] need ${n}`);
  }
  // Column-major (first index fastest) → row-major (last index fastest).
  const out = info.make(n);
  const rank = dims.length;
  const rowStrides = new Array(rank).fill(1);
  for (let k = rank - 2; k >= 0; k--) rowStrides[k] = rowStrides[k + 1] * dims[k + 1];
  const idx = new Array(rank).fill(0);
  let dst = 0;
  for (let i = 0; i < n; i++) {
    out[dst] = readNumber(v, realTag.type, realTag.data + i * size, le);
    // advance the column-major multi-index and keep `dst` in step
    for (let k = 0; k < rank; k++) {
      idx[k]++;
      dst += rowStrides[k];
      if (idx[k] < dims[k]) break;
      dst -= rowStrides[k] * dims[k];
      idx[k] = 0;
    }
  }
  return { name, className: info.name, dims, data: out };
}

/**
 * Reads every numeric variable of a MAT v5 file. `file` names the file in error messages; problems raise
 * an InputError ("Cannot read F: ...").
 */
export function readMat(bytes: Uint8Array, file: string): Map<string, MatArray> {
  const fail = (why: string, cause?: unknown) =>
    new InputError(`Cannot read MAT file ${file}: ${why}`, { cause });
  if (bytes.length < 128) throw fail(`file is truncated (header needs 128 bytes, found ${bytes.length})`);
  const head = new TextDecoder().decode(bytes.subarray(0, 10));
  if (head.startsWith("MATLAB 7.3") || bytes[0] === 0x89) {
    throw fail("HDF5-based MAT v7.3 files are not supported (save with -v7 or scipy.io.savemat)");
  }
  const ind = String.fromCharCode(bytes[126], bytes[127]);
  if (ind !== "IM" && ind !== "MI") throw fail(`not a MATLAB v5 file (endian indicator "${ind}")`);
  const le = ind === "IM";
  const out = new Map<string, MatArray>();
  const walk = (v: DataView, pos: number) => {
    while (pos < v.byteLength) {
      const tag = readTag(v, pos, le);
      if (tag.type === MI.COMPRESSED) {
        let inner: Uint8Array;
        try {
          // An image variable holds at most 4 bytes per pixel (uint8 RGBA or int32 labels) under the caps.
          const maxOutputLength = 4 * imageLimits().pixels + (1 << 20);
          inner = new Uint8Array(
            inflateSync(new Uint8Array(v.buffer, v.byteOffset + tag.data, tag.nbytes), { maxOutputLength }),
          );
        } catch (err) {
          throw new Truncated(
            `compressed element at byte ${pos} cannot be inflated (${(err as Error).message})`,
          );
        }
        walk(new DataView(inner.buffer, inner.byteOffset, inner.byteLength), 0);
      } else if (tag.type === MI.MATRIX) {
        if (tag.nbytes > 0) {
          const m = parseMatrix(v, tag.data, tag.data + tag.nbytes, le);
          if (m) out.set(m.name, m);
        }
      }
      pos = tag.next;
    }
  };
  try {
    walk(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 128);
  } catch (err) {
    if (err instanceof Truncated) throw fail(`file is truncated (${err.message})`, err);
    throw fail((err as Error).message, err);
  }
  return out;
}

/** Reads one named variable; a missing variable names the file and the variables present. */
export function readMatVariable(bytes: Uint8Array, file: string, name: string): MatArray {
  const vars = readMat(bytes, file);
  const v = vars.get(name);
  if (!v) {
    throw new InputError(
      `Cannot read MAT file ${file}: no variable "${name}" (found: ${[...vars.keys()].join(", ") || "none"})`,
    );
  }
  return v;
}

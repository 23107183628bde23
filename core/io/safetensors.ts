/**
 * safetensors read and write (dino-backbone.md §3.6). Used for Hugging Face DINO weights, for our own
 * checkpoints (the trainer) and for `hpseg features` output.
 *
 * Layout: u64 LE header length N, N bytes of UTF-8 JSON {name: {dtype, shape, data_offsets: [begin, end)},
 * "__metadata__": {string: string}}, then the data section; offsets are relative to byte 8 + N.
 * Reading validates the whole header up front (dtypes, shapes, offsets inside the file, sizes equal to
 * numel × itemsize, no overlaps) and then reads each tensor lazily by offset, so a 343 MB file is not held
 * twice. Every error names the file and the offending key or value.
 * @module
 */
import { InputError } from "../errors.ts";
import { writeFileAtomic } from "./atomic.ts";
import { RandomAccessFile } from "./random_access.ts";
import {
  bytesToF32,
  isFloatDtype,
  isTensorDtype,
  ITEM_SIZE,
  nonFiniteProblem,
  shapeNumel,
  type TensorDtype,
} from "./tensor_data.ts";

export type { TensorDtype } from "./tensor_data.ts";

/** The reference implementation refuses headers over 100 MB; so do we (a garbage length fails fast). */
const MAX_HEADER = 100_000_000;

/** dtype and shape of one stored tensor. */
export interface TensorInfo {
  dtype: TensorDtype;
  shape: number[];
}

interface Entry extends TensorInfo {
  /** Absolute file offsets [begin, end). */
  begin: number;
  end: number;
}

/** An opened safetensors file; tensor data is read on demand. Call `close()` when done. */
export class SafetensorsFile {
  readonly #file: RandomAccessFile;
  readonly #entries: Map<string, Entry>;
  /** The `__metadata__` string map (empty when absent). */
  readonly metadata: Record<string, string>;

  /** @internal use {@link readSafetensors} */
  constructor(file: RandomAccessFile, entries: Map<string, Entry>, metadata: Record<string, string>) {
    this.#file = file;
    this.#entries = entries;
    this.metadata = metadata;
  }

  /** The file this was read from. */
  get path(): string {
    return this.#file.path;
  }

  /** Tensor names in header order. */
  keys(): string[] {
    return [...this.#entries.keys()];
  }

  /** True when a tensor called `name` exists. */
  has(name: string): boolean {
    return this.#entries.has(name);
  }

  /** dtype and shape of `name`. @throws InputError naming the file when it is absent. */
  info(name: string): TensorInfo {
    const e = this.#entry(name);
    return { dtype: e.dtype, shape: [...e.shape] };
  }

  /** Raw little-endian bytes of `name` (a fresh buffer, aligned for any typed-array view). */
  getRaw(name: string): Uint8Array {
    const e = this.#entry(name);
    return this.#file.read(e.begin, e.end - e.begin, `tensor "${name}"`);
  }

  /** `name` as float32 (F16, BF16, F64 and integer types are converted). */
  getF32(name: string): Float32Array {
    return bytesToF32(this.getRaw(name), this.#entry(name).dtype);
  }

  /**
   * A weight: `name` as float32, refusing an integer dtype (no silent cast) and any NaN/Inf value.
   * @throws InputError naming the file and the tensor
   */
  getWeight(name: string): Float32Array {
    const e = this.#entry(name);
    if (!isFloatDtype(e.dtype)) {
      fail(
        this.path,
        `tensor "${name}" is ${e.dtype}, expected a floating-point tensor (F32, F16, BF16, F64)`,
      );
    }
    const data = this.getF32(name);
    const bad = nonFiniteProblem(data, `tensor "${name}"`);
    if (bad) fail(this.path, bad);
    return data;
  }

  /** Releases the file handle. */
  close(): void {
    this.#file.close();
  }

  #entry(name: string): Entry {
    const e = this.#entries.get(name);
    if (!e) throw new InputError(`Cannot find tensor "${name}" in ${this.#file.path}`);
    return e;
  }
}

function fail(path: string, why: string): never {
  throw new InputError(`Cannot read safetensors file ${path}: ${why}`);
}

/**
 * Opens a safetensors file and validates its header (not the data, which is read lazily).
 * @throws InputError naming the file for a missing, truncated or malformed file.
 */
export function readSafetensors(path: string): Promise<SafetensorsFile> {
  try {
    return Promise.resolve(readSafetensorsSync(path));
  } catch (err) {
    return Promise.reject(err);
  }
}

/** Synchronous {@link readSafetensors}. */
export function readSafetensorsSync(path: string): SafetensorsFile {
  const file = RandomAccessFile.open(path, "safetensors file");
  try {
    return parse(file);
  } catch (err) {
    file.close();
    throw err;
  }
}

function parse(file: RandomAccessFile): SafetensorsFile {
  const path = file.path;
  if (file.size < 8) fail(path, `file is truncated (${file.size} bytes, a header length alone needs 8)`);
  const lenBytes = file.read(0, 8, "header length");
  const n = Number(new DataView(lenBytes.buffer).getBigUint64(0, true));
  if (n > MAX_HEADER) {
    fail(path, `header length ${n} is over the ${MAX_HEADER}-byte limit (not a safetensors file?)`);
  }
  if (8 + n > file.size) {
    fail(
      path,
      `file is truncated or not safetensors (header length ${n} but the file has ${file.size} bytes)`,
    );
  }
  if (n < 2) fail(path, `header length ${n} is too small`);
  const headerBytes = file.read(8, n, "header");
  if (headerBytes[0] !== 0x7b /* { */) fail(path, "header does not start with '{' (not a safetensors file?)");
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(headerBytes));
  } catch (err) {
    fail(path, `header is not valid UTF-8 JSON (${(err as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    fail(path, "header is not a JSON object");
  }
  const dataStart = 8 + n;
  const dataLen = file.size - dataStart;
  const entries = new Map<string, Entry>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      metadata = checkMetadata(path, raw);
      continue;
    }
    entries.set(name, checkEntry(path, name, raw, dataStart, dataLen));
  }
  // Ranges must not overlap (the reference also demands no gaps; we tolerate gaps from other writers).
  // A zero-size tensor occupies no bytes, so it overlaps nothing, wherever its empty range points.
  const sorted = [...entries.entries()].filter(([, e]) => e.end > e.begin)
    .sort((a, b) => a[1].begin - b[1].begin);
  for (let i = 1; i < sorted.length; i++) {
    const [prevName, prev] = sorted[i - 1];
    const [curName, cur] = sorted[i];
    if (cur.begin < prev.end) fail(path, `tensors "${prevName}" and "${curName}" overlap`);
  }
  return new SafetensorsFile(file, entries, metadata);
}

function checkMetadata(path: string, raw: unknown): Record<string, string> {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    fail(path, "__metadata__ is not an object");
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof v !== "string") fail(path, `__metadata__ value for "${k}" is not a string`);
    out[k] = v;
  }
  return out;
}

function checkEntry(path: string, name: string, raw: unknown, dataStart: number, dataLen: number): Entry {
  if (typeof raw !== "object" || raw === null) fail(path, `entry "${name}" is not an object`);
  const { dtype, shape, data_offsets: offs } = raw as Record<string, unknown>;
  if (!isTensorDtype(dtype)) fail(path, `tensor "${name}" has unsupported dtype ${JSON.stringify(dtype)}`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fail(path, `tensor "${name}" has a bad shape ${JSON.stringify(shape)}`);
  }
  if (
    !Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0) ||
    offs[1] < offs[0]
  ) {
    fail(path, `tensor "${name}" has bad data_offsets ${JSON.stringify(offs)}`);
  }
  const [b, e] = offs as number[];
  const want = shapeNumel(shape) * ITEM_SIZE[dtype];
  if (e - b !== want) {
    fail(
      path,
      `tensor "${name}" ${dtype}[${shape.join(", ")}] needs ${want} bytes but data_offsets span ${e - b}`,
    );
  }
  if (e > dataLen) {
    fail(
      path,
      `file is truncated (tensor "${name}" ends at data byte ${e}, the data section has ${dataLen} bytes)`,
    );
  }
  return { dtype, shape: shape as number[], begin: dataStart + b, end: dataStart + e };
}

// ---------------------------------------------------------------------------------------------------
// Writing

/** dtypes {@link writeSafetensors} accepts. */
export type WritableDtype = "F32" | "I32" | "U32" | "U8" | "F16" | "BF16" | "U16" | "I64";

/** One tensor to write. `dtype` defaults from the array type (Uint16Array → F16). */
export interface TensorToWrite {
  dtype?: WritableDtype;
  shape: number[];
  data: Float32Array | Int32Array | Uint32Array | Uint8Array | Uint16Array | BigInt64Array;
}

// deno-lint-ignore no-explicit-any
const ARRAY_DTYPES: Record<WritableDtype, new (...a: any[]) => TensorToWrite["data"]> = {
  F32: Float32Array,
  I32: Int32Array,
  U32: Uint32Array,
  U8: Uint8Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  U16: Uint16Array,
  I64: BigInt64Array,
};

function defaultDtype(data: TensorToWrite["data"]): WritableDtype {
  if (data instanceof Float32Array) return "F32";
  if (data instanceof Int32Array) return "I32";
  if (data instanceof Uint32Array) return "U32";
  if (data instanceof Uint8Array) return "U8";
  if (data instanceof Uint16Array) return "F16";
  return "I64";
}

/**
 * Encodes tensors as safetensors bytes (header padded with spaces so the data starts 8-byte aligned;
 * tensors in the given order, packed without gaps).
 * @throws TypeError naming the tensor when data and shape or dtype disagree.
 */
export function encodeSafetensors(
  tensors: Record<string, TensorToWrite>,
  metadata?: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") throw new TypeError(`safetensors metadata "${k}" must be a string`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  const parts: Uint8Array[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    if (name === "__metadata__") throw new TypeError(`"__metadata__" is reserved and cannot name a tensor`);
    const dtype = t.dtype ?? defaultDtype(t.data);
    if (!(t.data instanceof ARRAY_DTYPES[dtype])) {
      throw new TypeError(
        `tensor "${name}": dtype ${dtype} needs a ${
          ARRAY_DTYPES[dtype].name
        }, got ${t.data.constructor.name}`,
      );
    }
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0) || shapeNumel(t.shape) !== t.data.length) {
      throw new TypeError(
        `tensor "${name}": ${t.data.length} values do not fill shape [${t.shape.join(", ")}]`,
      );
    }
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes.byteLength] };
    parts.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  const jsonLen = new TextEncoder().encode(json).byteLength;
  json += " ".repeat((8 - ((8 + jsonLen) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.byteLength;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.byteLength;
  }
  return out;
}

/**
 * Writes tensors to `path` atomically (temp file + rename): a crash leaves the old file or the new one.
 * @param metadata optional string → string map stored as `__metadata__`.
 */
export async function writeSafetensors(
  path: string,
  tensors: Record<string, TensorToWrite>,
  metadata?: Record<string, string>,
): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

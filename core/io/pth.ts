/**
 * PyTorch `.pth` / `.bin` checkpoints written by `torch.save` (zip format, torch ≥ 1.6), read lazily
 * (dino-backbone.md §3.3–§3.5).
 *
 * Only the zip central directory, `data.pkl` and the tensor records that are actually asked for are read,
 * so a 1.7 GB full checkpoint costs the ~150 backbone records, not the file. Records must be stored
 * (method 0), which is what torch writes. The pickle goes through the restricted unpickler of pickle.ts,
 * which executes nothing. The legacy (pre-1.6) format and TorchScript archives are rejected with a hint.
 * @module
 */
import { InputError } from "../errors.ts";
import { RandomAccessFile } from "./random_access.ts";
import { type PyValue, storageDtype, StorageRef, TensorRef, unpickle } from "./pickle.ts";
import { bytesToF32, isFloatDtype, ITEM_SIZE, nonFiniteProblem, type TensorDtype } from "./tensor_data.ts";

export { PyGlobal, PyObject, PyTuple, type PyValue, StorageRef, TensorRef } from "./pickle.ts";

/** The first bytes of a legacy (non-zip) torch.save file: PROTO 2 + LONG1 magic 0x1950a86a20f9469cfc6c. */
const LEGACY_MAGIC = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

interface ZipEntry {
  name: string;
  method: number;
  size: number;
  compressedSize: number;
  localOffset: number;
}

/** An opened torch zip checkpoint: the unpickled object tree plus lazy access to tensor data. */
export class PthFile {
  readonly #file: RandomAccessFile;
  readonly #entries: Map<string, ZipEntry>;
  readonly #prefix: string;
  readonly #bigEndian: boolean;
  /** One StorageRef per record, so tensors that share a storage share the object. */
  readonly #storages = new Map<string, StorageRef>();
  /** The unpickled top-level object (usually a Map). */
  readonly root: PyValue;

  private constructor(
    file: RandomAccessFile,
    entries: Map<string, ZipEntry>,
    prefix: string,
    bigEndian: boolean,
  ) {
    this.#file = file;
    this.#entries = entries;
    this.#prefix = prefix;
    this.#bigEndian = bigEndian;
    this.root = unpickle(this.#record("data.pkl"), file.path, (pid) => this.#persistentLoad(pid));
  }

  /** The file this was read from. */
  get path(): string {
    return this.#file.path;
  }

  /**
   * Opens a torch zip checkpoint and unpickles its object tree (tensor data stays on disk).
   * @throws InputError naming the file for legacy, TorchScript, compressed, truncated or garbage files.
   */
  static open(path: string): PthFile {
    const file = RandomAccessFile.open(path, "PyTorch checkpoint");
    try {
      const head = file.read(0, Math.min(16, file.size), "file header");
      if (LEGACY_MAGIC.every((b, i) => head[i] === b)) {
        fail(
          path,
          "this is the legacy (pre-1.6) torch.save format",
          "re-save it with torch ≥ 1.6 or convert it to safetensors",
        );
      }
      if (!(head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04)) {
        fail(path, "not a zip-format torch.save file (no PK signature at the start)");
      }
      const entries = readCentralDirectory(file);
      const first = entries.keys().next().value as string;
      const slash = first.indexOf("/");
      if (slash < 0) fail(path, `archive entry "${first}" has no root folder`);
      const prefix = first.slice(0, slash + 1);
      if (
        entries.has(prefix + "constants.pkl") ||
        [...entries.keys()].some((n) => n.startsWith(prefix + "code/"))
      ) {
        fail(
          path,
          "this is a TorchScript archive, not a state dict",
          "save model.state_dict() with torch.save",
        );
      }
      if (!entries.has(prefix + "data.pkl")) fail(path, `archive has no ${prefix}data.pkl record`);
      let bigEndian = false;
      const bo = entries.get(prefix + "byteorder");
      if (bo) bigEndian = new TextDecoder().decode(readRecord(file, bo)).trim() === "big";
      return new PthFile(file, entries, prefix, bigEndian);
    } catch (err) {
      file.close();
      throw err;
    }
  }

  /** dtype and shape of a tensor reference found in {@link root}. */
  info(t: TensorRef): { dtype: TensorDtype; shape: number[] } {
    return { dtype: t.storage.dtype, shape: [...t.shape] };
  }

  /**
   * Reads a tensor's elements in row-major order as float32 (converting f16/bf16/f64/ints).
   * @throws InputError when the view claims more elements than its storage holds (a stride-0 or
   * overlapping view, e.g. `torch.zeros(1).expand(...)`: nothing is allocated for the claimed shape) or
   * addresses elements outside it.
   */
  readTensor(t: TensorRef, label = "tensor"): Float32Array {
    const { dtype, key } = t.storage;
    const s = ITEM_SIZE[dtype];
    const entry = this.#entry(`data/${key}`);
    const n = this.#checkView(t, label, entry.size / s);
    if (n === 0) return new Float32Array(0);
    // Element range the view touches: [offset, offset + Σ (size-1)·stride] (strides are non-negative).
    let last = t.offset;
    for (let i = 0; i < t.shape.length; i++) last += (t.shape[i] - 1) * t.stride[i];
    if (t.offset < 0 || t.stride.some((x) => x < 0) || (last + 1) * s > entry.size) {
      fail(
        this.path,
        `${label} addresses elements ${t.offset}..${last} beyond storage ${key} (${entry.size / s} elements)`,
      );
    }
    const bytes = this.#readRange(entry, t.offset * s, (last + 1 - t.offset) * s, label);
    if (this.#bigEndian && s > 1) swapBytes(bytes, s);
    const flat = bytesToF32(bytes, dtype);
    if (isContiguous(t.shape, t.stride)) return flat.length === n ? flat : flat.slice(0, n);
    // Non-contiguous view: gather with the strides (relative to the range start).
    const out = new Float32Array(n);
    const idx = new Array(t.shape.length).fill(0);
    for (let i = 0; i < n; i++) {
      let off = 0;
      for (let d = 0; d < idx.length; d++) off += idx[d] * t.stride[d];
      out[i] = flat[off];
      for (let d = idx.length - 1; d >= 0; d--) {
        if (++idx[d] < t.shape[d]) break;
        idx[d] = 0;
      }
    }
    return out;
  }

  /**
   * Reads a weight: like {@link readTensor}, but the dtype must be floating point (an integer tensor is
   * not silently cast) and every value finite (a NaN/Inf weight is an error, not a result).
   */
  readWeight(t: TensorRef, label = "tensor"): Float32Array {
    if (!isFloatDtype(t.storage.dtype)) {
      fail(
        this.path,
        `${label} is ${t.storage.dtype}, expected a floating-point tensor (F32, F16, BF16, F64)`,
      );
    }
    const data = this.readTensor(t, label);
    const bad = nonFiniteProblem(data, label);
    if (bad) fail(this.path, bad);
    return data;
  }

  /**
   * Checks a view against its storage of `storageNumel` elements before anything is allocated: sizes,
   * offset and strides are non-negative safe integers and the element count is at most the storage's (a
   * saved tensor never has more elements than the storage it was saved with). Returns the element count.
   */
  #checkView(t: TensorRef, label: string, storageNumel: number): number {
    const bad = (why: string): never => fail(this.path, `${label} (storage ${t.storage.key}): ${why}`);
    if (t.shape.length !== t.stride.length) {
      bad(`size [${t.shape.join(", ")}] and stride [${t.stride.join(", ")}] differ in length`);
    }
    const ok = (v: number) => Number.isSafeInteger(v) && v >= 0;
    if (!t.shape.every(ok) || !t.stride.every(ok) || !ok(t.offset)) {
      bad(
        `size [${t.shape.join(", ")}], stride [${
          t.stride.join(", ")
        }] or offset ${t.offset} is negative or too large`,
      );
    }
    let n = 1;
    for (const d of t.shape) {
      n *= d;
      if (n > storageNumel) break; // stop before the product can overflow
    }
    if (t.shape.includes(0)) return 0;
    if (n > storageNumel) {
      bad(
        `a view of shape [${t.shape.join(", ")}] claims more elements than its storage holds ` +
          `(${storageNumel}); broadcast/expanded views (stride 0) are not supported`,
      );
    }
    return n;
  }

  /** Releases the file handle. */
  close(): void {
    this.#file.close();
  }

  #entry(rel: string): ZipEntry {
    const e = this.#entries.get(this.#prefix + rel);
    if (!e) fail(this.path, `archive has no record ${this.#prefix + rel}`);
    return e!;
  }

  #record(rel: string): Uint8Array {
    return readRecord(this.#file, this.#entry(rel));
  }

  #readRange(entry: ZipEntry, offset: number, length: number, what: string): Uint8Array {
    return this.#file.read(dataOffset(this.#file, entry) + offset, length, what);
  }

  #persistentLoad(pid: PyValue): PyValue {
    const items = (pid as { items?: PyValue[] }).items;
    if (!items || items[0] !== "storage" || items.length < 5) {
      fail(this.path, `unsupported persistent id ${describe(pid)} in data.pkl`);
    }
    const [, cls, key, location, numel] = items!;
    const dtype = storageDtype(cls);
    if (!dtype) fail(this.path, `unsupported storage type ${describe(cls)} in data.pkl`);
    if (typeof key !== "string" || typeof numel !== "number") {
      fail(this.path, "malformed storage id in data.pkl");
    }
    const seen = this.#storages.get(key as string);
    if (seen) return seen;
    const entry = this.#entry(`data/${key}`);
    if (entry.size !== numel * ITEM_SIZE[dtype!]) {
      fail(
        this.path,
        `storage ${key} has ${entry.size} bytes but the pickle says ${numel} × ${
          ITEM_SIZE[dtype!]
        }-byte elements`,
      );
    }
    const ref = new StorageRef(dtype!, key as string, String(location), numel as number);
    this.#storages.set(key as string, ref);
    return ref;
  }
}

/** Opens a torch zip checkpoint (see {@link PthFile.open}). */
export function readPth(path: string): Promise<PthFile> {
  try {
    return Promise.resolve(PthFile.open(path));
  } catch (err) {
    return Promise.reject(err);
  }
}

function fail(path: string, why: string, hint?: string): never {
  throw new InputError(`Cannot read PyTorch checkpoint ${path}: ${why}`, { hint });
}

function describe(v: PyValue): string {
  if (v && typeof v === "object" && "qualname" in v) return (v as { qualname: string }).qualname;
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** True when the strides are row-major for the shape (size-1 dimensions may have any stride). */
export function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expect = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expect) return false;
    expect *= shape[i];
  }
  return true;
}

function swapBytes(b: Uint8Array, s: number): void {
  for (let i = 0; i < b.length; i += s) b.subarray(i, i + s).reverse();
}

// ---------------------------------------------------------------------------------------------------
// Zip (stored records only; sizes from the central directory; ZIP64 aware)

function readCentralDirectory(file: RandomAccessFile): Map<string, ZipEntry> {
  const path = file.path;
  const tailLen = Math.min(file.size, 22 + 65535);
  const tail = file.read(file.size - tailLen, tailLen, "end of central directory");
  const tv = new DataView(tail.buffer);
  let eocd = -1;
  for (let i = tailLen - 22; i >= 0; i--) {
    if (tv.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail(path, "no zip end-of-central-directory record (file truncated?)");
  let count = tv.getUint16(eocd + 10, true);
  let cdSize = tv.getUint32(eocd + 12, true);
  let cdOffset = tv.getUint32(eocd + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || tv.getUint32(loc, true) !== 0x07064b50) {
      fail(path, "ZIP64 locator missing (file truncated?)");
    }
    const z64Off = Number(tv.getBigUint64(loc + 8, true));
    const z = file.read(z64Off, 56, "ZIP64 end of central directory");
    const zv = new DataView(z.buffer);
    if (zv.getUint32(0, true) !== 0x06064b50) fail(path, "bad ZIP64 end-of-central-directory signature");
    count = Number(zv.getBigUint64(32, true));
    cdSize = Number(zv.getBigUint64(40, true));
    cdOffset = Number(zv.getBigUint64(48, true));
  }
  if (cdOffset + cdSize > file.size) {
    fail(path, `file is truncated (central directory at ${cdOffset}+${cdSize}, file has ${file.size} bytes)`);
  }
  const cd = file.read(cdOffset, cdSize, "central directory");
  const cv = new DataView(cd.buffer);
  const entries = new Map<string, ZipEntry>();
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdSize || cv.getUint32(p, true) !== 0x02014b50) {
      fail(path, `corrupt central directory entry ${i}`);
    }
    const method = cv.getUint16(p + 10, true);
    let compressedSize = cv.getUint32(p + 20, true);
    let size = cv.getUint32(p + 24, true);
    const nameLen = cv.getUint16(p + 28, true);
    const extraLen = cv.getUint16(p + 30, true);
    const commentLen = cv.getUint16(p + 32, true);
    let localOffset = cv.getUint32(p + 42, true);
    if (p + 46 + nameLen + extraLen > cdSize) fail(path, `corrupt central directory entry ${i}`);
    const name = new TextDecoder().decode(cd.subarray(p + 46, p + 46 + nameLen));
    // ZIP64 extra field (id 1): only the fields that overflowed, in this order.
    let e = p + 46 + nameLen;
    const eEnd = e + extraLen;
    while (e + 4 <= eEnd) {
      const id = cv.getUint16(e, true), len = cv.getUint16(e + 2, true);
      if (id === 1) {
        let q = e + 4;
        const next = () => {
          if (q + 8 > e + 4 + len) fail(path, `bad ZIP64 extra field for ${name}`);
          const v = Number(cv.getBigUint64(q, true));
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = next();
        if (compressedSize === 0xffffffff) compressedSize = next();
        if (localOffset === 0xffffffff) localOffset = next();
      }
      e += 4 + len;
    }
    entries.set(name, { name, method, size, compressedSize, localOffset });
    p += 46 + nameLen + extraLen + commentLen;
  }
  if (entries.size === 0) fail(path, "the zip archive is empty");
  return entries;
}

function dataOffset(file: RandomAccessFile, e: ZipEntry): number {
  if (e.method !== 0) {
    fail(
      file.path,
      `record ${e.name} is compressed (method ${e.method})`,
      "torch.save writes stored records; re-save the file with torch.save",
    );
  }
  const h = file.read(e.localOffset, 30, `local header of ${e.name}`);
  const hv = new DataView(h.buffer);
  if (hv.getUint32(0, true) !== 0x04034b50) fail(file.path, `bad local header for ${e.name}`);
  // The local extra field (torch's "FB" padding to 64-byte alignment) differs from the central one.
  return e.localOffset + 30 + hv.getUint16(26, true) + hv.getUint16(28, true);
}

function readRecord(file: RandomAccessFile, e: ZipEntry): Uint8Array {
  return file.read(dataOffset(file, e), e.size, e.name);
}

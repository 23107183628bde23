/**
 * A restricted unpickler for PyTorch checkpoints (dino-backbone.md §3.4).
 *
 * It understands the binary opcodes `torch.save` emits (protocol 2, plus the protocol 3–5 ones that show up
 * with `pickle_protocol=4`) and turns the few globals a checkpoint uses into inert tags: nothing is ever
 * imported, called or executed. `_rebuild_tensor_v2` becomes a {@link TensorRef} pointing at a storage
 * record; `OrderedDict` becomes a `Map`; `argparse.Namespace`, numpy scalars and similar harmless classes
 * become opaque {@link PyObject} stubs. Any other global, and any opcode outside the table, raises an
 * InputError naming the file, the opcode (or global) and its byte offset.
 *
 * Value model: None → null, bool, int → number (bigint beyond 2^53), float → number, str → string,
 * bytes → Uint8Array, list → array, tuple → {@link PyTuple}, dict/OrderedDict → Map.
 * @module
 */
import { InputError } from "../errors.ts";
import type { TensorDtype } from "./tensor_data.ts";

/** A Python tuple (kept distinct from lists so shapes and pids are recognisable). */
export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

/** A reference to a global that was allowed but not interpreted (e.g. `argparse.Namespace`). */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualname(): string {
    return `${this.module}.${this.name}`;
  }
}

/** An instance of an allowed-but-opaque class: its constructor args and BUILD state, never run. */
export class PyObject {
  state: PyValue = null;
  constructor(readonly cls: string, readonly args: PyValue[]) {}
}

/** A typed storage, as returned by the persistent-id loader: `data/<key>` in the archive. */
export class StorageRef {
  constructor(
    readonly dtype: TensorDtype,
    readonly key: string,
    readonly location: string,
    /** Elements (not bytes) in the storage. */
    readonly numel: number,
  ) {}
}

/** A tensor view of a storage: offset, size and stride all in elements. */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

/** Any value the unpickler produces. */
export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyValue[]
  | PyTuple
  | Map<PyValue, PyValue>
  | PyGlobal
  | PyObject
  | StorageRef
  | TensorRef;

/** torch storage class → element type (dino-backbone.md §3.4 table). */
const STORAGE_DTYPES: Record<string, TensorDtype> = {
  FloatStorage: "F32",
  HalfStorage: "F16",
  BFloat16Storage: "BF16",
  DoubleStorage: "F64",
  LongStorage: "I64",
  IntStorage: "I32",
  ShortStorage: "I16",
  CharStorage: "I8",
  ByteStorage: "U8",
  BoolStorage: "BOOL",
};

/** Globals that become inert opaque stubs (found in full training checkpoints; never interpreted). */
const OPAQUE_GLOBALS = new Set([
  "argparse.Namespace",
  "builtins.set",
  "builtins.frozenset",
  "builtins.slice",
  "builtins.complex",
  "builtins.bytearray",
  "torch.Size",
  "torch.device",
  "torch.dtype",
  "torch.float32",
  "numpy.dtype",
  "numpy.ndarray",
  "numpy.core.multiarray.scalar",
  "numpy.core.multiarray._reconstruct",
  "numpy._core.multiarray.scalar",
  "numpy._core.multiarray._reconstruct",
  "collections.defaultdict",
  "pathlib.PosixPath",
  "pathlib.WindowsPath",
]);

const TAG_ORDERED_DICT = "collections.OrderedDict";
const TAG_REBUILD_TENSOR = "torch._utils._rebuild_tensor_v2";
const PASSTHROUGH = new Set([
  "torch._utils._rebuild_parameter",
  "torch._utils._rebuild_parameter_with_state",
]);

/** Returns the storage for a persistent id, e.g. ('storage', FloatStorage, '0', 'cpu', 150). */
export type PersistentLoad = (pid: PyValue) => PyValue;

const MARK = Symbol("mark");
type StackItem = PyValue | typeof MARK;

/**
 * Unpickles `data` (the `data.pkl` record) without executing anything.
 * @param source file name used in error messages.
 * @param persistentLoad resolves BINPERSID ids (pth.ts builds StorageRefs).
 * @throws InputError naming `source`, the opcode and its offset for anything outside the allowed subset.
 */
export function unpickle(data: Uint8Array, source: string, persistentLoad: PersistentLoad): PyValue {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const dec = new TextDecoder("utf-8", { fatal: true });
  const stack: StackItem[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PyValue>();
  let pos = 0;
  let opPos = 0;
  let op = 0;

  const fail = (why: string): never => {
    throw new InputError(
      `Cannot read PyTorch checkpoint ${source}: ${why} (pickle opcode 0x${
        op.toString(16).padStart(2, "0")
      } ` +
        `at byte ${opPos} of data.pkl)`,
    );
  };
  const need = (n: number) => {
    if (pos + n > data.length) fail(`pickle is truncated (needs ${n} more bytes)`);
  };
  const u8 = () => (need(1), data[pos++]);
  const u16 = () => (need(2), pos += 2, dv.getUint16(pos - 2, true));
  const u32 = () => (need(4), pos += 4, dv.getUint32(pos - 4, true));
  const i32 = () => (need(4), pos += 4, dv.getInt32(pos - 4, true));
  const u64 = () => {
    need(8);
    const v = dv.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(data.length)) fail(`length ${v} exceeds the pickle size`);
    return Number(v);
  };
  const bytes = (n: number) => (need(n), pos += n, data.slice(pos - n, pos));
  const str = (n: number) => {
    const b = bytes(n);
    try {
      return dec.decode(b);
    } catch {
      return fail("invalid UTF-8 string");
    }
  };
  const line = () => {
    const end = data.indexOf(0x0a, pos);
    if (end < 0) fail("unterminated text line");
    const s = new TextDecoder().decode(data.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = (): PyValue => {
    if (stack.length === 0 || stack[stack.length - 1] === MARK) fail("stack underflow");
    return stack.pop() as PyValue;
  };
  const top = (): PyValue => {
    if (stack.length === 0) fail("stack underflow");
    const v = stack[stack.length - 1];
    if (v === MARK) fail("mark on top of stack");
    return v as PyValue;
  };
  const popMark = (): PyValue[] => {
    const m = marks.pop();
    if (m === undefined) fail("no MARK to pop to");
    const items = stack.splice(m!) as PyValue[];
    items.shift(); // the MARK itself
    return items;
  };
  const longLE = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const global = (module: string, name: string): PyValue => {
    const q = `${module}.${name}`;
    if (q === TAG_ORDERED_DICT || q === TAG_REBUILD_TENSOR || PASSTHROUGH.has(q) || OPAQUE_GLOBALS.has(q)) {
      return new PyGlobal(module, name);
    }
    if (module === "torch" && name in STORAGE_DTYPES) return new PyGlobal(module, name);
    if (module === "_codecs" && name === "encode") return new PyGlobal(module, name);
    return fail(`refusing unknown global ${q}; only plain tensor state dicts are supported`);
  };
  const call = (fn: PyValue, args: PyValue[]): PyValue => {
    if (!(fn instanceof PyGlobal)) return fail("REDUCE on a value that is not an allowed global");
    const q = fn.qualname;
    if (q === TAG_ORDERED_DICT) {
      const m = new Map<PyValue, PyValue>();
      const init = args[0];
      if (Array.isArray(init)) {
        for (const kv of init) {
          if (kv instanceof PyTuple && kv.items.length === 2) m.set(kv.items[0], kv.items[1]);
        }
      }
      return m;
    }
    if (q === TAG_REBUILD_TENSOR) {
      const [storage, offset, size, stride] = args;
      if (!(storage instanceof StorageRef)) return fail("_rebuild_tensor_v2 without a storage");
      const ints = (v: PyValue, what: string): number[] => {
        if (!(v instanceof PyTuple) || !v.items.every((x) => typeof x === "number" && Number.isInteger(x))) {
          return fail(`_rebuild_tensor_v2 ${what} is not a tuple of ints`);
        }
        return v.items as number[];
      };
      if (typeof offset !== "number") return fail("_rebuild_tensor_v2 offset is not an int");
      return new TensorRef(storage, offset, ints(size, "size"), ints(stride, "stride"));
    }
    if (PASSTHROUGH.has(q)) return args[0] ?? null;
    if (q === "_codecs.encode") {
      // Protocol-2 bytes: _codecs.encode(str, 'latin1') — code points are the byte values.
      const s = args[0];
      if (typeof s !== "string") return fail("_codecs.encode of a non-string");
      return Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
    }
    return new PyObject(q, args);
  };

  while (true) {
    opPos = pos;
    op = u8();
    switch (op) {
      case 0x80: // PROTO
        u8();
        break;
      case 0x95: // FRAME: an 8-byte length we do not need
        need(8);
        pos += 8;
        break;
      case 0x2e: { // STOP
        const v = pop();
        return v;
      }
      case 0x28: // MARK
        marks.push(stack.length);
        stack.push(MARK);
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x8a: // LONG1
        stack.push(longLE(bytes(u8())));
        break;
      case 0x8b: { // LONG4
        const n = u32();
        stack.push(longLE(bytes(n)));
        break;
      }
      case 0x47: // BINFLOAT (big-endian double)
        need(8);
        stack.push(dv.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x58: // BINUNICODE
        stack.push(str(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(str(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(str(u64()));
        break;
      case 0x42: // BINBYTES
        stack.push(bytes(u32()));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(bytes(u8()));
        break;
      case 0x8e: // BINBYTES8
        stack.push(bytes(u64()));
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new PyTuple([]));
        break;
      case 0x85: // TUPLE1
        stack.push(new PyTuple([pop()]));
        break;
      case 0x86: { // TUPLE2
        const b = pop(), a = pop();
        stack.push(new PyTuple([a, b]));
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop(), b = pop(), a = pop();
        stack.push(new PyTuple([a, b, c]));
        break;
      }
      case 0x74: // TUPLE
        stack.push(new PyTuple(popMark()));
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x61: { // APPEND
        const v = pop();
        const l = top();
        if (!Array.isArray(l)) fail("APPEND to a non-list");
        (l as PyValue[]).push(v);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        const l = top();
        // A loop, not push(...items): spreading a hostile 300k-item batch overflows the call stack.
        if (Array.isArray(l)) { for (const v of items) l.push(v); }
        else if (!(l instanceof PyObject)) fail("APPENDS to a non-list");
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x64: { // DICT
        const items = popMark();
        const m = new Map<PyValue, PyValue>();
        for (let i = 0; i + 1 < items.length; i += 2) m.set(items[i], items[i + 1]);
        stack.push(m);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop(), k = pop();
        const d = top();
        if (!(d instanceof Map)) fail("SETITEM on a non-dict");
        (d as Map<PyValue, PyValue>).set(k, v);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        const d = top();
        if (!(d instanceof Map)) fail("SETITEMS on a non-dict");
        if (items.length % 2) fail("SETITEMS with an odd number of items");
        for (let i = 0; i < items.length; i += 2) (d as Map<PyValue, PyValue>).set(items[i], items[i + 1]);
        break;
      }
      case 0x8f: // EMPTY_SET (as a list; sets never hold tensors in a checkpoint)
        stack.push([]);
        break;
      case 0x90: { // ADDITEMS
        const items = popMark();
        const s = top();
        if (!Array.isArray(s)) fail("ADDITEMS on a non-set");
        for (const v of items) (s as PyValue[]).push(v);
        break;
      }
      case 0x91: // FROZENSET
        stack.push(popMark());
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: { // LONG_BINGET
        const i = op === 0x68 ? u8() : u32();
        if (!memo.has(i)) fail(`memo entry ${i} is missing`);
        stack.push(memo.get(i)!);
        break;
      }
      case 0x63: { // GLOBAL
        const module = line();
        const name = line();
        stack.push(global(module, name));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop(), module = pop();
        if (typeof module !== "string" || typeof name !== "string") fail("STACK_GLOBAL needs two strings");
        stack.push(global(module as string, name as string));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const fn = pop();
        if (!(args instanceof PyTuple)) fail("REDUCE arguments are not a tuple");
        stack.push(call(fn, (args as PyTuple).items));
        break;
      }
      case 0x81: { // NEWOBJ
        const args = pop();
        const cls = pop();
        if (!(args instanceof PyTuple)) fail("NEWOBJ arguments are not a tuple");
        if (!(cls instanceof PyGlobal)) fail("NEWOBJ on a value that is not an allowed global");
        stack.push(new PyObject((cls as PyGlobal).qualname, (args as PyTuple).items));
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        const obj = top();
        if (obj instanceof PyObject) obj.state = state;
        // BUILD on an OrderedDict carries `_metadata` (module versions); it is dropped on purpose.
        else if (!(obj instanceof Map) && !(obj instanceof TensorRef)) fail("BUILD on an unsupported value");
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        stack.push(persistentLoad(pid));
        break;
      }
      default:
        fail("unsupported pickle opcode; only the subset torch.save writes is allowed");
    }
  }
}

/** Maps a storage class global (e.g. torch.FloatStorage) to its dtype, or null. */
export function storageDtype(v: PyValue): TensorDtype | null {
  if (v instanceof PyGlobal && v.module === "torch") return STORAGE_DTYPES[v.name] ?? null;
  return null;
}

/**
 * SIMD (f32x4) WebAssembly versions of the permutohedral lattice's splat / blur / slice loops
 * (permutohedral.ts, used by crf.ts; hp-method.md §8.5), emitted as bytecode by this file (no toolchain, no
 * binary blob). The loops are the same as `Permutohedral.compute`'s, four channels at a time over rows
 * padded to a multiple of 4 floats; crf_test.ts checks both give the same Q.
 *
 * Exported functions (all arguments i32; pointers are byte addresses in the module's memory):
 *   splat(N, d1, rowB, off, wts, inp, val, scale)   val[off[p,r]] += wts[p,r]·scale[p]·inp[p]
 *   blur(M, rowB, n1, n2, a, b)                      b[i+1] = a[i+1] + ½(a[n1[i]] + a[n2[i]])
 *   slice(N, d1, rowB, off, wts, val, out, scale, accumulate)
 *                                                    out[p] (+)= Σ_r wts[p,r]·scale[p]·val[off[p,r]]
 * @module
 */

// ---------------------------------------------------------------------------------------------------
// A tiny bytecode emitter

const I32 = 0x7f, F32 = 0x7d, V128 = 0x7b;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

/** Instruction helpers: each returns the bytes of one instruction. */
const op = {
  get: (i: number) => [0x20, ...uleb(i)],
  set: (i: number) => [0x21, ...uleb(i)],
  i32: (v: number) => [0x41, ...sleb(v)],
  f32: (v: number) => [0x43, ...new Uint8Array(new Float32Array([v]).buffer)],
  add: [0x6a],
  mul: [0x6c],
  geU: [0x4f],
  eqz: [0x45],
  i32load: [0x28, 2, 0],
  f32load: [0x2a, 2, 0],
  f32mul: [0x94],
  vload: [0xfd, ...uleb(0), 4, 0],
  vstore: [0xfd, ...uleb(11), 4, 0],
  vsplat: [0xfd, ...uleb(19)],
  vadd: [0xfd, ...uleb(228)],
  vmul: [0xfd, ...uleb(230)],
  brIf: (d: number) => [0x0d, ...uleb(d)],
  br: (d: number) => [0x0c, ...uleb(d)],
  ifVoid: [0x04, 0x40],
  end: [0x0b],
};

/** `for (v = 0; v < limit; v += step) body` as block/loop. */
function forLoop(v: number, limit: number[], step: number, body: number[]): number[] {
  return [
    ...op.i32(0),
    ...op.set(v),
    0x02,
    0x40,
    0x03,
    0x40,
    ...op.get(v),
    ...limit,
    ...op.geU,
    ...op.brIf(1),
    ...body,
    ...op.get(v),
    ...op.i32(step),
    ...op.add,
    ...op.set(v),
    ...op.br(0),
    ...op.end,
    ...op.end,
  ];
}

/** x[k] = x[k] + wv·y[k] over one row (k in bytes, step 16), into address `dst`. */
function axpyRow(k: number, rowB: number, dst: number, src: number, wv: number): number[] {
  return forLoop(k, op.get(rowB), 16, [
    ...op.get(dst),
    ...op.get(k),
    ...op.add,
    ...op.get(dst),
    ...op.get(k),
    ...op.add,
    ...op.vload,
    ...op.get(wv),
    ...op.get(src),
    ...op.get(k),
    ...op.add,
    ...op.vload,
    ...op.vmul,
    ...op.vadd,
    ...op.vstore,
  ]);
}

function funcBody(locals: Array<[number, number]>, code: number[]): number[] {
  const decl = [...uleb(locals.length), ...locals.flatMap(([n, t]) => [...uleb(n), t])];
  const body = [...decl, ...code, ...op.end];
  return [...uleb(body.length), ...body];
}

function buildModule(): Uint8Array {
  // splat(N0, d1 1, rowB 2, off 3, wts 4, inp 5, val 6, scale 7); locals p 8, r 9, idx4 10, o 11, ib 12, k 13,
  // s(f32) 14, wv(v128) 15
  const splat = funcBody([[6, I32], [1, F32], [1, V128]], [
    ...forLoop(8, op.get(0), 1, [
      // ib = inp + p*rowB ; s = scale[p]
      ...op.get(5),
      ...op.get(8),
      ...op.get(2),
      ...op.mul,
      ...op.add,
      ...op.set(12),
      ...op.get(7),
      ...op.get(8),
      ...op.i32(4),
      ...op.mul,
      ...op.add,
      ...op.f32load,
      ...op.set(14),
      ...forLoop(9, op.get(1), 1, [
        // idx4 = (p*d1 + r)*4
        ...op.get(8),
        ...op.get(1),
        ...op.mul,
        ...op.get(9),
        ...op.add,
        ...op.i32(4),
        ...op.mul,
        ...op.set(10),
        // o = val + off[idx]*rowB
        ...op.get(6),
        ...op.get(3),
        ...op.get(10),
        ...op.add,
        ...op.i32load,
        ...op.get(2),
        ...op.mul,
        ...op.add,
        ...op.set(11),
        // wv = splat(wts[idx]*s)
        ...op.get(4),
        ...op.get(10),
        ...op.add,
        ...op.f32load,
        ...op.get(14),
        ...op.f32mul,
        ...op.vsplat,
        ...op.set(15),
        ...axpyRow(13, 2, 11, 12, 15),
      ]),
    ]),
  ]);
  // blur(M 0, rowB 1, n1 2, n2 3, a 4, b 5); locals i 6, i4 7, ob 8, x 9, y 10, k 11, half(v128) 12
  const blur = funcBody([[6, I32], [1, V128]], [
    ...op.f32(0.5),
    ...op.vsplat,
    ...op.set(12),
    ...forLoop(6, op.get(0), 1, [
      ...op.get(6),
      ...op.i32(4),
      ...op.mul,
      ...op.set(7),
      ...op.get(6),
      ...op.i32(1),
      ...op.add,
      ...op.get(1),
      ...op.mul,
      ...op.set(8),
      ...op.get(4),
      ...op.get(2),
      ...op.get(7),
      ...op.add,
      ...op.i32load,
      ...op.get(1),
      ...op.mul,
      ...op.add,
      ...op.set(9),
      ...op.get(4),
      ...op.get(3),
      ...op.get(7),
      ...op.add,
      ...op.i32load,
      ...op.get(1),
      ...op.mul,
      ...op.add,
      ...op.set(10),
      ...forLoop(11, op.get(1), 16, [
        // address b + ob + k
        ...op.get(5),
        ...op.get(8),
        ...op.add,
        ...op.get(11),
        ...op.add,
        // a[ob+k]
        ...op.get(4),
        ...op.get(8),
        ...op.add,
        ...op.get(11),
        ...op.add,
        ...op.vload,
        // half * (a[x+k] + a[y+k])
        ...op.get(12),
        ...op.get(9),
        ...op.get(11),
        ...op.add,
        ...op.vload,
        ...op.get(10),
        ...op.get(11),
        ...op.add,
        ...op.vload,
        ...op.vadd,
        ...op.vmul,
        ...op.vadd,
        ...op.vstore,
      ]),
    ]),
  ]);
  // slice(N 0, d1 1, rowB 2, off 3, wts 4, val 5, out 6, scale 7, acc 8); locals p 9, r 10, idx4 11, o 12, ob 13,
  // k 14, s(f32) 15, wv(v128) 16, zero(v128) 17
  const slice = funcBody([[6, I32], [1, F32], [2, V128]], [
    ...op.f32(0),
    ...op.vsplat,
    ...op.set(17),
    ...forLoop(9, op.get(0), 1, [
      ...op.get(6),
      ...op.get(9),
      ...op.get(2),
      ...op.mul,
      ...op.add,
      ...op.set(13),
      ...op.get(7),
      ...op.get(9),
      ...op.i32(4),
      ...op.mul,
      ...op.add,
      ...op.f32load,
      ...op.set(15),
      ...op.get(8),
      ...op.eqz,
      ...op.ifVoid,
      ...forLoop(14, op.get(2), 16, [...op.get(13), ...op.get(14), ...op.add, ...op.get(17), ...op.vstore]),
      ...op.end,
      ...forLoop(10, op.get(1), 1, [
        ...op.get(9),
        ...op.get(1),
        ...op.mul,
        ...op.get(10),
        ...op.add,
        ...op.i32(4),
        ...op.mul,
        ...op.set(11),
        ...op.get(5),
        ...op.get(3),
        ...op.get(11),
        ...op.add,
        ...op.i32load,
        ...op.get(2),
        ...op.mul,
        ...op.add,
        ...op.set(12),
        ...op.get(4),
        ...op.get(11),
        ...op.add,
        ...op.f32load,
        ...op.get(15),
        ...op.f32mul,
        ...op.vsplat,
        ...op.set(16),
        ...axpyRow(14, 2, 13, 12, 16),
      ]),
    ]),
  ]);
  const fnType = (n: number) => [0x60, ...uleb(n), ...new Array(n).fill(I32), 0];
  const section = (id: number, content: number[]) => [id, ...uleb(content.length), ...content];
  const name = (s: string) => [...uleb(s.length), ...new TextEncoder().encode(s)];
  const bytes = [
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, [3, ...fnType(8), ...fnType(6), ...fnType(9)]),
    ...section(3, [3, 0, 1, 2]),
    ...section(5, [1, 0x00, ...uleb(1)]),
    ...section(7, [
      4,
      ...name("splat"),
      0,
      0,
      ...name("blur"),
      0,
      1,
      ...name("slice"),
      0,
      2,
      ...name("memory"),
      2,
      0,
    ]),
    ...section(10, [3, ...splat, ...blur, ...slice]),
  ];
  return new Uint8Array(bytes);
}

// ---------------------------------------------------------------------------------------------------
// Runtime

interface Exports {
  memory: WebAssembly.Memory;
  splat(
    N: number,
    d1: number,
    rowB: number,
    off: number,
    wts: number,
    inp: number,
    val: number,
    scale: number,
  ): void;
  blur(M: number, rowB: number, n1: number, n2: number, a: number, b: number): void;
  slice(
    N: number,
    d1: number,
    rowB: number,
    off: number,
    wts: number,
    val: number,
    out: number,
    scale: number,
    acc: number,
  ): void;
}

let compiled: WebAssembly.Module | null | undefined;

/** The compiled module, or null when this runtime has no WebAssembly SIMD. */
export function latticeWasmModule(): WebAssembly.Module | null {
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(buildModule() as BufferSource);
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

/** A wasm instance with a bump allocator over its memory (one per CRF run; freed with it). */
export class WasmArena {
  readonly ex: Exports;
  #top = 16;
  constructor(module: WebAssembly.Module, bytes: number) {
    this.ex = new WebAssembly.Instance(module).exports as unknown as Exports;
    const pages = Math.ceil((bytes + 1024) / 65536);
    this.ex.memory.grow(pages);
  }
  /** Reserves `bytes` (16-aligned) and returns the byte address. */
  alloc(bytes: number): number {
    const p = this.#top;
    this.#top += Math.ceil(bytes / 16) * 16;
    if (this.#top > this.ex.memory.buffer.byteLength) throw new RangeError("WasmArena: out of memory");
    return p;
  }
  f32(ptr: number, n: number): Float32Array {
    return new Float32Array(this.ex.memory.buffer, ptr, n);
  }
  i32(ptr: number, n: number): Int32Array {
    return new Int32Array(this.ex.memory.buffer, ptr, n);
  }
}

/**
 * GPU buffers with explicit lifetimes (style.md §2.4 rule 4, webgpu-notes.md §1.10).
 *
 * A `GpuTensor` owns one storage buffer and knows its shape and element type. Buffers are never left to
 * the garbage collector: whoever creates one calls `destroy()`, and `BufferArena` destroys a whole group
 * (a run, a test) at once and counts what is still alive so tests can assert nothing leaked.
 * @module
 */
import type { Gpu } from "./device.ts";
import { LimitError } from "../errors.ts";

export type DType = "f32" | "u32" | "i32" | "f16";

const BYTES: Record<DType, number> = { f32: 4, u32: 4, i32: 4, f16: 2 };

/** Bytes per element of `dtype`. */
export function bytesPer(dtype: DType): number {
  return BYTES[dtype];
}

/** Number of elements of a shape. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

const STORAGE_USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** A typed view of one storage buffer. */
export class GpuTensor {
  #destroyed = false;
  constructor(
    readonly arena: BufferArena,
    readonly buffer: GPUBuffer,
    readonly shape: readonly number[],
    readonly dtype: DType,
    readonly label: string,
  ) {}

  get size(): number {
    return numel(this.shape);
  }
  /** Bytes of payload (the buffer itself is padded to a multiple of 4 and at least 4). */
  get byteLength(): number {
    return numel(this.shape) * BYTES[this.dtype];
  }
  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** Uploads `data` (or a prefix at `elementOffset`). The write lands before the next submit. */
  write(data: Float32Array | Uint32Array | Int32Array | Uint16Array, elementOffset = 0): void {
    if (this.#destroyed) throw new ReferenceError(`write to destroyed tensor "${this.label}"`);
    if (data.length + elementOffset > this.size) {
      throw new RangeError(
        `write to "${this.label}": ${data.length} elements at offset ${elementOffset} exceed its ${this.size}`,
      );
    }
    const bytes = data.byteLength;
    // writeBuffer needs a multiple of 4 bytes; pad odd f16 writes.
    if (bytes % 4 !== 0) {
      const padded = new Uint8Array(bytes + 2);
      padded.set(new Uint8Array(data.buffer, data.byteOffset, bytes));
      this.arena.gpu.device.queue.writeBuffer(this.buffer, elementOffset * BYTES[this.dtype], padded);
    } else {
      this.arena.gpu.device.queue.writeBuffer(
        this.buffer,
        elementOffset * BYTES[this.dtype],
        data.buffer as ArrayBuffer,
        data.byteOffset,
        bytes,
      );
    }
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.arena.release(this);
    this.buffer.destroy();
  }
}

/** A group of tensors and uniform buffers destroyed together; counts live allocations. */
export class BufferArena {
  readonly #live = new Set<GpuTensor>();
  readonly #uniforms = new Set<GPUBuffer>();
  #bytes = 0;

  constructor(readonly gpu: Gpu, readonly name = "arena") {}

  #dummy: GpuTensor | null = null;

  /** A 4-byte tensor to fill bindings a kernel variant does not read. */
  dummy(): GpuTensor {
    if (!this.#dummy || this.#dummy.destroyed) this.#dummy = this.tensor([1], "f32", "dummy");
    return this.#dummy;
  }

  /** Live tensors plus uniform buffers. */
  get liveCount(): number {
    return this.#live.size + this.#uniforms.size;
  }
  /** Bytes held by live tensors. */
  get liveBytes(): number {
    return this.#bytes;
  }

  /**
   * Allocates a zero-filled tensor. Throws a RangeError naming the tensor when it exceeds the
   * per-binding limit (128 MiB on lavapipe): callers must chunk such work.
   */
  tensor(shape: readonly number[], dtype: DType = "f32", label = "tensor"): GpuTensor {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) {
        throw new TypeError(`tensor "${label}": bad shape [${shape.join(", ")}]`);
      }
    }
    const bytes = Math.max(4, Math.ceil((numel(shape) * BYTES[dtype]) / 4) * 4);
    const limit = this.gpu.limits.maxStorageBufferBindingSize;
    if (bytes > limit) {
      throw new LimitError(
        `tensor "${label}" [${shape.join(", ")}] ${dtype} needs ${bytes} bytes, over the adapter's ` +
          `${limit}-byte binding limit`,
      );
    }
    const buffer = this.gpu.device.createBuffer({ label, size: bytes, usage: STORAGE_USAGE });
    const t = new GpuTensor(this, buffer, [...shape], dtype, label);
    this.#live.add(t);
    this.#bytes += bytes;
    return t;
  }

  /** Allocates a tensor and uploads `data` into it. */
  upload(
    data: Float32Array | Uint32Array | Int32Array | Uint16Array,
    shape: readonly number[],
    dtype?: DType,
    label = "tensor",
  ): GpuTensor {
    const dt: DType = dtype ??
      (data instanceof Float32Array
        ? "f32"
        : data instanceof Uint32Array
        ? "u32"
        : data instanceof Int32Array
        ? "i32"
        : "f16");
    if (numel(shape) !== data.length) {
      throw new TypeError(`upload "${label}": ${data.length} values do not fill shape [${shape.join(", ")}]`);
    }
    const t = this.tensor(shape, dt, label);
    if (data.length > 0) t.write(data);
    return t;
  }

  /** A small uniform buffer holding `bytes` (padded to 16), written once now. Owned by this arena. */
  uniform(bytes: ArrayBuffer | ArrayBufferView, label = "uniform"): GPUBuffer {
    const view = ArrayBuffer.isView(bytes)
      ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      : new Uint8Array(bytes);
    const size = Math.max(16, Math.ceil(view.byteLength / 16) * 16);
    const buffer = this.gpu.device.createBuffer({
      label,
      size,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    const padded = new Uint8Array(size);
    padded.set(view);
    this.gpu.device.queue.writeBuffer(buffer, 0, padded);
    this.#uniforms.add(buffer);
    return buffer;
  }

  /** Destroys a uniform made by {@link uniform}. */
  releaseUniform(buffer: GPUBuffer): void {
    if (this.#uniforms.delete(buffer)) buffer.destroy();
  }

  /** @internal called by GpuTensor.destroy */
  release(t: GpuTensor): void {
    if (this.#live.delete(t)) this.#bytes -= Math.max(4, Math.ceil(t.byteLength / 4) * 4);
  }

  /** Destroys everything this arena still holds. */
  destroyAll(): void {
    for (const t of [...this.#live]) t.destroy();
    for (const u of this.#uniforms) u.destroy();
    this.#uniforms.clear();
  }
}

/** Packs a uniform struct of 32-bit fields: numbers tagged "u32" | "i32" | "f32". */
export function packUniform(fields: Array<[number, "u32" | "i32" | "f32"]>): ArrayBuffer {
  const buf = new ArrayBuffer(Math.max(16, Math.ceil((fields.length * 4) / 16) * 16));
  const dv = new DataView(buf);
  fields.forEach(([v, t], i) => {
    if (t === "f32") dv.setFloat32(i * 4, v, true);
    else if (t === "i32") dv.setInt32(i * 4, v, true);
    else dv.setUint32(i * 4, v, true);
  });
  return buf;
}

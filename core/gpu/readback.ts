/**
 * Reading GPU data back (webgpu-notes.md §1.9).
 *
 * Every map costs ≥ 10 ms and blocks the calling thread until the GPU is idle, so training code reads
 * metrics only every N steps through `StagingRing`: a copy into a staging buffer is recorded inside the
 * step's encoder, and the map happens later, outside the step. `readTensor` is for tests and tools.
 * @module
 */
import type { Gpu } from "./device.ts";
import { GpuTensor } from "./buffers.ts";
import type { StepRecorder } from "./step_recorder.ts";

type Typed = Float32Array | Uint32Array | Int32Array | Uint16Array;

function view(dtype: GpuTensor["dtype"], buf: ArrayBuffer, n: number): Typed {
  switch (dtype) {
    case "f32":
      return new Float32Array(buf, 0, n);
    case "u32":
      return new Uint32Array(buf, 0, n);
    case "i32":
      return new Int32Array(buf, 0, n);
    case "f16":
      return new Uint16Array(buf, 0, n);
  }
}

/** Reads a whole tensor back (submits its own copy; awaits the GPU). Not for use inside a step. */
export async function readTensor(gpu: Gpu, t: GpuTensor): Promise<Typed> {
  const size = Math.max(4, Math.ceil(t.byteLength / 4) * 4);
  const staging = gpu.device.createBuffer({
    label: `readback:${t.label}`,
    size,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  try {
    const enc = gpu.device.createCommandEncoder();
    enc.copyBufferToBuffer(t.buffer, 0, staging, 0, size);
    gpu.device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const copy = staging.getMappedRange().slice(0);
    staging.unmap();
    return view(t.dtype, copy, t.size);
  } finally {
    staging.destroy();
  }
}

/** Reads a float32 tensor back as Float32Array. */
export async function readF32(gpu: Gpu, t: GpuTensor): Promise<Float32Array> {
  if (t.dtype !== "f32") throw new TypeError(`readF32: tensor "${t.label}" is ${t.dtype}`);
  return await readTensor(gpu, t) as Float32Array;
}

/** Reads an f32 or f16 tensor back as Float32Array (f16 values widened exactly). */
export async function readFloat(gpu: Gpu, t: GpuTensor): Promise<Float32Array> {
  if (t.dtype === "f32") return await readTensor(gpu, t) as Float32Array;
  if (t.dtype !== "f16") throw new TypeError(`readFloat: tensor "${t.label}" is ${t.dtype}`);
  const bits = await readTensor(gpu, t) as Uint16Array;
  return Float32Array.from(new Float16Array(bits.buffer, bits.byteOffset, bits.length));
}

/**
 * A ring of staging buffers for periodic metrics. `capture()` records a copy into the step's encoder
 * (no await); `collect()` later maps the oldest capture — which, like every map, waits until the GPU is
 * idle (module comment), so the loop collects only every `log_every` steps. With ≥ 2 slots a step can
 * capture while an older capture still waits to be collected.
 */
export class StagingRing {
  readonly #slots: GPUBuffer[];
  readonly #pending: Array<{ slot: number; tag: number }> = [];
  #next = 0;

  constructor(readonly gpu: Gpu, readonly bytes: number, slots = 2) {
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    this.#slots = Array.from({ length: slots }, (_, i) =>
      gpu.device.createBuffer({
        label: `staging-ring-${i}`,
        size,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      }));
  }

  /** Slots waiting to be collected. */
  get pendingCount(): number {
    return this.#pending.length;
  }

  /** Tag of the oldest capture waiting to be collected (undefined when none). */
  get oldestTag(): number | undefined {
    return this.#pending[0]?.tag;
  }

  /**
   * Records a copy of `src` (first `bytes` bytes) into a free slot. Returns false when every slot is
   * still pending (the caller should collect first or skip this capture).
   */
  capture(rec: StepRecorder, src: GpuTensor | GPUBuffer, tag: number): boolean {
    if (this.#pending.length >= this.#slots.length) return false;
    const slot = this.#next;
    this.#next = (this.#next + 1) % this.#slots.length;
    rec.copy(src, this.#slots[slot], Math.ceil(this.bytes / 4) * 4);
    this.#pending.push({ slot, tag });
    return true;
  }

  /** Maps the oldest capture (after its step was submitted) and returns its bytes and tag. */
  async collect(): Promise<{ tag: number; data: ArrayBuffer } | null> {
    const p = this.#pending.shift();
    if (!p) return null;
    const buf = this.#slots[p.slot];
    await buf.mapAsync(GPUMapMode.READ);
    const data = buf.getMappedRange().slice(0);
    buf.unmap();
    return { tag: p.tag, data };
  }

  destroy(): void {
    for (const b of this.#slots) b.destroy();
  }
}

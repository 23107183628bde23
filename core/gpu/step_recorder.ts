/**
 * One command encoder per step (webgpu-notes.md §1.11, §2.4).
 *
 * Dispatches are recorded in order into compute passes of one encoder; copies and clears close the open
 * pass. `submit()` finishes the encoder and submits once. Nothing here awaits the GPU.
 * Optional GPU timing: `mark(name)` writes a timestamp between passes when the device has
 * `timestamp-query`; the resolved values are copied out with the rest of the metrics readback.
 * Profiling (benches only): with `profile`, every dispatch gets its own compute pass whose start and end
 * timestamps go to query slots 2i and 2i+1; {@link profiled} names the dispatches in that order.
 * @module
 */
import type { Gpu } from "./device.ts";
import { GpuTensor } from "./buffers.ts";
import type { Dispatch } from "./pipelines.ts";

type Buf = GpuTensor | GPUBuffer;
const raw = (b: Buf): GPUBuffer => b instanceof GpuTensor ? b.buffer : b;

/** Records a sequence of dispatches, copies and clears; submits them with one `queue.submit`. */
export class StepRecorder {
  #encoder: GPUCommandEncoder;
  #pass: GPUComputePassEncoder | null = null;
  #dispatches = 0;
  #submitted = false;
  readonly #profile: GPUQuerySet | null;
  readonly #profiled: string[] = [];

  constructor(readonly gpu: Gpu, label = "step", opts: { profile?: GPUQuerySet } = {}) {
    this.#encoder = gpu.device.createCommandEncoder({ label });
    this.#profile = opts.profile ?? null;
  }

  /** With `profile`: the label of each dispatch (Dispatch.label, else its kernel's), in query order. */
  get profiled(): readonly string[] {
    return this.#profiled;
  }

  /** Dispatches recorded so far. */
  get dispatchCount(): number {
    return this.#dispatches;
  }

  #computePass(): GPUComputePassEncoder {
    if (!this.#pass) this.#pass = this.#encoder.beginComputePass();
    return this.#pass;
  }

  #endPass(): void {
    if (this.#pass) {
      this.#pass.end();
      this.#pass = null;
    }
  }

  /** Appends dispatches (in order; WebGPU orders storage writes between dispatches of a pass). */
  dispatch(...ds: Dispatch[]): this {
    this.#checkOpen();
    if (this.#profile) return this.#dispatchTimed(this.#profile, ds);
    const pass = this.#computePass();
    for (const d of ds) {
      pass.setPipeline(d.kernel.pipeline);
      pass.setBindGroup(0, d.bindGroup);
      pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
      this.#dispatches++;
    }
    return this;
  }

  #dispatchTimed(querySet: GPUQuerySet, ds: Dispatch[]): this {
    this.#endPass();
    for (const d of ds) {
      const i = this.#profiled.length;
      if (2 * i + 2 > querySet.count) {
        throw new RangeError(`StepRecorder: profile query set holds ${querySet.count / 2} dispatches`);
      }
      const pass = this.#encoder.beginComputePass({
        timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
      });
      pass.setPipeline(d.kernel.pipeline);
      pass.setBindGroup(0, d.bindGroup);
      pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
      pass.end();
      this.#profiled.push(d.label ?? d.kernel.label);
      this.#dispatches++;
    }
    return this;
  }

  /** Copies `size` bytes (default: all of `src`) between buffers. */
  copy(src: Buf, dst: Buf, size?: number, srcOffset = 0, dstOffset = 0): this {
    this.#checkOpen();
    this.#endPass();
    const n = size ?? (src instanceof GpuTensor ? Math.ceil(src.byteLength / 4) * 4 : src.size);
    this.#encoder.copyBufferToBuffer(raw(src), srcOffset, raw(dst), dstOffset, n);
    return this;
  }

  /** Zero-fills a buffer (or a byte range of it). */
  clear(buf: Buf, offset = 0, size?: number): this {
    this.#checkOpen();
    this.#endPass();
    this.#encoder.clearBuffer(raw(buf), offset, size);
    return this;
  }

  /** Writes a GPU timestamp into `querySet[index]` between passes. */
  timestamp(querySet: GPUQuerySet, index: number): this {
    this.#checkOpen();
    this.#endPass();
    // writeTimestamp is only available outside passes through a zero-work pass.
    const pass = this.#encoder.beginComputePass({
      timestampWrites: { querySet, beginningOfPassWriteIndex: index },
    });
    pass.end();
    return this;
  }

  /** Resolves timestamps into `dst` (a QUERY_RESOLVE buffer). */
  resolveTimestamps(querySet: GPUQuerySet, count: number, dst: GPUBuffer): this {
    this.#checkOpen();
    this.#endPass();
    this.#encoder.resolveQuerySet(querySet, 0, count, dst, 0);
    return this;
  }

  /** Finishes the encoder and submits it. The recorder cannot be used afterwards. */
  submit(): void {
    this.#checkOpen();
    this.#endPass();
    this.gpu.device.queue.submit([this.#encoder.finish()]);
    this.#submitted = true;
  }

  #checkOpen(): void {
    if (this.#submitted) throw new Error("StepRecorder: already submitted; make a new recorder per step");
  }
}

/**
 * Shader compilation, explicit bind-group layouts and the pipeline cache.
 *
 * WGSL lives in shaders/<folder>/*.wgsl and is text-imported by each kernel wrapper (so `deno compile`
 * embeds it); `#include` lines pull in fragments of shaders/include/ (wgsl.ts). Compile errors name the file
 * the line was written in, with line:column, and quote it. Pipelines are cached per device by (file,
 * variant, entry point, override constants), so building a kernel twice is free.
 * Bind groups are cached per kernel by the identity, offset and size of each bound buffer (a bounded
 * LRU: buffers get fresh ids, so an entry for a destroyed buffer is never hit and ages out).
 * @module
 */
import type { Gpu } from "./device.ts";
import { GpuTensor } from "./buffers.ts";
import { type AssembledWgsl, assembleWgsl, sourceLocation } from "./wgsl.ts";

/** How a kernel sees one binding (all in group 0, binding index = position). */
export type BindingKind = "read" | "rw" | "uniform";

/** What identifies a compiled kernel. */
export interface KernelSpec {
  /** Shader path relative to shaders/, e.g. "kernels/gemm.wgsl" — used in error messages and as cache key. */
  file: string;
  /** Its text, `#include` lines not yet inlined. */
  source: string;
  /** A generated variant of the file's text (e.g. gemm's f16 storage), named in labels and the cache key. */
  variant?: string;
  entryPoint?: string;
  bindings: BindingKind[];
  /** WGSL `override` constants. */
  constants?: Record<string, number>;
  /** Fragments `#include` lines may name (default: shaders/include/; tests pass their own). */
  fragments?: Readonly<Record<string, string>>;
}

/** A compiled compute pipeline plus its bind-group layout. */
export interface Kernel {
  spec: KernelSpec;
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  label: string;
}

/** A shader failed to compile or a pipeline failed validation. */
export class ShaderError extends Error {
  override name = "ShaderError";
}

const caches = new WeakMap<GPUDevice, Map<string, Promise<Kernel>>>();

function cacheKey(spec: KernelSpec): string {
  const c = spec.constants
    ? Object.entries(spec.constants).sort(([a], [b]) => a < b ? -1 : 1).map(([k, v]) => `${k}=${v}`).join(",")
    : "";
  return `${spec.file}#${spec.variant ?? ""}#${spec.entryPoint ?? "main"}#${c}#${spec.bindings.join(",")}`;
}

function formatMessages(wgsl: AssembledWgsl, messages: readonly GPUCompilationMessage[]): string {
  const lines = wgsl.code.split("\n");
  return messages.map((m) => {
    const where = `${sourceLocation(wgsl, m.lineNum)}:${m.linePos}`;
    const text = lines[m.lineNum - 1];
    return `${where} ${m.type}: ${m.message}` + (text !== undefined ? `\n    ${text.trim()}` : "");
  }).join("\n");
}

/**
 * Compiles (or fetches from the cache) the kernel described by `spec`.
 * @throws ShaderError naming the shader file and line on a compile or validation error.
 */
export function getKernel(gpu: Gpu, spec: KernelSpec): Promise<Kernel> {
  let cache = caches.get(gpu.device);
  if (!cache) {
    cache = new Map();
    caches.set(gpu.device, cache);
  }
  const key = cacheKey(spec);
  let k = cache.get(key);
  if (!k) {
    k = buildKernel(gpu, spec);
    cache.set(key, k);
    k.catch(() => cache!.delete(key));
  }
  return k;
}

async function buildKernel(gpu: Gpu, spec: KernelSpec): Promise<Kernel> {
  const { device } = gpu;
  const name = spec.variant ? `${spec.file} (${spec.variant})` : spec.file;
  const label = `${name}:${spec.entryPoint ?? "main"}`;
  let wgsl: AssembledWgsl;
  try {
    wgsl = assembleWgsl(spec.file, spec.source, spec.fragments);
  } catch (err) {
    throw new ShaderError(`Cannot assemble shaders/${name}: ${(err as Error).message}`);
  }
  device.pushErrorScope("validation");
  const module = device.createShaderModule({ label: name, code: wgsl.code });
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === "error");
  if (errors.length) {
    await device.popErrorScope();
    throw new ShaderError(`Cannot compile shaders/${name}:\n${formatMessages(wgsl, errors)}`);
  }
  const layout = device.createBindGroupLayout({
    label,
    entries: spec.bindings.map((kind, binding) => ({
      binding,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: kind === "uniform" ? "uniform" : kind === "read" ? "read-only-storage" : "storage" },
    })),
  });
  const pipeline = device.createComputePipeline({
    label,
    layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
    compute: { module, entryPoint: spec.entryPoint ?? "main", constants: spec.constants },
  });
  const err = await device.popErrorScope();
  if (err) throw new ShaderError(`Cannot build pipeline shaders/${name} (${label}): ${err.message}`);
  if (Deno.env.get("HPSEG_DEBUG") === "2") {
    console.error(
      `[shader] ${label} bindings=${spec.bindings.join(",")} constants=${
        JSON.stringify(spec.constants ?? {})
      }`,
    );
  }
  return { spec, pipeline, layout, label };
}

/** A buffer, a tensor, or a window of either bound to one binding. */
export type Resource = GpuTensor | GPUBuffer | {
  buffer: GPUBuffer | GpuTensor;
  offset: number;
  size: number;
};

/** Bind groups kept per kernel; the oldest is dropped beyond this. */
export const BIND_GROUP_CACHE_SIZE = 256;

const bufferIds = new WeakMap<GPUBuffer, number>();
let nextBufferId = 1;
const bindGroupCaches = new WeakMap<Kernel, Map<string, GPUBindGroup>>();

function bufferId(b: GPUBuffer): number {
  let id = bufferIds.get(b);
  if (id === undefined) bufferIds.set(b, id = nextBufferId++);
  return id;
}

/** A resource as a bind-group entry resource (whole buffer, or a window of it). */
function entryOf(r: Resource): { buffer: GPUBuffer; offset?: number; size?: number } {
  if (r instanceof GpuTensor) return { buffer: r.buffer };
  if ("offset" in r && "size" in r && !(r instanceof GPUBuffer)) {
    const buffer = r.buffer instanceof GpuTensor ? r.buffer.buffer : r.buffer;
    return { buffer, offset: r.offset, size: r.size };
  }
  return { buffer: r as GPUBuffer };
}

/**
 * The bind group for `kernel` over resources in binding order, from the kernel's cache when the same
 * buffers (and windows) were bound before. Creating one costs ~10 µs (webgpu-notes.md §1.11); prepared
 * dispatches build theirs once, and the cache makes re-preparing (e.g. every evaluation) free as well.
 */
export function bindGroup(gpu: Gpu, kernel: Kernel, resources: Resource[]): GPUBindGroup {
  if (resources.length !== kernel.spec.bindings.length) {
    throw new TypeError(
      `${kernel.label}: ${resources.length} resources given for ${kernel.spec.bindings.length} bindings`,
    );
  }
  const entries = resources.map(entryOf);
  const key = entries.map((e) => `${bufferId(e.buffer)}:${e.offset ?? ""}:${e.size ?? ""}`).join(",");
  let cache = bindGroupCaches.get(kernel);
  if (!cache) bindGroupCaches.set(kernel, cache = new Map());
  const hit = cache.get(key);
  if (hit) {
    // Refresh its place in the LRU order.
    cache.delete(key);
    cache.set(key, hit);
    return hit;
  }
  const group = gpu.device.createBindGroup({
    label: kernel.label,
    layout: kernel.layout,
    entries: entries.map((resource, binding) => ({ binding, resource })),
  });
  cache.set(key, group);
  if (cache.size > BIND_GROUP_CACHE_SIZE) cache.delete(cache.keys().next().value!);
  return group;
}

/** One recorded dispatch: a pipeline, its bind group and the grid. */
export interface Dispatch {
  kernel: Kernel;
  bindGroup: GPUBindGroup;
  workgroups: readonly [number, number, number];
  /** What the dispatch does in its model (e.g. "qkv"); profiles group by it, else by the kernel label. */
  label?: string;
}

/**
 * Splits `count` workgroups into a 2-D grid that respects the 65,535-per-dimension limit.
 * Shaders recover the linear index as `wid.x + wid.y * num_workgroups.x`.
 */
export function grid1d(count: number, maxPerDim = 65535): [number, number, number] {
  if (count <= maxPerDim) return [Math.max(1, count), 1, 1];
  const y = Math.ceil(count / maxPerDim);
  return [Math.ceil(count / y), y, 1];
}

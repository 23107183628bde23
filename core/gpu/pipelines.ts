/**
 * Shader compilation, explicit bind-group layouts and the pipeline cache.
 *
 * WGSL lives in shaders/*.wgsl and is text-imported by each kernel wrapper (so `deno compile` embeds it).
 * Compile errors name the shader file with line:column and quote the offending line. Pipelines are
 * cached per device by (file, entry point, override constants), so building a kernel twice is free.
 * @module
 */
import type { Gpu } from "./device.ts";
import { GpuTensor } from "./buffers.ts";

/** How a kernel sees one binding (all in group 0, binding index = position). */
export type BindingKind = "read" | "rw" | "uniform";

/** What identifies a compiled kernel. */
export interface KernelSpec {
  /** Shader file name, e.g. "gemm.wgsl" — used in error messages and as cache key. */
  file: string;
  source: string;
  entryPoint?: string;
  bindings: BindingKind[];
  /** WGSL `override` constants. */
  constants?: Record<string, number>;
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
  return `${spec.file}#${spec.entryPoint ?? "main"}#${c}#${spec.bindings.join(",")}`;
}

function formatMessages(file: string, source: string, messages: readonly GPUCompilationMessage[]): string {
  const lines = source.split("\n");
  return messages.map((m) => {
    const where = `shaders/${file}:${m.lineNum}:${m.linePos}`;
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
  const label = `${spec.file}:${spec.entryPoint ?? "main"}`;
  device.pushErrorScope("validation");
  const module = device.createShaderModule({ label: spec.file, code: spec.source });
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === "error");
  if (errors.length) {
    await device.popErrorScope();
    throw new ShaderError(
      `Cannot compile shaders/${spec.file}:\n${formatMessages(spec.file, spec.source, errors)}`,
    );
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
  if (err) throw new ShaderError(`Cannot build pipeline shaders/${spec.file} (${label}): ${err.message}`);
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

/**
 * Builds a bind group for `kernel` from resources in binding order. Build them once and reuse:
 * a bind group costs ~10 µs to create (webgpu-notes.md §1.11).
 */
export function bindGroup(gpu: Gpu, kernel: Kernel, resources: Resource[]): GPUBindGroup {
  if (resources.length !== kernel.spec.bindings.length) {
    throw new TypeError(
      `${kernel.label}: ${resources.length} resources given for ${kernel.spec.bindings.length} bindings`,
    );
  }
  return gpu.device.createBindGroup({
    label: kernel.label,
    layout: kernel.layout,
    entries: resources.map((r, binding) => {
      if (r instanceof GpuTensor) return { binding, resource: { buffer: r.buffer } };
      if ("offset" in r && "size" in r && !(r instanceof GPUBuffer)) {
        const buf = r.buffer instanceof GpuTensor ? r.buffer.buffer : r.buffer;
        return { binding, resource: { buffer: buf, offset: r.offset, size: r.size } };
      }
      return { binding, resource: { buffer: r as GPUBuffer } };
    }),
  });
}

/** One recorded dispatch: a pipeline, its bind group and the grid. */
export interface Dispatch {
  kernel: Kernel;
  bindGroup: GPUBindGroup;
  workgroups: readonly [number, number, number];
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

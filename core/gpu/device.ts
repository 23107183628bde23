/**
 * Adapter and device selection (webgpu-notes.md §1.4–§1.8).
 *
 * - A real GPU is preferred; a software adapter (lavapipe/llvmpipe) is used when nothing else exists and
 *   is reported as such in the one start-up line.
 * - `--backend` / `HPSEG_BACKEND` pick the wgpu backend (it is forwarded as DENO_WEBGPU_BACKEND, which
 *   Deno reads when the first adapter is requested, so it must be set before that).
 * - The device asks for the adapter's own limits (a bare requestDevice gets the small spec defaults) and
 *   for the optional features we can use (shader-f16, timestamp-query, subgroups) when present.
 * @module
 */

/** No WebGPU adapter could be found. Tests turn this into a skip unless WEBGPU_REQUIRE=1. */
export class NoAdapterError extends Error {
  override name = "NoAdapterError";
  readonly userFacing = true;
  constructor(detail = "") {
    super(
      "No WebGPU adapter found" + (detail ? ` (${detail})` : "") +
        ". On a machine without a GPU install the software adapter: " +
        "`apt-get install -y mesa-vulkan-drivers libvulkan1`, then set DENO_WEBGPU_BACKEND=vulkan XDG_RUNTIME_DIR=/tmp.",
    );
  }
}

/** Options for {@link openGpu}. */
export interface GpuOptions {
  /** wgpu backend list, e.g. "vulkan" or "vulkan,gl". Default: HPSEG_BACKEND, then Deno's default. */
  backend?: string;
  /** Refuse a software adapter (for benchmarks that must measure a real GPU). */
  requireHardware?: boolean;
  /** Print the one adapter line to stderr (default true). */
  announce?: boolean;
  /** Ask for the `subgroups` feature when the adapter has it (default false: kernels must not need it). */
  subgroups?: boolean;
}

/** An opened device plus what we know about it. */
export interface Gpu {
  adapter: GPUAdapter;
  device: GPUDevice;
  /** Adapter description, e.g. "NVIDIA H100 80GB HBM3" or "llvmpipe (LLVM 15.0.6, 256 bits)". */
  description: string;
  isSoftware: boolean;
  hasF16: boolean;
  hasTimestamps: boolean;
  hasSubgroups: boolean;
  limits: GPUSupportedLimits;
  /** Uncaptured errors seen so far (validation errors outside error scopes). */
  errors: string[];
  destroy(): void;
}

const LIMITS_WANTED = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxStorageBuffersPerShaderStage",
  "maxComputeWorkgroupsPerDimension",
  "maxUniformBufferBindingSize",
  "maxBindGroups",
] as const;

/** The backend names `--backend` and HPSEG_BACKEND accept (a comma list of them). */
export const BACKEND_LIST = /^(vulkan|gl|metal|dx12)(,(vulkan|gl|metal|dx12))*$/;

/** Sets DENO_WEBGPU_BACKEND from `backend` or HPSEG_BACKEND; returns the backend list in force, if any. */
function setBackend(backend: string | undefined): string | undefined {
  const fromEnv = backend === undefined;
  const chosen = backend ?? Deno.env.get("HPSEG_BACKEND");
  if (chosen !== undefined && chosen !== "" && !BACKEND_LIST.test(chosen)) {
    // Otherwise wgpu finds no adapter and the message would wrongly suggest installing drivers.
    throw new BadBackendError(
      `${
        fromEnv ? "HPSEG_BACKEND" : "backend"
      } must be a comma list of vulkan, gl, metal, dx12; got "${chosen}"`,
    );
  }
  if (chosen) Deno.env.set("DENO_WEBGPU_BACKEND", chosen);
  if (!Deno.env.get("XDG_RUNTIME_DIR")) Deno.env.set("XDG_RUNTIME_DIR", Deno.env.get("TMPDIR") ?? "/tmp");
  return Deno.env.get("DENO_WEBGPU_BACKEND") || undefined;
}

/** A backend list that names no backend, or only a software rasteriser behind OpenGL. One line. */
export class BadBackendError extends Error {
  override name = "BadBackendError";
  readonly userFacing = true;
}

/**
 * Opens the best adapter and a device with its limits. Throws {@link NoAdapterError} when there is none.
 * @returns the device handle; call `destroy()` when done.
 */
export async function openGpu(options: GpuOptions = {}): Promise<Gpu> {
  const backends = setBackend(options.backend);
  if (!("gpu" in navigator) || !navigator.gpu) throw new NoAdapterError("navigator.gpu is missing");
  let adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new NoAdapterError(backends ? `for backend ${backends}` : "");
  const info = adapter.info;
  const isSoftware = info.isFallbackAdapter === true ||
    /llvmpipe|lavapipe|swiftshader/i.test(info.description);
  if (isSoftware && backends === "gl") {
    // Measured: a features job of 0.5 s on lavapipe/Vulkan still ran after 120 s at
    // 100 % CPU on llvmpipe/GL, whose compute shaders are far slower. Refuse instead of spinning.
    throw new BadBackendError(
      `backend gl found only the software rasteriser ${info.description}, whose OpenGL compute path is ` +
        "impractically slow (a job of 0.5 s through Vulkan still ran after 2 minutes); use --backend vulkan " +
        "(lavapipe: apt-get install -y mesa-vulkan-drivers libvulkan1)",
    );
  }
  if (options.requireHardware && isSoftware) {
    throw new NoAdapterError(`only a software adapter is available: ${info.description}`);
  }
  const requiredLimits: Record<string, number> = {};
  for (const key of LIMITS_WANTED) requiredLimits[key] = adapter.limits[key];
  const requiredFeatures: GPUFeatureName[] = [];
  for (const f of ["shader-f16", "timestamp-query"] as GPUFeatureName[]) {
    if (adapter.features.has(f)) requiredFeatures.push(f);
  }
  let device: GPUDevice;
  let hasSubgroups = false;
  if (options.subgroups) {
    // `subgroups` is not listed in adapter.features but requesting it works (webgpu-notes.md §1.7).
    try {
      device = await adapter.requestDevice({
        requiredLimits,
        requiredFeatures: [...requiredFeatures, "subgroups" as GPUFeatureName],
      });
      hasSubgroups = true;
    } catch {
      device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
    }
  } else {
    device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  }
  const errors: string[] = [];
  device.addEventListener("uncapturederror", (ev) => {
    const e = (ev as GPUUncapturedErrorEvent).error;
    errors.push(e.message);
    console.error(`webgpu: ${e.message}`);
  });
  const gpu: Gpu = {
    adapter,
    device,
    description: info.description || `vendor ${info.vendor}`,
    isSoftware,
    hasF16: device.features.has("shader-f16"),
    hasTimestamps: device.features.has("timestamp-query"),
    hasSubgroups,
    limits: device.limits,
    errors,
    destroy: () => device.destroy(),
  };
  if (options.announce ?? true) console.error(describeGpu(gpu));
  return gpu;
}

/** The one start-up line naming the adapter, e.g. "webgpu: llvmpipe (…) [software fallback]". */
export function describeGpu(gpu: Gpu): string {
  const feats = [
    gpu.hasF16 ? "f16" : "",
    gpu.hasTimestamps ? "timestamps" : "",
    gpu.hasSubgroups ? "subgroups" : "",
  ]
    .filter(Boolean).join(", ");
  const kind = gpu.isSoftware ? " [software fallback: correctness only, slow]" : "";
  return `webgpu: ${gpu.description}${kind}${feats ? ` (${feats})` : ""}`;
}

/**
 * Shared test helpers: GPU gating, seeded random data, tolerance checks against float64 references, and
 * InputError checks (the user-facing error class, core/errors.ts).
 *
 * GPU tests skip visibly when no adapter exists; WEBGPU_REQUIRE=1 (set by .ci/run) turns that into a
 * failure. One device is opened per test file and destroyed by the last test using it.
 * @module
 */
import assert from "node:assert/strict";
import { type Gpu, NoAdapterError, openGpu } from "../core/gpu/device.ts";
import { BufferArena } from "../core/gpu/buffers.ts";
import { InputError } from "../core/errors.ts";

let gpuPromise: Promise<Gpu | null> | null = null;
let announced = false;

/** Opens (once per test file) the WebGPU device, or returns null when there is none and it is not required. */
export function testGpu(): Promise<Gpu | null> {
  if (!gpuPromise) {
    gpuPromise = (async () => {
      try {
        const gpu = await openGpu({ announce: false });
        if (!announced) {
          announced = true;
          console.error(`[tests] adapter: ${gpu.description}${gpu.isSoftware ? " (software fallback)" : ""}`);
        }
        return gpu;
      } catch (err) {
        if (err instanceof NoAdapterError && Deno.env.get("WEBGPU_REQUIRE") !== "1") {
          console.error(`[tests] SKIP GPU tests: ${err.message}`);
          return null;
        }
        throw err;
      }
    })();
  }
  return gpuPromise;
}

/** Context handed to a GPU test: the device and an arena destroyed after the test. */
export interface GpuTestContext {
  gpu: Gpu;
  arena: BufferArena;
}

/**
 * Registers a Deno test that needs WebGPU. Skips (with a message) when no adapter exists unless
 * WEBGPU_REQUIRE=1. Checks that the test released all its buffers and raised no uncaptured GPU error.
 */
export function gpuTest(name: string, fn: (ctx: GpuTestContext) => Promise<void>): void {
  Deno.test({
    name,
    // GPU objects resolve promises on Deno's internal poll loop; the sanitizers misreport those.
    sanitizeOps: false,
    sanitizeResources: false,
    async fn(t) {
      const gpu = await testGpu();
      if (!gpu) {
        console.error(`[tests] skipped "${name}": no WebGPU adapter`);
        return;
      }
      const arena = new BufferArena(gpu, name);
      const errorsBefore = gpu.errors.length;
      try {
        await fn({ gpu, arena });
      } finally {
        arena.destroyAll();
      }
      if (gpu.errors.length > errorsBefore) {
        throw new Error(
          `uncaptured WebGPU errors in "${t.name}": ${gpu.errors.slice(errorsBefore).join("; ")}`,
        );
      }
    },
  });
}

/**
 * Registers a Deno test that needs a WebGPU adapter but brings its own device (a command run in process or
 * as a subprocess): skipped with a message when there is none (a failure under WEBGPU_REQUIRE=1, through
 * {@link testGpu}).
 */
export function gpuCommandTest(name: string, fn: () => Promise<void>): void {
  Deno.test({
    name,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      if (!(await testGpu())) {
        console.error(`[tests] skipped "${name}": no WebGPU adapter`);
        return;
      }
      await fn();
    },
  });
}

/** mulberry32: a small seeded PRNG returning floats in [0, 1). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n uniform values in [lo, hi) as float32. */
export function randomF32(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

/** n standard-normal values as float32 (Box–Muller). */
export function randnF32(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(r(), 1e-12), v = r();
    const m = Math.sqrt(-2 * Math.log(u));
    out[i] = scale * m * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = scale * m * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/**
 * Asserts |actual − expected| ≤ atol + rtol·|expected| elementwise. On failure the message names the
 * first mismatching index, the number of mismatches and the max abs error (llm.c's validate_result).
 * @returns the max abs error, for logging.
 */
export function assertAllClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  { rtol = 1e-5, atol = 1e-6, label = "values" }: { rtol?: number; atol?: number; label?: string } = {},
): number {
  if (actual.length !== expected.length) {
    throw new Error(`${label}: length ${actual.length} differs from expected ${expected.length}`);
  }
  let maxErr = 0, bad = 0, first = -1;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i], e = expected[i];
    const err = Math.abs(a - e);
    if (!(err <= atol + rtol * Math.abs(e))) { // also catches NaN
      bad++;
      if (first < 0) first = i;
    }
    if (err > maxErr || Number.isNaN(err)) maxErr = Number.isNaN(err) ? Infinity : err;
  }
  if (bad > 0) {
    throw new Error(
      `${label}: ${bad}/${actual.length} outside atol=${atol} rtol=${rtol}; first at [${first}] ` +
        `got ${actual[first]} expected ${expected[first]}; max abs error ${maxErr}`,
    );
  }
  return maxErr;
}

/** Awkward sizes that are not tile multiples (webgpu-notes.md §4, issue #2). */
export const AWKWARD_SIZES = [1, 3, 17, 197, 785, 1601] as const;

/** Checks that `err` is an InputError whose message contains every string part and matches every RegExp. */
function checkInputError(err: unknown, parts: (string | RegExp)[]): void {
  assert.ok(err instanceof InputError, `expected InputError, got ${err}`);
  for (const p of parts) {
    if (typeof p === "string") assert.ok(err.message.includes(p), `"${err.message}" lacks "${p}"`);
    else assert.match(err.message, p);
  }
}

/** Asserts that `fn` throws an InputError naming every part (substring or RegExp) in its message. */
export function assertInputError(fn: () => unknown, ...parts: (string | RegExp)[]): void {
  assert.throws(fn, (err: unknown) => {
    checkInputError(err, parts);
    return true;
  });
}

/** Asserts that `p` rejects with an InputError naming every part (substring or RegExp) in its message. */
export async function assertRejectsInputError(
  p: Promise<unknown>,
  ...parts: (string | RegExp)[]
): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    checkInputError(err, parts);
    return true;
  });
}

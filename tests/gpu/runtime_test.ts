/**
 * The GPU runtime (core/gpu): one submit per StepRecorder with dispatches applied in order, StagingRing
 * capture/collect without awaits inside the step, BufferArena live counts returning to zero, ShaderError
 * naming the shader file and line, the pipeline and bind-group caches, and grid1d.
 * @module
 */
import assert from "node:assert/strict";
import { BufferArena, packUniform } from "../../core/gpu/buffers.ts";
import {
  BIND_GROUP_CACHE_SIZE,
  bindGroup,
  getKernel,
  grid1d,
  ShaderError,
} from "../../core/gpu/pipelines.ts";
import { readF32, StagingRing } from "../../core/gpu/readback.ts";
import { StepRecorder } from "../../core/gpu/step_recorder.ts";
import { prepareElementwise } from "../../core/kernels/elementwise.ts";
import { gpuTest } from "../_util.ts";

gpuTest("StepRecorder records a whole step into one submit, in order", async ({ gpu, arena }) => {
  const a = arena.upload(Float32Array.from([1, 2, 3, 4, 5]), [5], "f32", "a");
  const b = arena.tensor([5], "f32", "b");
  const c = arena.tensor([5], "f32", "c");
  // b = 2a + 1; c = a + b; then c += 3 (fill into b, then axpy) — each step reads the previous one's output.
  const d1 = await prepareElementwise(gpu, arena, { op: "scale", rows: 1, cols: 5, alpha: 2, beta: 1 }, {
    x: a,
    out: b,
  });
  const d2 = await prepareElementwise(gpu, arena, { op: "add", rows: 1, cols: 5 }, { x: a, y: b, out: c });
  const d3 = await prepareElementwise(gpu, arena, { op: "fill", rows: 1, cols: 5, beta: 3 }, { out: b });
  const d4 = await prepareElementwise(gpu, arena, { op: "axpy", rows: 1, cols: 5 }, { x: b, out: c });
  const queue = gpu.device.queue;
  const realSubmit = queue.submit;
  let submits = 0;
  queue.submit = function (buffers: GPUCommandBuffer[]) {
    submits++;
    return realSubmit.call(queue, buffers);
  };
  const copyOfA = arena.tensor([5], "f32", "copyOfA");
  try {
    const rec = new StepRecorder(gpu);
    rec.dispatch(d1, d2).copy(a, copyOfA).clear(a).dispatch(d3).dispatch(d4);
    assert.equal(rec.dispatchCount, 4);
    assert.equal(submits, 0, "nothing is submitted while recording");
    rec.submit();
    assert.equal(submits, 1);
    assert.throws(() => rec.dispatch(d1), /already submitted/);
  } finally {
    queue.submit = realSubmit;
  }
  assert.deepEqual([...await readF32(gpu, c)], [7, 10, 13, 16, 19]); // a + 2a + 1 + 3
  assert.deepEqual([...await readF32(gpu, copyOfA)], [1, 2, 3, 4, 5]); // copied before the clear
  assert.deepEqual([...await readF32(gpu, a)], [0, 0, 0, 0, 0]);
});

gpuTest("StagingRing captures inside steps and collects later, oldest first", async ({ gpu, arena }) => {
  const metric = arena.tensor([3], "f32", "metric");
  const ring = new StagingRing(gpu, 12, 2);
  try {
    for (const step of [1, 2, 3]) {
      const rec = new StepRecorder(gpu);
      const d = await prepareElementwise(gpu, arena, { op: "fill", rows: 1, cols: 3, beta: step * 10 }, {
        out: metric,
      });
      rec.dispatch(d);
      const captured = ring.capture(rec, metric, step);
      // Two slots: the third capture is refused until one is collected.
      assert.equal(captured, step <= 2, `capture at step ${step}`);
      rec.submit();
    }
    assert.equal(ring.pendingCount, 2);
    const first = await ring.collect();
    assert.equal(first?.tag, 1);
    assert.deepEqual([...new Float32Array(first!.data)], [10, 10, 10]);
    const second = await ring.collect();
    assert.equal(second?.tag, 2);
    assert.deepEqual([...new Float32Array(second!.data)], [20, 20, 20]);
    assert.equal(await ring.collect(), null);
    // A freed slot takes the next capture.
    const rec = new StepRecorder(gpu);
    assert(ring.capture(rec, metric, 4));
    rec.submit();
    const fourth = await ring.collect();
    assert.equal(fourth?.tag, 4);
    assert.deepEqual([...new Float32Array(fourth!.data)], [30, 30, 30]); // step 3 wrote 30
  } finally {
    ring.destroy();
  }
});

gpuTest("BufferArena counts live tensors and uniforms down to zero", async ({ gpu }) => {
  await Promise.resolve();
  const arena = new BufferArena(gpu, "counting");
  assert.equal(arena.liveCount, 0);
  const t1 = arena.tensor([10], "f32", "t1");
  arena.tensor([3], "f16", "t2"); // 6 bytes, padded to 8
  const u = arena.uniform(packUniform([[1, "u32"]]), "u");
  assert.equal(arena.liveCount, 3);
  assert.equal(arena.liveBytes, 40 + 8);
  t1.destroy();
  t1.destroy(); // idempotent
  assert.equal(arena.liveCount, 2);
  assert.equal(arena.liveBytes, 8);
  assert.throws(
    () => t1.write(new Float32Array(1)),
    (e: Error) => e instanceof ReferenceError && /t1/.test(e.message),
  );
  arena.releaseUniform(u);
  assert.equal(arena.liveCount, 1);
  arena.dummy();
  arena.destroyAll();
  assert.equal(arena.liveCount, 0);
  assert.equal(arena.liveBytes, 0);
  assert.throws(
    () => arena.tensor([gpu.limits.maxStorageBufferBindingSize / 4 + 1], "f32", "huge"),
    (e: Error) => e instanceof RangeError && /tensor "huge"/.test(e.message),
  );
  assert.throws(() => arena.upload(new Float32Array(3), [4], "f32", "short"), /do not fill shape/);
});

gpuTest("getKernel() reports WGSL errors with the shader file and line", async ({ gpu }) => {
  const source = [
    "@group(0) @binding(0) var<storage, read_write> out: array<f32>;",
    "@compute @workgroup_size(1) fn main() {",
    "  out[0] = undefined_name + 1.0;",
    "}",
  ].join("\n");
  await assert.rejects(
    () => getKernel(gpu, { file: "broken_probe.wgsl", source, bindings: ["rw"] }),
    (e: Error) =>
      e instanceof ShaderError && /shaders\/broken_probe\.wgsl:3:\d+/.test(e.message) &&
      /undefined_name/.test(e.message),
  );
  // A failed build is not cached: the fixed source compiles under the same name.
  const fixed = source.replace("undefined_name + ", "");
  const k1 = await getKernel(gpu, { file: "broken_probe.wgsl", source: fixed, bindings: ["rw"] });
  const k2 = await getKernel(gpu, { file: "broken_probe.wgsl", source: fixed, bindings: ["rw"] });
  assert.equal(k1, k2, "the second build comes from the cache");
  // A pipeline-level error (entry point missing) is a ShaderError too.
  await assert.rejects(
    () => getKernel(gpu, { file: "broken_probe.wgsl", source: fixed, entryPoint: "nope", bindings: ["rw"] }),
    ShaderError,
  );
});

gpuTest(
  "bindGroup() reuses a group for the same buffers and windows, and evicts the oldest",
  async ({ gpu, arena }) => {
    const source = [
      "@group(0) @binding(0) var<storage, read> a: array<f32>;",
      "@group(0) @binding(1) var<storage, read_write> b: array<f32>;",
      "@compute @workgroup_size(1) fn main() { b[0] = a[0]; }",
    ].join("\n");
    const k = await getKernel(gpu, { file: "bind_cache_probe.wgsl", source, bindings: ["read", "rw"] });
    const x = arena.tensor([64]), y = arena.tensor([64]);
    const g = bindGroup(gpu, k, [x, y]);
    assert.equal(bindGroup(gpu, k, [x, y]), g, "same tensors → cached group");
    assert.equal(bindGroup(gpu, k, [x.buffer, y]), g, "a tensor and its buffer bind the same thing");
    assert.notEqual(bindGroup(gpu, k, [y, x]), g, "swapped bindings → another group");
    const win = bindGroup(gpu, k, [{ buffer: x, offset: 0, size: 128 }, y]);
    assert.notEqual(win, g, "a window is not the whole buffer");
    assert.notEqual(bindGroup(gpu, k, [{ buffer: x, offset: 128, size: 128 }, y]), win, "another window");
    // Bounded: after CACHE_SIZE other groups, the first is rebuilt (a new object); recently used ones stay.
    const others = Array.from({ length: BIND_GROUP_CACHE_SIZE }, () => arena.tensor([1]));
    for (const o of others) bindGroup(gpu, k, [o, y]);
    assert.notEqual(bindGroup(gpu, k, [x, y]), g, "the oldest entry was evicted");
    assert.equal(bindGroup(gpu, k, [others.at(-1)!, y]), bindGroup(gpu, k, [others.at(-1)!, y]));
    for (const t of [x, y, ...others]) t.destroy();
  },
);

Deno.test("grid1d() spreads workgroups over two dimensions within the limit", () => {
  assert.deepEqual(grid1d(0), [1, 1, 1]);
  assert.deepEqual(grid1d(65535), [65535, 1, 1]);
  for (const n of [65536, 100_000, 4_000_000]) {
    const [x, y, z] = grid1d(n);
    assert(x <= 65535 && y <= 65535 && z === 1);
    assert(x * y >= n && x * (y - 1) < n, `grid1d(${n}) = ${x}×${y}`);
  }
  assert.deepEqual(grid1d(10, 4), [4, 3, 1]);
});

/**
 * Adapter gating (issue 2 acceptance: CI fails, not skips, without an adapter; webgpu-notes.md §4).
 *
 * - Under WEBGPU_REQUIRE=1 (set by .ci/run) an adapter must be found and a device opened.
 * - A GPU test run with no reachable adapter (a backend that does not exist on this OS) skips visibly by
 *   default and fails under WEBGPU_REQUIRE=1; openGpu throws NoAdapterError with the install hint. This
 *   runs in a subprocess because a process fixes its backend when it first requests an adapter.
 * @module
 */
import assert from "node:assert/strict";
import { describeGpu, NoAdapterError } from "../../core/gpu/device.ts";
import { testGpu } from "../_util.ts";

const REQUIRED = Deno.env.get("WEBGPU_REQUIRE") === "1";
// A wgpu backend that cannot exist here, so requestAdapter() resolves to null.
const NO_BACKEND = Deno.build.os === "windows" ? "metal" : "dx12";

Deno.test({
  name: "a WebGPU adapter is found when WEBGPU_REQUIRE=1",
  ignore: !REQUIRED,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const gpu = await testGpu();
    assert(gpu, "WEBGPU_REQUIRE=1 but no adapter");
    assert(gpu.description.length > 0);
    assert.match(describeGpu(gpu), /^webgpu: /);
    // The device got the adapter's limits, not the spec defaults (webgpu-notes.md §1.8).
    assert.equal(gpu.limits.maxStorageBufferBindingSize, gpu.adapter.limits.maxStorageBufferBindingSize);
    assert.equal(
      gpu.limits.maxComputeWorkgroupStorageSize,
      gpu.adapter.limits.maxComputeWorkgroupStorageSize,
    );
  },
});

async function runProbe(env: Record<string, string>): Promise<{ code: number; out: string }> {
  const probe = new URL("./_gated_probe.ts", import.meta.url).pathname;
  const cmd = new Deno.Command(Deno.execPath(), {
    args: ["test", "--allow-all", "--no-check", probe],
    env: { ...env, DENO_WEBGPU_BACKEND: NO_BACKEND, HPSEG_BACKEND: NO_BACKEND, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  });
  const { code, stdout, stderr } = await cmd.output();
  const dec = new TextDecoder();
  return { code, out: dec.decode(stdout) + dec.decode(stderr) };
}

Deno.test("without an adapter a GPU test skips visibly, and fails under WEBGPU_REQUIRE=1", async () => {
  const skipped = await runProbe({ WEBGPU_REQUIRE: "0" });
  assert.equal(skipped.code, 0, skipped.out);
  assert.match(skipped.out, /SKIP GPU tests: No WebGPU adapter found/);
  assert.doesNotMatch(skipped.out, /probe ran on/);
  const required = await runProbe({ WEBGPU_REQUIRE: "1" });
  assert.notEqual(required.code, 0, required.out);
  assert.match(required.out, /NoAdapterError/);
  assert.match(required.out, /mesa-vulkan-drivers libvulkan1/);
});

Deno.test("NoAdapterError names the software-adapter install command", () => {
  const e = new NoAdapterError("test");
  assert(e.userFacing);
  assert.match(e.message, /No WebGPU adapter found \(test\)/);
  assert.match(e.message, /apt-get install -y mesa-vulkan-drivers libvulkan1/);
  assert.match(e.message, /DENO_WEBGPU_BACKEND=vulkan/);
});

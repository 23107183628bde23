/**
 * Not a test file on its own (no `_test` suffix): tests/gpu/adapter_test.ts runs it in a subprocess with
 * no reachable adapter to check that a GPU test skips, or fails under WEBGPU_REQUIRE=1.
 * @module
 */
import { gpuTest } from "../_util.ts";

gpuTest("probe: needs a GPU", async ({ gpu }) => {
  await Promise.resolve();
  console.log(`probe ran on ${gpu.description}`);
});

/**
 * `deno task bench gemm --quick --json` runs through the CLI on whatever adapter exists and prints one
 * valid JSON line with positive timings and correct sampled results (issue 2 acceptance).
 * @module
 */
import assert from "node:assert/strict";
import { testGpu } from "../_util.ts";

Deno.test({
  name: "bench gemm --quick --json prints valid JSON with sane numbers",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    if (!(await testGpu())) return; // skipped visibly by testGpu (fails under WEBGPU_REQUIRE=1)
    const main = new URL("../../main.ts", import.meta.url).pathname;
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", main, "bench", "gemm", "--quick", "--json"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    assert.equal(code, 0, dec.decode(stderr));
    const last = dec.decode(stdout).trim().split("\n").at(-1)!;
    const r = JSON.parse(last);
    assert.equal(r.suite, "gemm");
    // Provenance added by core/cli/bench.ts for every suite (BENCHMARKS.md: adapter, command, date).
    assert.equal(r.command, "deno task bench gemm --json --quick");
    assert(Math.abs(Date.parse(r.date) - Date.now()) < 30 * 60_000, `date ${r.date}`);
    assert.equal(r.deno, Deno.version.deno);
    assert.equal(r.quick, true);
    assert.equal(typeof r.adapter, "string");
    for (const s of [r.square, ...r.vit]) {
      assert(s.ms > 0 && Number.isFinite(s.gflops) && s.gflops > 0, JSON.stringify(s));
      assert(s.sampleMaxRelErr < 1e-4, `${s.name} computed wrong values: ${s.sampleMaxRelErr}`);
    }
    assert.deepEqual(r.vit.map((s: { name: string; K: number; N: number }) => [s.name, s.K, s.N]), [
      ["vit_qkv", 384, 1152],
      ["vit_proj", 384, 384],
      ["vit_fc1", 384, 1536],
      ["vit_fc2", 1536, 384],
    ]);
    assert(r.dispatch.usPerDispatch > 0);
    // Either a torch record or the reason there is none.
    assert(r.torch !== null || (typeof r.torchReason === "string" && r.torchReason.length > 0));
  },
});

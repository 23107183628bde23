/**
 * `bench hploss ref=DIR` (core/bench/hploss_bench.ts): loads another checkout's HpLoss next to ours and times
 * both in one run. With this checkout as its own reference the two must report the same loss, and the
 * record carries the reference's timings, per-pass split and the speedup; a directory that is not a
 * checkout is a usage error before any GPU work. `mask=f16` adds the count of mask entries f16 flips.
 * @module
 */
import assert from "node:assert/strict";
import { gpuTest } from "../_util.ts";
import { UsageError } from "../../core/errors.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

gpuTest("bench hploss ref=<this checkout>: same loss, reference timings and a speedup", async () => {
  const { bench } = await import("../../core/bench/hploss_bench.ts");
  const r = await bench({ json: true, quick: true, rest: [`ref=${ROOT}`] });
  const s = r.sparse as Record<string, unknown>;
  assert.equal(s.ref_loss_hp, s.loss_hp);
  assert(Number.isFinite(s.loss_hp as number));
  assert((s.ref_step_ms_median as number) > 0 && (s.speedup as number) > 0);
  assert.deepEqual(Object.keys(s.ref_per_pass_ms as object), Object.keys(s.per_pass_ms as object));
});

gpuTest("bench hploss mask=f16 reports the mask entries that differ from f32", async ({ gpu }) => {
  if (!gpu.hasF16) return console.error("[tests] skipped: adapter without shader-f16");
  const { bench } = await import("../../core/bench/hploss_bench.ts");
  const r = await bench({ json: true, quick: true, rest: ["mask=f16"] });
  const s = r.sparse as { mask_precision: string; mask_flips: { ag: number; sp: number; pairs: number } };
  assert.equal(s.mask_precision, "f16");
  const N = (r.dims as { N: number }).N;
  assert.equal(s.mask_flips.pairs, N * (N - 1));
  assert(s.mask_flips.ag >= 0 && s.mask_flips.sp >= 0 && s.mask_flips.ag + s.mask_flips.sp <= 2 * N * N);
});

Deno.test("bench hploss ref=<not a checkout> is a usage error naming the missing file", async () => {
  const { bench } = await import("../../core/bench/hploss_bench.ts");
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      bench({ json: true, quick: true, rest: [`ref=${dir}`] }),
      (e: unknown) => e instanceof UsageError && /no .*core\/model\/loss\.ts/.test((e as Error).message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

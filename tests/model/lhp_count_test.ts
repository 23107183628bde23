/**
 * Mean LHP set size |L_i| (hp-method.md §5.5 step 5; the dashboard's positives.lhp): the GPU count
 * (shaders/model/lhp_count.wgsl via core/model/lhp.ts LhpCount) against the float64 weights of lhpWeightsRef and against
 * hand-made coefficient rows, on sizes that are not multiples of the 256-thread workgroup.
 */
import assert from "node:assert/strict";
import { LhpCount, lhpCountRef, LhpWeights } from "../../core/model/lhp.ts";
import { lhpWeightsRef } from "../../core/model/loss_ref.ts";
import { StepRecorder } from "../../core/gpu/step_recorder.ts";
import { readF32 } from "../../core/gpu/readback.ts";
import { gpuTest } from "../_util.ts";
import { attention } from "./_lhp_attention.ts";

Deno.test("lhpCountRef counts the kept window slots per row", () => {
  const coef = new Float32Array(3 * 9);
  coef.set([0, 0.1, 0, 0, 0.2, 0, 0, 0, 0], 0); // 2
  coef.set([0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1], 9); // 9
  // row 2: none kept (0)
  assert.equal(lhpCountRef(coef, 3), 11 / 3);
  assert.equal(lhpCountRef(coef, 1), 2);
});

gpuTest("LhpCount matches |L_i| of the float64 LHP weights (N = 75, 1058, 288)", async ({ gpu, arena }) => {
  for (const [B, S, seed] of [[3, 5, 11], [2, 23, 12], [2, 12, 13]]) {
    const N = B * S * S;
    const a = attention(B, S, seed);
    const attn = arena.upload(a, [B, S * S, S * S], "f32", "attn");
    const w = await LhpWeights.create(gpu, arena, { B, S }, { attn });
    const count = await LhpCount.create(gpu, arena, N, { coef: w.coef });
    const rec = new StepRecorder(gpu);
    w.record(rec);
    count.record(rec);
    rec.submit();
    const got = (await readF32(gpu, count.out))[0];
    const coefGpu = await readF32(gpu, w.coef);
    const ref = lhpWeightsRef(a, B, S);
    // Independent reference: the float64 weights' own kept set (rows whose decision is within rounding of
    // the mean may differ from the f32 GPU weights; allow that many slots).
    let ambiguous = 0;
    for (let i = 0; i < N * 9; i++) if ((ref.coef[i] > 0) !== (coefGpu[i] > 0)) ambiguous++;
    const want = lhpCountRef(ref.coef, N);
    assert.ok(
      Math.abs(got - want) <= ambiguous / N + 1e-6,
      `B=${B} S=${S}: GPU mean |L_i| ${got}, float64 ${want} (${ambiguous} ambiguous slots)`,
    );
    assert.ok(Math.abs(got - lhpCountRef(coefGpu, N)) < 1e-6, "exact on the GPU's own coefficients");
    assert.ok(want > 1 && want < 9, `non-trivial sets (mean ${want})`);
    count.destroy();
    w.destroy();
    attn.destroy();
  }
});

gpuTest("LhpCount on hand-made rows, writing into a caller's tensor", async ({ gpu, arena }) => {
  const rows = 301; // two rows per thread for the first 45 threads
  const coef = new Float32Array(rows * 9);
  let kept = 0;
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < 9; k++) {
      if ((r * 7 + k * 3) % 5 < 2) {
        coef[r * 9 + k] = 0.01 * (k + 1);
        kept++;
      }
    }
  }
  // Tail beyond `rows` must be ignored.
  const t = arena.upload(
    Float32Array.from([...coef, ...new Array(18).fill(1)]),
    [rows + 2, 9],
    "f32",
    "coef",
  );
  const out = arena.upload(new Float32Array(8).fill(-1), [8], "f32", "out");
  const count = await LhpCount.create(gpu, arena, rows, { coef: t, out });
  const rec = new StepRecorder(gpu);
  count.record(rec);
  rec.submit();
  const got = await readF32(gpu, out);
  assert.equal(got[0], Math.fround(kept / rows));
  assert.equal(got[1], -1, "only slot 0 is written");
  await assert.rejects(() => LhpCount.create(gpu, arena, rows + 3, { coef: t }), /addresses 2736/);
});

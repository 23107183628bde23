/**
 * The backbone's f16 precision (core/vit/precision.ts) against an fp16-storage reference: tests/vit/_vit_ref.ts
 * in float64 with the tensors the GPU stores as f16 rounded at the same points. The reference itself is
 * first checked, without rounding, against real PyTorch (tests/fixtures/vit/make_fixtures.py, float64).
 *
 * Bounds (max |Δ| over all elements; features are LayerNorm outputs of O(1), logits O(1)):
 * - f16 GPU vs the fp16-storage reference: features ≤ 2e-3, logits ≤ 1e-3 (f32 arithmetic, and the f16
 *   roundings it tips the other way, propagated through the blocks);
 * - f16 GPU vs the f32 forward (what f16 storage costs): features ≤ 1e-2;
 * - f16 GPU vs the official fp16 autocast forward (PyTorch golden numbers of the tiny model,
 *   tests/fixtures/vit/make_autocast_fixture.py): features ≤ 8e-3, logits ≤ 1e-2.
 * The measured values are printed and stated in the README ("Backbone precision").
 * @module
 */
import assert from "node:assert/strict";
import { readSafetensorsSync } from "../../core/io/safetensors.ts";
import { loadVitWeights, type VitConfig } from "../../core/vit/weights.ts";
import { VitBackbone, VitGpuWeights } from "../../core/vit/vit.ts";
import { resolvePrecision } from "../../core/vit/precision.ts";
import { randomVitWeights } from "../../core/bench/vit_bench.ts";
import { StepRecorder } from "../../core/gpu/step_recorder.ts";
import { readF32 } from "../../core/gpu/readback.ts";
import { InputError } from "../../core/errors.ts";
import { assertAllClose, gpuTest, randnF32 } from "../_util.ts";
import { vitForwardRef } from "./_vit_ref.ts";

const FIX = new URL("../fixtures/vit/", import.meta.url).pathname;

/** Bounds of the module comment. */
const F16_VS_REF = { feat: 2e-3, attn: 1e-3 };
const F16_VS_F32 = { feat: 1e-2 };
const AUTOCAST = { feat: 8e-3, attn: 1e-2 };

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

Deno.test("the float64 ViT reference matches PyTorch on the tiny fixture model", async () => {
  const exp = readSafetensorsSync(FIX + "tiny_expected.safetensors");
  try {
    const w = await loadVitWeights(FIX + "tiny_plain.pth", { heads: 3 });
    for (const [tag, shape] of [["a", [2, 16, 16]], ["b", [1, 20, 24]]] as const) {
      const r = vitForwardRef(w, exp.getF32(`input_${tag}`), [...shape], "f32");
      assertAllClose(r.feat, exp.getF32(`feat_${tag}`), { atol: 1e-5, rtol: 0, label: `ref feat ${tag}` });
      assertAllClose(r.attn, exp.getF32(`attn_${tag}`), { atol: 1e-5, rtol: 1e-5, label: `ref attn ${tag}` });
    }
  } finally {
    exp.close();
  }
});

async function run(
  ctx: Parameters<Parameters<typeof gpuTest>[1]>[0],
  w: VitGpuWeights,
  input: Float32Array,
  [B, H, W]: [number, number, number],
  chunk?: number,
) {
  const { gpu, arena } = ctx;
  const vit = await VitBackbone.create(gpu, arena, w, { batch: B, height: H, width: W, attn: true, chunk });
  try {
    assert.equal(vit.precision, w.precision);
    const rec = new StepRecorder(gpu);
    vit.encode(rec, arena.upload(input, [B, 3, H, W], "f32", "images"));
    rec.submit();
    return { feat: await readF32(gpu, vit.features), attn: await readF32(gpu, vit.attn!) };
  } finally {
    vit.destroy();
  }
}

/** f16 and f32 forwards of one case, checked against the references; returns the measured errors. */
async function checkCase(
  ctx: Parameters<Parameters<typeof gpuTest>[1]>[0],
  label: string,
  weights: Parameters<typeof VitGpuWeights.upload>[1],
  input: Float32Array,
  shape: [number, number, number],
  chunk?: number,
) {
  const w16 = VitGpuWeights.upload(ctx.gpu, weights, "f16");
  const w32 = VitGpuWeights.upload(ctx.gpu, weights, "f32");
  try {
    const g16 = await run(ctx, w16, input, shape, chunk);
    const g32 = await run(ctx, w32, input, shape, chunk);
    const ref16 = vitForwardRef(weights, input, shape, "f16");
    const ref32 = vitForwardRef(weights, input, shape, "f32");
    const e = {
      feat: maxAbsDiff(g16.feat, ref16.feat),
      attn: maxAbsDiff(g16.attn, ref16.attn),
      vsF32: maxAbsDiff(g16.feat, g32.feat),
      f32: maxAbsDiff(g32.feat, ref32.feat),
      refGap: maxAbsDiff(ref16.feat, ref32.feat),
    };
    console.error(
      `  ${label}: f16 vs fp16-storage ref: feat ${e.feat.toExponential(2)}, attn ${
        e.attn.toExponential(2)
      }; ` +
        `f16 vs f32 GPU: feat ${e.vsF32.toExponential(2)} (ref16 vs ref32 ${e.refGap.toExponential(2)}); ` +
        `f32 vs float64 ref: ${e.f32.toExponential(2)}`,
    );
    assert.ok(e.f32 <= 1e-4, `${label}: f32 forward ${e.f32} from the float64 reference`);
    assert.ok(e.feat <= F16_VS_REF.feat, `${label}: f16 features ${e.feat} from the fp16-storage reference`);
    assert.ok(e.attn <= F16_VS_REF.attn, `${label}: f16 logits ${e.attn} from the fp16-storage reference`);
    assert.ok(e.vsF32 <= F16_VS_F32.feat, `${label}: f16 features ${e.vsF32} from the f32 forward`);
    // The reference must explain the f16 forward: it sits much closer to it than the f32 forward does.
    assert.ok(
      e.feat < 0.6 * e.vsF32,
      `${label}: the fp16-storage model explains little (${e.feat} vs ${e.vsF32})`,
    );
    return e;
  } finally {
    w16.destroy();
    w32.destroy();
  }
}

gpuTest(
  "f16 backbone: the tiny DINO model against the fp16-storage reference (square, resized, chunked)",
  async (
    ctx,
  ) => {
    if (!ctx.gpu.hasF16) throw new Error("adapter lacks shader-f16 (lavapipe has it)");
    const w = await loadVitWeights(FIX + "tiny_plain.pth", { heads: 3 });
    await checkCase(ctx, "tiny 2×16×16 chunk 1", w, randnF32(2 * 3 * 16 * 16, 1), [2, 16, 16], 1);
    await checkCase(ctx, "tiny 1×20×24", w, randnF32(3 * 20 * 24, 2), [1, 20, 24]);
  },
);

gpuTest(
  "f16 backbone vs the official fp16 autocast forward of the tiny model (PyTorch golden numbers)",
  async (
    ctx,
  ) => {
    // tests/fixtures/vit/make_autocast_fixture.py: float64 with fp16 rounding wherever CUDA autocast holds fp16
    // (also GEMM outputs before the residual add, biases, softmax probabilities, the patch embedding), so
    // it differs from ours by those extra roundings; both are compared with the f32 forward as well.
    const exp = readSafetensorsSync(FIX + "tiny_autocast.safetensors");
    const w = await loadVitWeights(FIX + "tiny_plain.pth", { heads: 3 });
    const w16 = VitGpuWeights.upload(ctx.gpu, w, "f16"), w32 = VitGpuWeights.upload(ctx.gpu, w, "f32");
    try {
      for (const [tag, shape] of [["a", [2, 16, 16]], ["b", [1, 20, 24]]] as const) {
        const input = exp.getF32(`input_${tag}`);
        const g16 = await run(ctx, w16, input, [...shape]), g32 = await run(ctx, w32, input, [...shape]);
        const feat = exp.getF32(`feat_${tag}`), attn = exp.getF32(`attn_${tag}`);
        const e = {
          feat: maxAbsDiff(g16.feat, feat),
          attn: maxAbsDiff(g16.attn, attn),
          autocastVsF32: maxAbsDiff(g32.feat, feat),
          oursVsF32: maxAbsDiff(g16.feat, g32.feat),
        };
        console.error(
          `  tiny ${tag}: f16 vs autocast feat ${e.feat.toExponential(2)}, attn ${
            e.attn.toExponential(2)
          }; ` +
            `autocast vs f32 ${e.autocastVsF32.toExponential(2)}, ours f16 vs f32 ${
              e.oursVsF32.toExponential(2)
            }`,
        );
        assert.ok(e.feat <= AUTOCAST.feat, `tiny ${tag}: f16 features ${e.feat} from the autocast forward`);
        assert.ok(e.attn <= AUTOCAST.attn, `tiny ${tag}: f16 logits ${e.attn} from the autocast forward`);
        // Ours rounds a subset of autocast's tensors, so it is no further from f32 than autocast is.
        assert.ok(e.oursVsF32 <= e.autocastVsF32, `tiny ${tag}: f16 further from f32 than autocast`);
      }
    } finally {
      w16.destroy();
      w32.destroy();
      exp.close();
    }
  },
);

gpuTest("f16 backbone: awkward widths, odd head dim, registers and LayerScale", async (ctx) => {
  // C = 20 in 4 heads of 5 (odd: f16 neighbours of o in different heads), MLP 44, N = 1 + 4 + 35 tokens,
  // LayerScale γ folded into f16 weights.
  const config: VitConfig = {
    patch: 4,
    dim: 20,
    depth: 2,
    heads: 4,
    eps: 1e-6,
    posGrid: 5,
    mlpDim: 44,
    registers: 4,
    layerScale: true,
  };
  const w = randomVitWeights(config, 3);
  for (let i = 0; i < config.depth; i++) {
    for (const g of ["ls1", "ls2"]) w.tensors.set(`blocks.${i}.${g}.gamma`, randnF32(config.dim, 10 + i));
  }
  const input = randnF32(2 * 3 * 20 * 28, 4);
  await checkCase(ctx, "random C=20 H=4 reg4 LayerScale 2×20×28", w, input, [2, 20, 28]);
  // Deeper and wider (head dim 16, MLP 256, 4 blocks), a 6×7 grid: errors grow with depth.
  const wide: VitConfig = { patch: 8, dim: 64, depth: 4, heads: 4, eps: 1e-6, posGrid: 8, mlpDim: 256 };
  const input2 = randnF32(3 * 48 * 56, 5);
  await checkCase(ctx, "random C=64 depth 4 1×48×56", randomVitWeights(wide, 7), input2, [1, 48, 56]);
});

gpuTest(
  "backbone.precision: auto picks f16 only on hardware with shader-f16; f16 without it is refused",
  async (
    { gpu, arena },
  ) => {
    assert.equal(resolvePrecision("auto", { hasF16: true, isSoftware: false, description: "gpu" }), "f16");
    assert.equal(
      resolvePrecision("auto", { hasF16: true, isSoftware: true, description: "lavapipe" }),
      "f32",
    );
    assert.equal(resolvePrecision("auto", { hasF16: false, isSoftware: false, description: "old" }), "f32");
    assert.equal(resolvePrecision("f32", { hasF16: true, isSoftware: false, description: "gpu" }), "f32");
    assert.equal(resolvePrecision("f16", { hasF16: true, isSoftware: true, description: "lavapipe" }), "f16");
    assert.throws(
      () => resolvePrecision("f16", { hasF16: false, isSoftware: false, description: "old" }),
      (e: Error) => e instanceof InputError && /shader-f16/.test(e.message) && !e.message.includes("\n"),
    );
    // Shared weights fix the precision of every backbone built on them.
    const config: VitConfig = { patch: 4, dim: 8, depth: 1, heads: 2, eps: 1e-6, posGrid: 2, mlpDim: 16 };
    const w = VitGpuWeights.upload(gpu, randomVitWeights(config, 1), "f32");
    try {
      await assert.rejects(
        VitBackbone.create(gpu, arena, w, { batch: 1, height: 8, width: 8, precision: "f16" }),
        /precision f16 asked of weights uploaded as f32/,
      );
    } finally {
      w.destroy();
    }
  },
);

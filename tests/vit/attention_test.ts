/**
 * The ViT's fused attention and the LHP coefficients from q and k (core/vit/attention.ts) against their
 * float64 references on awkward shapes: token counts that are not multiples of the 64-row query tile or
 * the key tile, head dims that are not multiples of 4, several images and heads, logits large enough that
 * the online softmax must rescale. The LHP kernel must also equal the path it replaces (head-mean GEMM
 * into attn [B, P, P], then LhpWeights) bit for bit.
 */
import assert from "node:assert/strict";
import {
  attentionRef,
  headMeanLogitsRef,
  type LhpQkShape,
  prepareAttention,
  prepareLhpFromQk,
} from "../../core/vit/attention.ts";
import { lhpWeightsRef } from "../../core/model/loss_ref.ts";
import { prepareGemm } from "../../core/kernels/gemm.ts";
import { LhpWeights } from "../../core/model/lhp.ts";
import { StepRecorder } from "../../core/gpu/step_recorder.ts";
import { readF32, readFloat } from "../../core/gpu/readback.ts";
import { assertAllClose, gpuTest, randnF32 } from "../_util.ts";
import { attention } from "../model/_lhp_attention.ts";

gpuTest("fused attention matches the float64 reference on awkward shapes", async ({ gpu, arena }) => {
  // [images, tokens, dim, heads, logit scale]: one partial query tile; N across key tiles with a ragged
  // last one; head dims 12 and 6 (padded vec4s); head dim 64 (DINO's) with N = 65 (2 query tiles).
  const cases: [number, number, number, number, number | undefined][] = [
    [2, 37, 24, 2, undefined],
    [3, 70, 18, 3, 2.5],
    [1, 65, 128, 2, undefined],
    [1, 1, 8, 2, undefined],
  ];
  for (const [B, N, C, H, scale] of cases) {
    const qkv = randnF32(B * N * 3 * C, 7 + N, 2);
    const shape = { images: B, tokens: N, dim: C, heads: H, scale };
    const qkvT = arena.upload(qkv, [B * N, 3 * C], "f32", "qkv");
    const o = arena.upload(randnF32(B * N * C, 1), [B * N, C], "f32", "o"); // every element overwritten
    const d = await prepareAttention(gpu, arena, shape, { qkv: qkvT, o });
    new StepRecorder(gpu).dispatch(d).submit();
    const e = assertAllClose(await readF32(gpu, o), attentionRef(shape, qkv), {
      atol: 2e-5,
      rtol: 1e-4,
      label: `attention B=${B} N=${N} C=${C} H=${H}`,
    });
    console.error(`  attention B=${B} N=${N} C=${C} H=${H}: max |Δ| ${e.toExponential(2)}`);
  }
});

gpuTest("fused attention survives logits of ±80 (online softmax rescaling)", async ({ gpu, arena }) => {
  const [B, N, C, H] = [1, 50, 8, 1];
  const qkv = randnF32(B * N * 3 * C, 3, 4);
  const shape = { images: B, tokens: N, dim: C, heads: H, scale: 5 };
  const qkvT = arena.upload(qkv, [B * N, 3 * C], "f32", "qkv");
  const o = arena.tensor([B * N, C], "f32", "o");
  new StepRecorder(gpu).dispatch(await prepareAttention(gpu, arena, shape, { qkv: qkvT, o })).submit();
  const got = await readF32(gpu, o);
  assert.ok(got.every(Number.isFinite), "non-finite output");
  assertAllClose(got, attentionRef(shape, qkv), { atol: 1e-4, rtol: 1e-4, label: "peaked attention" });
});

gpuTest("fused attention with f16 qkv and o: the float64 result on the stored values, rounded once", async (
  { gpu, arena },
) => {
  // Awkward shapes as above (ragged query and key tiles, head dims 6 and 5: odd, so f16 neighbours of o
  // belong to different heads and workgroups).
  for (const [B, N, C, H] of [[2, 37, 24, 2], [3, 70, 18, 3], [1, 65, 10, 2]]) {
    const qkv16 = Float16Array.from(randnF32(B * N * 3 * C, 11 + N, 2));
    const shape = { images: B, tokens: N, dim: C, heads: H };
    const qkvT = arena.upload(new Uint16Array(qkv16.buffer), [B * N, 3 * C], "f16", "qkv16");
    const o = arena.tensor([B * N, C], "f16", "o16");
    new StepRecorder(gpu).dispatch(await prepareAttention(gpu, arena, shape, { qkv: qkvT, o })).submit();
    const got = await readFloat(gpu, o), want = attentionRef(shape, qkv16);
    // f32 arithmetic (≤ 2e-5, as the f32 test) then one rounding to f16: within one f16 ulp.
    for (let i = 0; i < want.length; i++) {
      const tol = 2 ** -10 * Math.abs(want[i]) + 2e-5;
      assert.ok(Math.abs(got[i] - want[i]) <= tol, `o[${i}] = ${got[i]}, reference ${want[i]} (N=${N})`);
    }
  }
  const q32 = arena.tensor([3 * 8], "f32", "q32"), o16 = arena.tensor([8], "f16", "o16");
  await assert.rejects(
    () => prepareAttention(gpu, arena, { images: 1, tokens: 1, dim: 8, heads: 2 }, { qkv: q32, o: o16 }),
    /o "o16" is f16, expected f32 like qkv/,
  );
});

/**
 * qkv whose head-mean patch logits are exactly `a` [B, P, P]: C = P, one head, scale 1, q_i = a[i, :],
 * k_j = e_j (so every logit is one exact product plus zeros); `prefix` random rows before the patches.
 */
function qkvForLogits(a: Float32Array, B: number, P: number, prefix: number): Float32Array {
  const N = prefix + P, C = P, C3 = 3 * C;
  const qkv = randnF32(B * N * C3, 99);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < P; i++) {
      const r = (b * N + prefix + i) * C3;
      qkv.set(a.subarray((b * P + i) * P, (b * P + i + 1) * P), r);
      qkv.fill(0, r + C, r + 2 * C);
      qkv[r + C + i] = 1;
    }
  }
  return qkv;
}

/** The float64 chain the kernel fuses: head-mean logits, then the LHP weights of each row. */
function lhpFromQkRef(s: LhpQkShape, qkv: ArrayLike<number>): Float64Array {
  return lhpWeightsRef(headMeanLogitsRef(s, qkv), s.images, s.side, s.sigma).coef;
}

gpuTest("LHP coefficients from q·k match the float64 reference (S = 3, 5, 11)", async ({ gpu, arena }) => {
  for (const [B, S, prefix] of [[2, 3, 1], [1, 5, 5], [1, 11, 1]]) {
    const P = S * S;
    const qkv = qkvForLogits(attention(B, S, 200 + S), B, P, prefix);
    const shape = { images: B, prefix, side: S, dim: P, heads: 1, scale: 1, sigma: 28, firstImage: 1 };
    const qkvT = arena.upload(qkv, [B * (prefix + P), 3 * P], "f32", "qkv");
    const coef = arena.tensor([(B + 1) * P, 9], "f32", "coef");
    new StepRecorder(gpu).dispatch(await prepareLhpFromQk(gpu, arena, shape, { qkv: qkvT, coef })).submit();
    const got = (await readF32(gpu, coef)).subarray(P * 9); // firstImage 1: rows of image 0 untouched
    assertAllClose(got, lhpFromQkRef(shape, qkv), { rtol: 2e-5, atol: 1e-7, label: `attention_lhp S=${S}` });
    assert.ok(got.some((v) => v > 0), `all coefficients zero for S=${S}`);
  }
});

gpuTest(
  "LHP coefficients from q·k equal head-mean GEMM + LhpWeights bit for bit (random q, k; 3 heads; f32, f16)",
  async ({ gpu, arena }) => {
    const [B, S, T, C, H] = [2, 7, 2, 48, 3];
    const P = S * S, N = T + P;
    const qkv = randnF32(B * N * 3 * C, 5);
    const qkv16 = Float16Array.from(qkv);
    const scale = 1 / Math.sqrt(C / H);
    const attn = arena.tensor([B, P, P], "f32", "attn");
    // f32 qkv, and f16 qkv (the ViT's f16 precision): both paths read the same stored values.
    for (const [variant, dtype] of [["tile64", "f32"], ["tile128", "f32"], ["tile64", "f16"]] as const) {
      const qkvT = dtype === "f32"
        ? arena.upload(qkv, [B * N, 3 * C], "f32", "qkv")
        : arena.upload(new Uint16Array(qkv16.buffer), [B * N, 3 * C], "f16", "qkv16");
      const gemm = await prepareGemm(
        gpu,
        arena,
        {
          M: P,
          N: P,
          K: C,
          batch: B,
          transB: true,
          lda: 3 * C,
          ldb: 3 * C,
          aOffset: T * 3 * C,
          bOffset: T * 3 * C + C,
          aBatchStride: N * 3 * C,
          bBatchStride: N * 3 * C,
          cBatchStride: P * P,
          alpha: scale / H,
        },
        { a: qkvT, b: qkvT, c: attn },
        { variant },
      );
      const old = await LhpWeights.create(gpu, arena, { B, S }, { attn }, { sigma: 28 });
      const coef = arena.tensor([B * P, 9], "f32", "coef");
      const fused = await prepareLhpFromQk(gpu, arena, {
        images: B,
        prefix: T,
        side: S,
        dim: C,
        heads: H,
        sigma: 28,
      }, {
        qkv: qkvT,
        coef,
      });
      const rec = new StepRecorder(gpu).dispatch(gemm);
      old.record(rec);
      rec.dispatch(fused).submit();
      const want = await readF32(gpu, old.coef), got = await readF32(gpu, coef);
      assertAllClose(got, want, {
        atol: 0,
        rtol: 0,
        label: `attention_lhp vs GEMM(${variant}) + LhpWeights, qkv ${dtype}`,
      });
      assert.ok(got.some((v) => v > 0));
    }
  },
);

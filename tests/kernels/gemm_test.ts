import {
  chooseGemmVariant,
  gemmRef,
  type GemmShape,
  type GemmVariant,
  prepareGemm,
} from "../../core/kernels/gemm.ts";
import { gelu64 } from "../../core/kernels/activations.ts";
import { StepRecorder } from "../../core/gpu/step_recorder.ts";
import { readF32, readFloat } from "../../core/gpu/readback.ts";
import { assertAllClose, gpuTest, randnF32 } from "../_util.ts";
import type { GpuTestContext } from "../_util.ts";
import assert from "node:assert/strict";

function sizeOf(s: GemmShape, which: "a" | "b" | "c"): number {
  const batch = s.batch ?? 1;
  if (which === "a") {
    return (s.aBatchStride ?? s.M * s.K) * (batch - 1) + (s.aOffset ?? 0) + s.M * s.K +
      (s.lda ? s.lda * (s.transA ? s.K : s.M) : 0);
  }
  if (which === "b") {
    return (s.bBatchStride ?? s.K * s.N) * (batch - 1) + (s.bOffset ?? 0) + s.K * s.N +
      (s.ldb ? s.ldb * (s.transB ? s.N : s.K) : 0);
  }
  return (s.cBatchStride ?? s.M * (s.ldc ?? s.N)) * (batch - 1) + (s.cOffset ?? 0) + s.M * (s.ldc ?? s.N);
}

async function check(
  ctx: GpuTestContext,
  s: GemmShape,
  opts: {
    bias?: boolean;
    residual?: boolean;
    seed?: number;
    variants?: GemmVariant[];
    expectLabel?: RegExp;
    unrolledEpilogue?: boolean;
  } = {},
) {
  for (const variant of opts.variants ?? ["tile64"]) await checkVariant(ctx, s, opts, variant);
}

/**
 * Every kernel variant must compute the same function: the cases below run on BOTH wherever their
 * override constants differ (transposes, epilogues). Each new constant set is a cold LLVM compile on
 * lavapipe (~1–3 s), so pure repeats of an already-covered combination run on tile64 only.
 */
const BOTH: GemmVariant[] = ["tile64", "tile128"];

async function checkVariant(
  ctx: GpuTestContext,
  s: GemmShape,
  opts: {
    bias?: boolean;
    residual?: boolean;
    seed?: number;
    expectLabel?: RegExp;
    unrolledEpilogue?: boolean;
  },
  variant: GemmVariant,
) {
  const { gpu, arena } = ctx;
  const seed = opts.seed ?? 1;
  const a = randnF32(sizeOf(s, "a"), seed);
  const b = randnF32(sizeOf(s, "b"), seed + 1);
  const c0 = randnF32(sizeOf(s, "c"), seed + 2);
  const bias = opts.bias ? randnF32(s.N, seed + 3) : undefined;
  const res = opts.residual ? randnF32(sizeOf(s, "c"), seed + 4) : undefined;
  const ta = arena.upload(a, [a.length], "f32", "A");
  const tb = arena.upload(b, [b.length], "f32", "B");
  const tc = arena.upload(c0, [c0.length], "f32", "C");
  const tbias = bias ? arena.upload(bias, [bias.length], "f32", "bias") : undefined;
  const tres = res ? arena.upload(res, [res.length], "f32", "res") : undefined;
  const shape = res ? { ...s, residual: {} } : s;
  const d = await prepareGemm(gpu, arena, shape, { a: ta, b: tb, c: tc, bias: tbias, residual: tres }, {
    variant,
    unrolledEpilogue: opts.unrolledEpilogue,
  });
  if (opts.expectLabel) assert.match(d.kernel.label, opts.expectLabel);
  const rec = new StepRecorder(gpu);
  rec.dispatch(d).submit();
  const got = await readF32(gpu, tc);
  const want = gemmRef(shape, a, b, c0, bias, res);
  // f32 accumulation over K terms: error ~ sqrt(K)·eps·|terms|.
  const tol = 2e-5 * Math.sqrt(s.K) + 1e-5;
  assertAllClose(got, want, { rtol: tol, atol: tol, label: `gemm ${variant} ${JSON.stringify(s)}` });
  return got;
}

/** [M, N, K] triples covering the awkward sizes 1, 3, 17, 197, 785 and 1601 in every role. */
const AWKWARD_GEMMS = [
  [1, 1, 1],
  [3, 17, 5],
  [17, 3, 197],
  [197, 65, 33],
  [66, 130, 17],
  [1601, 17, 33],
  [3, 5, 1601],
  [785, 3, 65],
  [5, 1601, 3],
];

gpuTest("gemm() matches the float64 reference on awkward shapes", async (ctx) => {
  for (const [M, N, K] of AWKWARD_GEMMS) await check(ctx, { M, N, K }, { variants: BOTH });
});

gpuTest("gemm() handles every transpose combination", async (ctx) => {
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      await check(ctx, { M: 37, N: 45, K: 29, transA, transB });
    }
  }
});

gpuTest("gemm() batched with broadcast B, strides and offsets", async (ctx) => {
  await check(ctx, { M: 17, N: 19, K: 23, batch: 3 });
  await check(ctx, { M: 17, N: 19, K: 23, batch: 3, bBatchStride: 0 });
  // A window: columns 5..5+K of a matrix with row stride 64 (like q inside qkv).
  await check(ctx, { M: 17, N: 19, K: 23, batch: 3, bBatchStride: 0 }, { variants: ["tile128"] });
  await check(ctx, {
    M: 33,
    N: 21,
    K: 16,
    lda: 64,
    aOffset: 5,
    aBatchStride: 33 * 64,
    batch: 2,
    transB: true,
    ldb: 40,
    bOffset: 7,
    bBatchStride: 21 * 40,
  }, { variants: BOTH });
});

gpuTest("gemm() fused epilogues: bias, relu, gelu, residual, accumulate, alpha", async (ctx) => {
  await check(ctx, { M: 70, N: 33, K: 40, act: "relu" }, { bias: true });
  await check(ctx, { M: 70, N: 33, K: 40, act: "gelu" }, { bias: true, residual: true, variants: BOTH });
  await check(ctx, { M: 20, N: 7, K: 9, accumulate: true, alpha: 0.125 }, { variants: BOTH });
});

gpuTest("gemm() several 128-tiles with partial edges, every transpose, both variants", async (ctx) => {
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      await check(ctx, { M: 261, N: 139, K: 21, transA, transB, batch: transA && transB ? 2 : 1 }, {
        variants: BOTH,
      });
    }
  }
});

gpuTest("gemm() tile128 with 16-byte loads of 4-aligned A and B rows", async (ctx) => {
  // Contiguous dimension, row stride, offset and batch stride all multiples of 4: both operands vec4.
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      await check(ctx, { M: 260, N: 136, K: 24, transA, transB }, {
        variants: ["tile128"],
        expectLabel: /A f32 vec4, B f32 vec4/,
      });
    }
  }
  // Windows at aligned offsets inside wider rows, batched (like q/k inside a qkv matrix).
  await check(ctx, {
    M: 131,
    N: 36,
    K: 16,
    lda: 48,
    aOffset: 8,
    aBatchStride: 131 * 48,
    batch: 2,
    transB: true,
    ldb: 20,
    bOffset: 4,
    bBatchStride: 0,
  }, { variants: ["tile128"], bias: true, expectLabel: /A f32 vec4, B f32 vec4/ });
  // One operand aligned, the other not (odd offset): only A goes wide.
  await check(ctx, { M: 140, N: 129, K: 20, bOffset: 1 }, {
    variants: ["tile128"],
    expectLabel: /A f32 vec4, B f32(,|\))/,
  });
});

Deno.test("chooseGemmVariant() uses the 128 tile only when it still fills a large GPU", () => {
  assert.equal(chooseGemmVariant({ M: 4096, N: 4096, K: 4096 }), "tile128");
  assert.equal(chooseGemmVariant({ M: 25_120, N: 384, K: 1536 }), "tile128"); // ViT-S/8 fc2, 32 images
  assert.equal(chooseGemmVariant({ M: 785, N: 384, K: 384 }), "tile64");
  assert.equal(chooseGemmVariant({ M: 197, N: 197, K: 64, batch: 6 }), "tile64");
  // A software adapter has no GPU to fill: the big tile as soon as it is not mostly padding.
  assert.equal(chooseGemmVariant({ M: 785, N: 384, K: 384 }, true), "tile128");
  assert.equal(chooseGemmVariant({ M: 785, N: 96, K: 384 }, true), "tile64");
});

gpuTest("gemm() on a 785-row ViT-like shape", async (ctx) => {
  await check(ctx, { M: 785, N: 96, K: 64, act: "gelu" }, { bias: true });
});

gpuTest("gemm() rejects a C tensor that is too small", async ({ gpu, arena }) => {
  const a = arena.tensor([12], "f32", "A");
  const b = arena.tensor([12], "f32", "B");
  const c = arena.tensor([8], "f32", "C");
  let threw = false;
  try {
    await prepareGemm(gpu, arena, { M: 3, N: 3, K: 4 }, { a, b, c });
  } catch (e) {
    threw = e instanceof TypeError && /C "C" has 8 elements/.test(e.message);
  }
  assert(threw, "expected a TypeError naming C");
});

Deno.test("gelu64() matches known values of the exact GELU", () => {
  // Φ(1) = 0.8413447460685429 (standard normal CDF), so GELU(1) = Φ(1); GELU(-1) = -(1-Φ(1)).
  assertAllClose([gelu64(1), gelu64(-1), gelu64(0), gelu64(3)], [
    0.8413447460685429,
    -0.15865525393145707,
    0,
    3 * 0.9986501019683699,
  ], { rtol: 1e-13, atol: 1e-15 });
});

gpuTest("gemm() with f16 storage of A and/or B accumulates in f32", async ({ gpu, arena }) => {
  if (!gpu.hasF16) {
    console.error("[tests] skipped f16 GEMM: adapter lacks shader-f16");
    return;
  }
  const cases: Array<[GemmShape, boolean, boolean, GemmVariant]> = [
    [{ M: 37, N: 45, K: 29 }, true, true, "tile64"],
    [{ M: 130, N: 140, K: 33, transB: true }, true, true, "tile128"],
    [{ M: 17, N: 70, K: 50, transA: true }, true, false, "tile64"],
    [{ M: 9, N: 5, K: 197 }, false, true, "tile128"],
    [{ M: 132, N: 36, K: 40, transB: true }, true, true, "tile128"], // 4-aligned: vec4<f16> loads
  ];
  for (const [s, aHalf, bHalf, variant] of cases) {
    const a32 = randnF32(s.M * s.K, 21), b32 = randnF32(s.K * s.N, 22);
    // What the kernel sees: the f16-rounded values.
    const a16 = Float16Array.from(a32), b16 = Float16Array.from(b32);
    const ta = aHalf
      ? arena.upload(new Uint16Array(a16.buffer), [a16.length], "f16", "A16")
      : arena.upload(a32, [a32.length], "f32", "A");
    const tb = bHalf
      ? arena.upload(new Uint16Array(b16.buffer), [b16.length], "f16", "B16")
      : arena.upload(b32, [b32.length], "f32", "B");
    const tc = arena.tensor([s.M * s.N], "f32", "C");
    const d = await prepareGemm(gpu, arena, s, { a: ta, b: tb, c: tc }, { variant });
    new StepRecorder(gpu).dispatch(d).submit();
    const got = await readF32(gpu, tc);
    const label = `f16 gemm ${variant} ${JSON.stringify(s)} A${aHalf ? 16 : 32} B${bHalf ? 16 : 32}`;
    // Against the rounded inputs: only f32 accumulation error remains.
    const exact = gemmRef(s, aHalf ? a16 : a32, bHalf ? b16 : b32, new Float32Array(s.M * s.N));
    const tol = 2e-5 * Math.sqrt(s.K) + 1e-5;
    assertAllClose(got, exact, { rtol: tol, atol: tol, label });
    // Against the f32 inputs: the f16 storage error (2⁻¹¹ relative per input) over √K-sized sums.
    const full = gemmRef(s, a32, b32, new Float32Array(s.M * s.N));
    assertAllClose(got, full, { rtol: 1e-2, atol: 1e-2 * Math.sqrt(s.K), label: `${label} vs f32 inputs` });
  }
  const c = arena.tensor([4], "f32", "C");
  const a = arena.tensor([4], "i32", "Ai");
  await assert.rejects(
    () => prepareGemm(gpu, arena, { M: 2, N: 2, K: 2 }, { a, b: c, c }),
    /A must be f32 or f16/,
  );
});

gpuTest(
  "gemm() tile128's unrolled epilogue (the GPU default) and interior fast path, awkward shapes",
  async (ctx) => {
    // Software adapters default to the compact epilogue; both forms must give the same bits. Shapes mix
    // interior 128×128 tiles (no bounds tests) with ragged edges and a ragged last K-tile, every transpose.
    const cases: [GemmShape, { bias?: boolean; residual?: boolean }][] = [
      [{ M: 261, N: 139, K: 21, transB: true, act: "gelu" }, { bias: true, residual: true }],
      [{ M: 256, N: 256, K: 24, transA: true }, {}],
      [{ M: 130, N: 140, K: 33, transA: true, transB: true, accumulate: true, alpha: 0.125 }, {}],
      [{ M: 197, N: 129, K: 17, batch: 2 }, { bias: true }],
    ];
    for (const [s, o] of cases) {
      const unrolled = await checkVariant(ctx, s, { ...o, unrolledEpilogue: true }, "tile128");
      const compact = await checkVariant(ctx, s, { ...o, unrolledEpilogue: false }, "tile128");
      assertAllClose(unrolled, compact, {
        atol: 0,
        rtol: 0,
        label: `unrolled = compact ${JSON.stringify(s)}`,
      });
    }
  },
);

gpuTest("gemm() stores an f16 C: the f32 epilogue (bias, gelu, accumulate) rounded once", async (ctx) => {
  const { gpu, arena } = ctx;
  // Ragged tiles, an odd ldc and C offset (f16 neighbours of different threads), f16 A/B and f32 A/B,
  // both variants and both tile128 epilogue forms.
  const cases: Array<[GemmShape, GemmVariant, boolean, { unrolledEpilogue?: boolean }]> = [
    [{ M: 37, N: 45, K: 29, transB: true, act: "gelu" }, "tile64", true, {}],
    [{ M: 261, N: 139, K: 21, transB: true, ldc: 141, cOffset: 3 }, "tile128", true, {
      unrolledEpilogue: true,
    }],
    [{ M: 130, N: 140, K: 33, transB: true, accumulate: true }, "tile128", true, { unrolledEpilogue: false }],
    [{ M: 19, N: 7, K: 50, accumulate: true, alpha: 0.5 }, "tile64", false, {}],
    // The ViT's fc1 in f16: 4-aligned K (vec4<f16> loads of A and B), GELU, f16 C, ragged M and N.
    [{ M: 133, N: 136, K: 40, transB: true, act: "gelu" }, "tile128", true, { unrolledEpilogue: true }],
  ];
  for (const [s, variant, half, opts] of cases) {
    const ldc = s.ldc ?? s.N, cLen = (s.cOffset ?? 0) + s.M * ldc;
    const a = Float16Array.from(randnF32(s.M * s.K, 31)), b = Float16Array.from(randnF32(s.K * s.N, 32));
    const bias = randnF32(s.N, 33), c0 = Float16Array.from(randnF32(cLen, 34));
    const up16 = (x: Float16Array, label: string) =>
      arena.upload(new Uint16Array(x.buffer), [x.length], "f16", label);
    const tc = up16(c0, "C16");
    const d = await prepareGemm(gpu, arena, s, {
      a: half ? up16(a, "A16") : arena.upload(Float32Array.from(a), [a.length], "f32", "A"),
      b: half ? up16(b, "B16") : arena.upload(Float32Array.from(b), [b.length], "f32", "B"),
      c: tc,
      bias: arena.upload(bias, [s.N], "f32", "bias"),
    }, { variant, ...opts });
    if (variant === "tile128" && half && s.K % 4 === 0) {
      assert.match(d.kernel.label, /A f16 vec4, B f16 vec4, C f16/);
    }
    new StepRecorder(gpu).dispatch(d).submit();
    const got = await readFloat(gpu, tc);
    const want = gemmRef(s, a, b, c0, bias);
    // f32 accumulation (≤ 2e-5·√K) then one rounding to f16 (half an ulp, 2⁻¹¹ relative) — so within one
    // f16 ulp of the reference, and almost always its nearest f16; elements outside C's window untouched.
    const label = `f16 C ${variant} ${JSON.stringify(s)}`;
    let nearest = 0;
    for (let i = 0; i < cLen; i++) {
      const tol = 2 ** -10 * Math.abs(want[i]) + 2e-5 * Math.sqrt(s.K);
      assert.ok(Math.abs(got[i] - want[i]) <= tol, `${label}: C[${i}] = ${got[i]}, reference ${want[i]}`);
      if (got[i] === Math.f16round(want[i])) nearest++;
    }
    // (GELU of a negative input is a small difference of O(1) terms, whose f32 error can decide the
    // rounding: 8% of that case; elsewhere ≥ 99.9% measured.)
    const share = s.act === "gelu" ? 0.85 : 0.99;
    assert.ok(nearest >= share * cLen, `${label}: only ${nearest}/${cLen} are the reference's nearest f16`);
  }
});

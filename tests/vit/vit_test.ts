/**
 * ViT forward pass against real PyTorch (tests/fixtures/vit/make_fixtures.py: clean-room torch module,
 * float64) and the formula-weight golden numbers of dino-backbone.md §5.1; position tables against
 * torch's bicubic interpolate; the patchify kernel against its CPU reference.
 *
 * The larger §5.1 cases (ViT-S/8 at 224² and 320², ViT-B/16 at 224²) are in vit_golden_big_test.ts.
 * @module
 */
import assert from "node:assert/strict";
import { readSafetensorsSync } from "../../core/io/safetensors.ts";
import { loadVitWeights } from "../../core/vit/weights.ts";
import { positionTable, resizeGrid } from "../../core/vit/pos_embed.ts";
import { patchifyRef, prepareClsRows, preparePatchify } from "../../core/vit/embed.ts";
import { chunkSize, VitBackbone, VitGpuWeights } from "../../core/vit/vit.ts";
import { StepRecorder } from "../../core/gpu/step_recorder.ts";
import { readF32 } from "../../core/gpu/readback.ts";
import { assertAllClose, gpuTest, randnF32 } from "../_util.ts";
import { forward, golden } from "./_golden.ts";
import { randomVitWeights } from "../../core/bench/vit_bench.ts";
import { LhpWeights } from "../../core/model/lhp.ts";

const FIX = new URL("../fixtures/vit/", import.meta.url).pathname;
const exp = readSafetensorsSync(FIX + "tiny_expected.safetensors");
const expected = (k: string) => exp.getF32(k);
globalThis.addEventListener("unload", () => exp.close());

Deno.test("positionTable() matches torch bicubic interpolate with the +0.1 scale", () => {
  for (
    const [tag, G, gh, gw] of [["28_40x40", 28, 40, 40], ["14_20x30", 14, 20, 30], [
      "28_28x40",
      28,
      28,
      40,
    ]] as const
  ) {
    const src = expected(`interp_src_${tag}`); // [1, 2, G, G] channels-first
    const want = expected(`interp_out_${tag}`); // [1, 2, gh, gw]
    // resizeGrid works channels-last: transpose in and out.
    const cl = new Float64Array(G * G * 2);
    for (let ch = 0; ch < 2; ch++) for (let i = 0; i < G * G; i++) cl[i * 2 + ch] = src[ch * G * G + i];
    const out = resizeGrid(cl, G, 2, gh, gw);
    const got = new Float64Array(2 * gh * gw);
    for (let ch = 0; ch < 2; ch++) for (let i = 0; i < gh * gw; i++) got[ch * gh * gw + i] = out[i * 2 + ch];
    assertAllClose(got, want, { atol: 2e-6, rtol: 0, label: `resize ${tag}` });
  }
});

gpuTest("patchify kernel matches its CPU reference on awkward sizes", async ({ gpu, arena }) => {
  for (const [B, first, n, H, W, p] of [[3, 1, 2, 24, 40, 8], [2, 0, 2, 15, 21, 5]]) {
    const img = randnF32(B * 3 * H * W, 4);
    const plan = await preparePatchify(gpu, arena, { images: n, first, height: H, width: W, patch: p });
    const want = patchifyRef({ images: n, first, height: H, width: W, patch: p }, img);
    const images = arena.upload(img, [B, 3, H, W], "f32", "img");
    const out = arena.tensor([want.length], "f32", "patches");
    const rec = new StepRecorder(gpu);
    rec.dispatch(plan.bind(images, out)).submit();
    assertAllClose(await readF32(gpu, out), want, {
      atol: 0,
      rtol: 0,
      label: `patchify ${B}×${H}×${W}/p${p}`,
    });
  }
});

gpuTest("cls_rows kernel writes row 0 of every token block and nothing else", async ({ gpu, arena }) => {
  const [B, N, C] = [3, 5, 7];
  const x0 = randnF32(B * N * C, 8), cls = randnF32(C, 9);
  const want = Float64Array.from(x0);
  for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) want[b * N * C + c] = cls[c];
  const x = arena.upload(x0, [B * N, C], "f32", "x");
  const d = await prepareClsRows(gpu, arena, { images: B, tokens: N, dim: C }, {
    clsPos: arena.upload(cls, [C], "f32", "cls"),
    x,
  });
  new StepRecorder(gpu).dispatch(d).submit();
  assertAllClose(await readF32(gpu, x), want, { atol: 0, rtol: 0, label: "cls rows" });
});

gpuTest(
  "VitBackbone matches PyTorch on the tiny fixture model (square, resized, chunked, f16)",
  async (ctx) => {
    const { gpu, arena } = ctx;
    const w = await loadVitWeights(FIX + "tiny_plain.pth", { heads: 3 });
    // 16×16: the 4×4 grid needs no resize; batch 2 in one chunk and in chunks of one.
    for (const chunk of [undefined, 1]) {
      const r = await forward(gpu, arena, w, expected("input_a"), [2, 16, 16], { chunk });
      const e = assertAllClose(r.feat, expected("feat_a"), {
        atol: 1e-4,
        rtol: 0,
        label: `features a (chunk ${r.chunk})`,
      });
      assertAllClose(r.attn, expected("attn_a"), { atol: 1e-4, rtol: 1e-4, label: "attn a" });
      console.error(`  tiny 16×16 chunk ${r.chunk}: max |Δfeat| ${e.toExponential(2)}`);
    }
    // 20×24: 5×6 grid, +0.1 bicubic resize of the position table.
    const pos = positionTable(w.tensors.get("pos_embed")!, 4, 24, 5, 6);
    assertAllClose(pos, expected("pos_b"), { atol: 1e-6, rtol: 0, label: "pos table 5×6" });
    const rb = await forward(gpu, arena, w, expected("input_b"), [1, 20, 24]);
    assertAllClose(rb.feat, expected("feat_b"), { atol: 1e-4, rtol: 0, label: "features b" });
    assertAllClose(rb.attn, expected("attn_b"), { atol: 1e-4, rtol: 1e-4, label: "attn b" });
    // f16 checkpoint: converted weights give PyTorch's output for the same f16 weights.
    const w16 = await loadVitWeights(FIX + "tiny_f16.pth", { heads: 3 });
    const r16 = await forward(gpu, arena, w16, expected("input_a"), [2, 16, 16]);
    assertAllClose(r16.feat, expected("feat_f16_a"), { atol: 1e-4, rtol: 0, label: "features f16" });
    assertAllClose(r16.attn, expected("attn_f16_a"), { atol: 1e-4, rtol: 1e-4, label: "attn f16" });
    // And the wrong head count visibly fails (heads are not stored in checkpoints, §5.3).
    const wrong = await loadVitWeights(FIX + "tiny_plain.pth", { heads: 1 });
    const rw = await forward(gpu, arena, wrong, expected("input_a"), [2, 16, 16]);
    assert.throws(() => assertAllClose(rw.feat, expected("feat_a"), { atol: 1e-4, rtol: 0 }));
  },
);

gpuTest(
  "VitBackbone shares uploaded weights between input sizes and leaves them alive",
  async ({ gpu, arena }) => {
    const w = VitGpuWeights.upload(gpu, await loadVitWeights(FIX + "tiny_plain.pth", { heads: 3 }));
    try {
      const a = await forward(gpu, arena, w, expected("input_a"), [2, 16, 16]);
      const b = await forward(gpu, arena, w, expected("input_b"), [1, 20, 24]); // first backbone destroyed
      assertAllClose(a.feat, expected("feat_a"), { atol: 1e-4, rtol: 0, label: "shared weights, 16×16" });
      assertAllClose(b.feat, expected("feat_b"), { atol: 1e-4, rtol: 0, label: "shared weights, 20×24" });
      assert.ok(!w.get("norm.weight").destroyed);
    } finally {
      w.destroy();
    }
    assert.ok(w.get("norm.weight").destroyed);
  },
);

gpuTest(
  "VitBackbone.encode() alternates between input tensors without mixing them up",
  async ({ gpu, arena }) => {
    const w = await loadVitWeights(FIX + "tiny_plain.pth", { heads: 3 });
    const vit = await VitBackbone.create(gpu, arena, w, { batch: 2, height: 16, width: 16, chunk: 1 });
    try {
      const a = expected("input_a"), n = a.length / 2;
      const swapped = new Float32Array(a.length);
      swapped.set(a.subarray(n), 0);
      swapped.set(a.subarray(0, n), n);
      const ta = arena.upload(a, [2, 3, 16, 16], "f32", "a"),
        tb = arena.upload(swapped, [2, 3, 16, 16], "f32", "b");
      const run = async (t: typeof ta) => {
        const rec = new StepRecorder(gpu);
        vit.encode(rec, t);
        rec.submit();
        return await readF32(gpu, vit.features);
      };
      const fa = await run(ta), fb = await run(tb), fa2 = await run(ta);
      const half = fa.length / 2;
      assertAllClose(fa, expected("feat_a"), { atol: 1e-4, rtol: 0, label: "first A" });
      assertAllClose(fb.subarray(0, half), fa.subarray(half), { atol: 0, rtol: 0, label: "B = swapped A" });
      assertAllClose(fa2, fa, { atol: 0, rtol: 0, label: "A again" });
      assert.throws(
        () => vit.encode(new StepRecorder(gpu), arena.tensor([1, 3, 16, 16])),
        /expected f32\[2, 3, 16, 16\]/,
      );
    } finally {
      vit.destroy();
    }
  },
);

gpuTest(
  "VitBackbone shareScratch: two backbones on one scratch, recorded back to back, give each its own result",
  async ({ gpu, arena }) => {
    const w = await loadVitWeights(FIX + "tiny_plain.pth", { heads: 3 });
    const opts = { batch: 2, height: 16, width: 16, chunk: 1 };
    const first = await VitBackbone.create(gpu, arena, w, opts);
    const second = await VitBackbone.create(gpu, arena, w, { ...opts, shareScratch: first });
    try {
      const a = expected("input_a"), n = a.length / 2;
      const swapped = new Float32Array(a.length);
      swapped.set(a.subarray(n), 0);
      swapped.set(a.subarray(0, n), n);
      const ta = arena.upload(a, [2, 3, 16, 16], "f32", "a"),
        tb = arena.upload(swapped, [2, 3, 16, 16], "f32", "b");
      const rec = new StepRecorder(gpu);
      first.encode(rec, ta);
      second.encode(rec, tb);
      rec.submit();
      const fa = await readF32(gpu, first.features), fb = await readF32(gpu, second.features);
      const half = fa.length / 2;
      assertAllClose(fa, expected("feat_a"), { atol: 1e-4, rtol: 0, label: "first backbone" });
      assertAllClose(fb.subarray(0, half), fa.subarray(half), {
        atol: 0,
        rtol: 0,
        label: "second = swapped",
      });
      assertAllClose(fb.subarray(half), fa.subarray(0, half), {
        atol: 0,
        rtol: 0,
        label: "second = swapped",
      });
      // The second backbone allocates only its outputs.
      assert.ok(second.arena.liveBytes < first.arena.liveBytes / 2, `${second.arena.liveBytes} B`);
      await assert.rejects(
        VitBackbone.create(gpu, arena, w, { ...opts, height: 20, shareScratch: first }),
        /shareScratch needs the same config, input size, chunk and precision/,
      );
      if (gpu.hasF16) {
        // f16 stores y, qkv, o and the MLP hidden layer in half the bytes: an f32 scratch is not theirs.
        await assert.rejects(
          VitBackbone.create(gpu, arena, w, { ...opts, precision: "f16", shareScratch: first }),
          /shareScratch needs the same config, input size, chunk and precision/,
        );
      }
    } finally {
      second.destroy();
      first.destroy();
    }
  },
);

gpuTest(
  "VitBackbone rejects sizes that are not patch multiples and reports chunking",
  async ({ gpu, arena }) => {
    const w = await loadVitWeights(FIX + "tiny_plain.pth", { heads: 3 });
    await assert.rejects(
      VitBackbone.create(gpu, arena, w, { batch: 1, height: 18, width: 16 }),
      /18×16 is not a positive multiple of the patch size 4/,
    );
    // S/8 at 224 on a 128 MiB adapter: 27 images per chunk (MLP hidden 785·1536·4 B = 4.8 MB per image;
    // the fused attention keeps no scores).
    const s8 = { patch: 8, dim: 384, depth: 12, heads: 6, eps: 1e-6, posGrid: 28, mlpDim: 1536 };
    assert.equal(chunkSize(s8, 28, 28, 64, 128 * 2 ** 20), 27);
    assert.equal(chunkSize(s8, 28, 28, 4, 128 * 2 ** 20), 4);
    assert.throws(
      () => chunkSize(s8, 40, 40, 1, 8 * 2 ** 20),
      /over the adapter's 8388608-byte binding limit/,
    );
  },
);

// ---------------------------------------------------------------------------------------------------
// dino-backbone.md §5.1 golden numbers (formula weights, computed with DINO's module in float64).

const TINY = { patch: 8, dim: 64, depth: 2, heads: 4, posGrid: 8 };
gpuTest(
  "VitBackbone reproduces the §5.1 golden numbers: tiny model at 64² and 80×96",
  async ({ gpu, arena }) => {
    await golden(gpu, arena, "tiny 64²", TINY, 64, 64);
    await golden(gpu, arena, "tiny 80×96", TINY, 80, 96);
  },
);

gpuTest(
  "VitBackbone: 7 dispatches per block whatever the batch; its LHP coefficients equal LhpWeights on its attn",
  async ({ gpu, arena }) => {
    const config = { patch: 8, dim: 64, depth: 2, heads: 4, eps: 1e-6, posGrid: 8, mlpDim: 256 };
    const w = VitGpuWeights.upload(gpu, randomVitWeights(config, 7));
    try {
      const counts: number[] = [];
      for (const batch of [1, 5]) {
        const vit = await VitBackbone.create(gpu, arena, w, { batch, height: 48, width: 56 });
        // patchify, patch-embedding GEMM, CLS rows, 7 per block, final LayerNorm — per chunk.
        assert.equal(vit.chunk, batch);
        counts.push(vit.dispatchCount);
        vit.destroy();
      }
      assert.deepEqual(counts, [4 + 7 * config.depth, 4 + 7 * config.depth]);
      // Batch 3 in chunks of 2 (6×6 grid): the coefficients of the second chunk land at rows 2·P on, and
      // all equal LhpWeights run on the backbone's own attn output.
      const vit = await VitBackbone.create(gpu, arena, w, {
        batch: 3,
        height: 48,
        width: 48,
        chunk: 2,
        attn: true,
        lhp: { sigma: 28 },
      });
      try {
        assert.equal(vit.dispatchCount, 2 * (4 + 7 * config.depth + 2));
        const images = arena.upload(randnF32(3 * 3 * 48 * 48, 3), [3, 3, 48, 48], "f32", "images");
        const lhpW = await LhpWeights.create(gpu, arena, { B: 3, S: 6 }, { attn: vit.attn! }, { sigma: 28 });
        const rec = new StepRecorder(gpu);
        vit.encode(rec, images);
        lhpW.record(rec);
        rec.submit();
        const got = await readF32(gpu, vit.lhp!);
        assert.ok(got.some((v) => v > 0));
        assertAllClose(got, await readF32(gpu, lhpW.coef), {
          atol: 0,
          rtol: 0,
          label: "vit.lhp vs LhpWeights",
        });
        await assert.rejects(
          VitBackbone.create(gpu, arena, w, { batch: 1, height: 48, width: 56, lhp: { sigma: 28 } }),
          /square/,
        );
      } finally {
        vit.destroy();
      }
    } finally {
      w.destroy();
    }
  },
);

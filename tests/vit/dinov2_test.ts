/**
 * DINOv2 forward (issue 16) against the clean-room float64 PyTorch DINOv2 of
 * tests/fixtures/dinov2/make_fixtures.py, on files written by real torch.save (official layout) and in the
 * Hugging Face safetensors layout, with and without registers, at 224 (16×16 grid, 37→16 resize) and 112
 * (8×8): features ≤ 1e-4 and attention logits ≤ 1e-3. The official files go through `deno task features`
 * as a user runs it; the HF files through the same command in-process. Also: both position-embedding
 * resize rules against torch's F.interpolate (antialiased exact-size bicubic A = −0.5 for registers; the
 * +0.1 scale rule A = −0.75 without), the register/CLS prefix rows, and the LayerScale fold.
 *
 * The full-size random-init ViT-S/14 case is in the slow tier (tests/e2e/features_parity_test.ts).
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readSafetensorsSync } from "../../core/io/safetensors.ts";
import { loadVitWeights } from "../../core/vit/weights.ts";
import { antialiasTaps, positionTable, type PosResize, resizeGrid } from "../../core/vit/pos_embed.ts";
import { prepareClsRows } from "../../core/vit/embed.ts";
import { layerScaled } from "../../core/vit/vit.ts";
import { command as features } from "../../core/cli/features.ts";
import { decodeImage } from "../../core/image/codecs.ts";
import { evalTransform, normalizeImageNet } from "../../core/image/transforms.ts";
import { StepRecorder } from "../../core/gpu/step_recorder.ts";
import { readF32 } from "../../core/gpu/readback.ts";
import { assertAllClose, gpuTest, randnF32, testGpu } from "../_util.ts";
import { task } from "../_task.ts";
import { checkFeatures } from "./_features.ts";
import { forward } from "./_golden.ts";

const FIX = new URL("../fixtures/dinov2/", import.meta.url).pathname;
const exp = readSafetensorsSync(FIX + "dinov2_expected.safetensors");
const expected = (k: string) => exp.getF32(k);
globalThis.addEventListener("unload", () => exp.close());

/** resizeGrid on a channels-first [ch, G, G] source, returned channels-first [ch, gh, gw]. */
function resizeCf(src: Float32Array, ch: number, G: number, gh: number, gw: number, rule: PosResize) {
  const cl = new Float64Array(G * G * ch);
  for (let c = 0; c < ch; c++) for (let i = 0; i < G * G; i++) cl[i * ch + c] = src[c * G * G + i];
  const out = resizeGrid(cl, G, ch, gh, gw, rule);
  const got = new Float64Array(ch * gh * gw);
  for (let c = 0; c < ch; c++) for (let i = 0; i < gh * gw; i++) got[c * gh * gw + i] = out[i * ch + c];
  return got;
}

const CASES = [
  ["37_16x16", 37, 16, 16],
  ["37_8x8", 37, 8, 8],
  ["37_23x23", 37, 23, 23],
  ["37_16x23", 37, 16, 23],
  ["37_46x46", 37, 46, 46],
  ["37_37x40", 37, 37, 40],
  ["5_3x7", 5, 3, 7],
] as const;

Deno.test("pos-embed resize: both rules match torch F.interpolate (shrink, enlarge, non-square, same size)", () => {
  for (const [tag, G, gh, gw] of CASES) {
    const src = expected(`interp_src_${tag}`);
    for (const [rule, key] of [["antialias", "aa"], ["offset", "offset"]] as const) {
      const got = resizeCf(src, 2, G, gh, gw, rule);
      assertAllClose(got, expected(`interp_${key}_${tag}`), { atol: 1e-6, rtol: 0, label: `${rule} ${tag}` });
    }
    // The rules really differ (so the forward tests below tell them apart), except where neither resizes.
    const d = resizeCf(src, 2, G, gh, gw, "antialias").reduce(
      (m, v, i) => Math.max(m, Math.abs(v - expected(`interp_offset_${tag}`)[i])),
      0,
    );
    assert.ok(d > 0.05, `${tag}: antialias vs offset differ by only ${d}`);
  }
  // Shrinking stretches the A = −0.5 kernel over 37/16 source pixels per side; weights sum to 1.
  const t = antialiasTaps(37, 16);
  for (let o = 0; o < 16; o++) {
    const w = t.w.subarray(o * t.taps, (o + 1) * t.taps);
    assert.ok(Math.abs(w.reduce((a, b) => a + b, 0) - 1) < 1e-12);
    assert.ok(w.filter((v) => v !== 0).length <= 2 * Math.ceil(2 * 37 / 16) + 1);
  }
});

Deno.test("DINOv2 position tables: reg4 uses the antialias rule, no-reg the +0.1 rule (vs the PyTorch model)", async () => {
  for (
    const [tag, file] of [["reg4", "dinov2_tiny_reg4_pretrain.pth"], ["noreg", "dinov2_tiny_pretrain.pth"]]
  ) {
    const w = await loadVitWeights(FIX + file, { heads: 2 });
    const pos = positionTable(w.tensors.get("pos_embed")!, 37, 24, 8, 8, w.config.posResize);
    assertAllClose(pos, expected(`pos_${tag}_112`), { atol: 1e-6, rtol: 0, label: `pos ${tag} 8×8` });
  }
});

Deno.test("layerScaled() folds γ into the rows of attn.proj / mlp.fc2 weight and bias, nothing else", async () => {
  const w = await loadVitWeights(FIX + "dinov2_tiny_pretrain.pth", { heads: 2 });
  const g1 = w.tensors.get("blocks.1.ls1.gamma")!, W = w.tensors.get("blocks.1.attn.proj.weight")!;
  const f = layerScaled(w, "blocks.1.attn.proj.weight", W);
  for (let o = 0; o < 24; o++) {
    for (let i = 0; i < 24; i++) assert.equal(f[o * 24 + i], Math.fround(g1[o] * W[o * 24 + i]));
  }
  const g2 = w.tensors.get("blocks.0.ls2.gamma")!, b = w.tensors.get("blocks.0.mlp.fc2.bias")!;
  assert.deepEqual(layerScaled(w, "blocks.0.mlp.fc2.bias", b), b.map((v, o) => g2[o] * v));
  const qkv = w.tensors.get("blocks.0.attn.qkv.weight")!;
  assert.equal(layerScaled(w, "blocks.0.attn.qkv.weight", qkv), qkv);
});

gpuTest(
  "cls_rows kernel writes the CLS + register prefix rows of every token block and nothing else",
  async ({ gpu, arena }) => {
    const [B, N, C, T] = [3, 9, 7, 5];
    const x0 = randnF32(B * N * C, 8), prefix = randnF32(T * C, 9);
    const want = Float64Array.from(x0);
    for (let b = 0; b < B; b++) for (let i = 0; i < T * C; i++) want[b * N * C + i] = prefix[i];
    const x = arena.upload(x0, [B * N, C], "f32", "x");
    const d = await prepareClsRows(gpu, arena, { images: B, tokens: N, dim: C, rows: T }, {
      clsPos: arena.upload(prefix, [T, C], "f32", "prefix"),
      x,
    });
    new StepRecorder(gpu).dispatch(d).submit();
    assertAllClose(await readF32(gpu, x), want, { atol: 0, rtol: 0, label: "prefix rows" });
  },
);

const ignore = (await testGpu()) === null;

Deno.test({
  name: "deno task features on official DINOv2 .pth files (± registers, 224 and 112) matches float64 PyTorch",
  sanitizeOps: false,
  sanitizeResources: false,
  ignore,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "dinov2_features_" });
    try {
      for (
        const [tag, file] of [["reg4", "dinov2_tiny_reg4_pretrain.pth"], [
          "noreg",
          "dinov2_tiny_pretrain.pth",
        ]]
      ) {
        for (const size of [224, 112]) {
          const out = join(dir, `${tag}_${size}.safetensors`);
          const r = await task("features", [
            "--weights",
            FIX + file,
            "--heads",
            "2",
            "--size",
            String(size),
            "--out",
            out,
            FIX + "dinov2_image.png",
          ]);
          assert.equal(r.code, 0, r.stderr);
          const e = checkFeatures(
            out,
            expected(`feat_${tag}_${size}`),
            expected(`attn_${tag}_${size}`),
            `${tag} ${size}`,
          );
          assert.match(e.variant, /^custom DINOv2 ViT/);
          console.error(
            `  ${file} ${size}²: max |Δfeatures| ${e.ef.toExponential(2)}, max |Δattn| ${
              e.ea.toExponential(2)
            }`,
          );
        }
      }
      // Sizes that are not multiples of 14 are refused in one line, naming the nearest multiples.
      const bad = await task("features", [
        "--weights",
        FIX + "dinov2_tiny_pretrain.pth",
        "--heads",
        "2",
        "--size",
        "320",
        "--out",
        join(dir, "x.safetensors"),
        FIX + "dinov2_image.png",
      ]);
      assert.equal(bad.code, 2, bad.stderr);
      assert.match(
        bad.stderr,
        /--size must be a positive multiple of the patch size 14, got 320 \(nearest: 308 or 322\)/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "features on Hugging Face DINOv2 safetensors (± registers, 224 and 112) matches float64 PyTorch",
  sanitizeOps: false,
  sanitizeResources: false,
  ignore,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "dinov2_hf_" });
    try {
      for (
        const [tag, file] of [["reg4", "dinov2_tiny_reg4_hf.safetensors"], [
          "noreg",
          "dinov2_tiny_hf.safetensors",
        ]]
      ) {
        for (const size of [224, 112]) {
          const out = join(dir, `${tag}_${size}.safetensors`);
          const args = ["--weights", FIX + file, "--heads", "2", "--size", String(size), "--out", out];
          assert.equal(await features.run([...args, FIX + "dinov2_image.png"]), 0);
          const e = checkFeatures(
            out,
            expected(`feat_${tag}_${size}`),
            expected(`attn_${tag}_${size}`),
            `HF ${tag} ${size}`,
          );
          console.error(
            `  ${file} ${size}²: max |Δfeatures| ${e.ef.toExponential(2)}, max |Δattn| ${
              e.ea.toExponential(2)
            }`,
          );
        }
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

gpuTest(
  "DINOv2 forward fails visibly with the wrong pos rule, without registers or without LayerScale",
  async ({ gpu, arena }) => {
    // Negative controls: each DINOv2 ingredient changes the 224 output far beyond the tolerance.
    const w = await loadVitWeights(FIX + "dinov2_tiny_reg4_pretrain.pth", { heads: 2 });
    const img = evalTransform(await decodeImage(await Deno.readFile(FIX + "dinov2_image.png"), "png"), 224);
    const input = new Float32Array(3 * 224 * 224);
    normalizeImageNet(img, input, 0);
    const ok = await forward(gpu, arena, w, input, [1, 224, 224]);
    assertAllClose(ok.feat, expected("feat_reg4_224"), { atol: 1e-4, rtol: 0, label: "reference run" });
    const variants: Array<[string, typeof w]> = [
      ["offset pos rule", { ...w, config: { ...w.config, posResize: "offset" } }],
      ["no registers", {
        ...w,
        config: { ...w.config, registers: 0 },
        tensors: new Map([...w.tensors].filter(([k]) => k !== "register_tokens")),
      }],
      ["no LayerScale", { ...w, config: { ...w.config, layerScale: false } }],
    ];
    for (const [what, v] of variants) {
      const r = await forward(gpu, arena, v, input, [1, 224, 224]);
      let d = 0;
      for (let i = 0; i < r.feat.length; i++) {
        d = Math.max(
          d,
          Math.abs(r.feat[i] - expected("feat_reg4_224")[i]),
        );
      }
      assert.ok(d > 1e-2, `${what}: features moved only ${d}`);
    }
  },
);

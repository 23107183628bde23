/**
 * DINOv2 weight loading (issue 16; core/vit/dinov2_weights.ts): the official layout and the Hugging Face
 * Dinov2Model layout written by tests/fixtures/dinov2/make_fixtures.py (real torch.save, clean-room model)
 * load to the same tensors; registers, LayerScale and the position-embedding rule are detected from the
 * keys; mask_token is ignored; block-chunked training checkpoints load; SwiGLU (ViT-g) and linear-head
 * files are refused in one line; the S/B/L shape tables agree with the PyTorch module's parameter counts.
 * @module
 */
import assert from "node:assert/strict";
import {
  blockParams,
  dinoShapes,
  loadVitWeights,
  variantName,
  type VitConfig,
} from "../../core/vit/weights.ts";
import { readSafetensorsSync } from "../../core/io/safetensors.ts";
import { assertRejectsInputError } from "../_util.ts";

const FIX = new URL("../fixtures/dinov2/", import.meta.url).pathname;
const TINY = { heads: 2 };

Deno.test("DINOv2 official and HF layouts load to identical tensors; registers, LayerScale and pos rule detected", async () => {
  for (const [name, R] of [["dinov2_tiny_reg4", 4], ["dinov2_tiny", 0]] as const) {
    const off = await loadVitWeights(`${FIX}${name}_pretrain.pth`, TINY);
    const want: VitConfig = { patch: 14, dim: 24, depth: 2, heads: 2, eps: 1e-6, posGrid: 37, mlpDim: 96 };
    Object.assign(want, { registers: R, layerScale: true, posResize: R ? "antialias" : "offset" });
    assert.deepEqual(off.config, want, name);
    assert.equal(off.format, "dinov2");
    assert.equal(
      variantName(off.config),
      `custom DINOv2 ViT (C=24, depth 2, 2 heads, p14${R ? ", 4 registers" : ""})`,
    );
    // Everything but mask_token, in the official order (blocks carry ls1/ls2 γ).
    assert.deepEqual([...off.tensors.keys()], dinoShapes(off.config).map(([k]) => k));
    assert.equal(off.tensors.size, 4 + (R ? 1 : 0) + 14 * 2 + 2);
    assert.ok(!off.tensors.has("mask_token"));
    const hf = await loadVitWeights(`${FIX}${name}_hf.safetensors`, TINY);
    assert.equal(hf.format, "hf");
    assert.deepEqual(hf.config, off.config);
    for (const [k, v] of off.tensors) assert.deepEqual(hf.tensors.get(k), v, `${name}: ${k} bit-identical`);
    // The γ really are the file's (HF lambda1 = official gamma), non-trivial and of both signs.
    const st = readSafetensorsSync(`${FIX}${name}_hf.safetensors`);
    try {
      const g = st.getF32("encoder.layer.1.layer_scale2.lambda1");
      assert.deepEqual(off.tensors.get("blocks.1.ls2.gamma"), g);
      assert.ok(g.some((v) => v < 0) && g.some((v) => v > 0.3), "γ of both signs, far from 1e-5");
      if (R) assert.deepEqual(off.tensors.get("register_tokens"), st.getF32("embeddings.register_tokens"));
    } finally {
      st.close();
    }
  }
});

Deno.test("DINOv2 training checkpoint (teacher, backbone.*, block chunks, dino/ibot heads) equals the flat file", async () => {
  const flat = await loadVitWeights(FIX + "dinov2_mini_plain.pth", { heads: 1 });
  assert.deepEqual(
    { registers: flat.config.registers, depth: flat.config.depth, posGrid: flat.config.posGrid },
    { registers: 4, depth: 2, posGrid: 3 },
  );
  const ckpt = await loadVitWeights(FIX + "dinov2_mini_teacher.pth", { heads: 1 });
  assert.equal(ckpt.format, "dino-full");
  assert.deepEqual(ckpt.config, flat.config);
  assert.deepEqual([...ckpt.tensors.keys()], [...flat.tensors.keys()]);
  for (const [k, v] of flat.tensors) assert.deepEqual(ckpt.tensors.get(k), v, k);
});

Deno.test("DINOv2 ViT-g SwiGLU and *_linear_head.pth files are refused in one line naming file and key", async () => {
  await assertRejectsInputError(
    loadVitWeights(FIX + "dinov2_mini_swiglu.pth", { heads: 1 }),
    FIX + "dinov2_mini_swiglu.pth",
    /key "blocks\.0\.mlp\.w12\.weight" \[\d+, 8\] is a SwiGLU MLP \(DINOv2 ViT-g\/14\)/,
    "use a ViT-S/14, B/14 or L/14 file",
  );
  await assertRejectsInputError(
    loadVitWeights(FIX + "dinov2_tiny_linear_head.pth"),
    FIX + "dinov2_tiny_linear_head.pth",
    /weight \[10, 48\], bias \[10\]\), not a backbone/,
    "*_pretrain.pth",
  );
  // The message is one line (the CLI prints it as is).
  await assert.rejects(
    loadVitWeights(FIX + "dinov2_tiny_linear_head.pth"),
    (e: Error) => !e.message.includes("\n"),
  );
});

Deno.test("DINOv2 S/14, B/14, L/14 (± reg4) shape tables match the PyTorch module's parameter counts", () => {
  const exp = readSafetensorsSync(FIX + "dinov2_expected.safetensors");
  const counts: Record<string, number> = JSON.parse(exp.metadata.param_counts);
  exp.close();
  for (const [size, dim, depth] of [["S", 384, 12], ["B", 768, 12], ["L", 1024, 24]] as const) {
    for (const R of [0, 4]) {
      const c: VitConfig = {
        patch: 14,
        dim,
        depth,
        heads: dim / 64,
        eps: 1e-6,
        posGrid: 37,
        mlpDim: 4 * dim,
        registers: R,
        layerScale: true,
        posResize: R ? "antialias" : "offset",
      };
      const name = `${size}/14${R ? "-reg4" : ""}`;
      assert.equal(variantName(c), `DINOv2 ViT-${name}`);
      const shapes = dinoShapes(c);
      // + mask_token [1, C], which the files hold and the loader ignores.
      assert.equal(shapes.length + 1, counts[`${name} tensors`], name);
      assert.equal(
        shapes.reduce((a, [, s]) => a + s.reduce((x, y) => x * y, 1), 0) + dim,
        counts[name],
        name,
      );
      assert.equal(blockParams(c).length, 14);
    }
  }
});

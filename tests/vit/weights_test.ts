/**
 * ViT weight loading across formats (dino-backbone.md §3.1–§3.2, §5.3): every fixture written by
 * tests/fixtures/vit/make_fixtures.py (plain, dict, DINO full checkpoint, HP ckpt, HF safetensors, f16)
 * loads to the same DINO-named tensors; bad files fail with one clear message.
 * @module
 */
import assert from "node:assert/strict";
import {
  dinoShapes,
  formulaVitWeights,
  loadVitWeights,
  variantName,
  type VitConfig,
} from "../../core/vit/weights.ts";
import { encodeSafetensors, readSafetensorsSync } from "../../core/io/safetensors.ts";
import { f16BitsToF32, f32ToF16Bits } from "../../core/io/tensor_data.ts";
import { assertRejectsInputError, rng } from "../_util.ts";

const FIX = new URL("../fixtures/vit/", import.meta.url).pathname;
const TINY = { heads: 3 };

Deno.test("loadVitWeights() gives identical tensors for plain, dict, full-checkpoint, HP and HF files (.safetensors, .bin)", async () => {
  const ref = await loadVitWeights(FIX + "tiny_plain.pth", TINY);
  assert.deepEqual(ref.config, { patch: 4, dim: 24, depth: 2, heads: 3, eps: 1e-6, posGrid: 4, mlpDim: 96 });
  assert.equal(ref.format, "dino");
  assert.equal(ref.tensors.size, 4 + 12 * 2 + 2);
  // Plain state dict straight from the pickle, as a second opinion on the reader.
  const exp = readSafetensorsSync(FIX + "tiny_hf.safetensors");
  try {
    assert.deepEqual(ref.tensors.get("cls_token"), exp.getF32("embeddings.cls_token"));
  } finally {
    exp.close();
  }
  for (
    const [file, format] of [
      ["tiny_dict.pth", "dino"],
      ["tiny_full.pth", "dino-full"],
      ["tiny_hp.pth", "hp-ckpt"],
      ["tiny_hf.safetensors", "hf"],
      ["tiny_hf_classifier.bin", "hf"],
    ]
  ) {
    const w = await loadVitWeights(FIX + file, TINY);
    assert.equal(w.format, format, file);
    assert.deepEqual(w.config, ref.config, file);
    assert.deepEqual([...w.tensors.keys()], [...ref.tensors.keys()], file);
    for (const [k, v] of ref.tensors) assert.deepEqual(w.tensors.get(k), v, `${file}: ${k} bit-identical`);
  }
});

Deno.test("loadVitWeights() converts f16 checkpoints to the exactly rounded float32 values", async () => {
  const ref = await loadVitWeights(FIX + "tiny_plain.pth", TINY);
  const h = await loadVitWeights(FIX + "tiny_f16.pth", TINY);
  for (const [k, v] of ref.tensors) {
    assert.deepEqual(h.tensors.get(k), f16BitsToF32(f32ToF16Bits(v)), k);
  }
});

Deno.test("loadVitWeights() detects the standard variants from shapes and defaults heads to C/64", async () => {
  const ref = await loadVitWeights(FIX + "tiny_plain.pth", TINY);
  await assertRejectsInputError(
    loadVitWeights(FIX + "tiny_plain.pth"),
    "tiny_plain.pth",
    /cannot infer the number of heads for width 24[\s\S]*hint/,
  );
  // Parameter counts of dino-backbone.md §1.1 from the shape table.
  const counts: Array<[Partial<VitConfig>, number, string]> = [
    [{ dim: 384, patch: 16, posGrid: 14 }, 21_665_664, "ViT-S/16"],
    [{ dim: 384, patch: 8, posGrid: 28 }, 21_670_272, "ViT-S/8"],
    [{ dim: 768, patch: 16, posGrid: 14 }, 85_798_656, "ViT-B/16"],
    [{ dim: 768, patch: 8, posGrid: 28 }, 85_807_872, "ViT-B/8"],
  ];
  for (const [c, n, name] of counts) {
    const cfg = { depth: 12, eps: 1e-6, ...c, heads: c.dim! / 64, mlpDim: 4 * c.dim! } as VitConfig;
    const shapes = dinoShapes(cfg);
    assert.equal(shapes.length, 150);
    assert.equal(shapes.reduce((a, [, s]) => a + s.reduce((x, y) => x * y, 1), 0), n, name);
    assert.equal(variantName(cfg), name);
  }
  // A re-saved S/16-shaped file is detected as such: shrink the tiny model's shapes into a fake S/16.
  // A ViT-S/16-shaped file (values: the tensor index, so a mix-up of keys would show) is detected as such.
  const s16 = { patch: 16, dim: 384, depth: 12, heads: 6, eps: 1e-6, posGrid: 14, mlpDim: 1536 };
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
  dinoShapes(s16).forEach(([k, shape], i) => {
    tensors[k] = { shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(i) };
  });
  const path = await Deno.makeTempFile({ suffix: ".safetensors" });
  try {
    await Deno.writeFile(path, encodeSafetensors(tensors));
    const w = await loadVitWeights(path);
    assert.equal(variantName(w.config), "ViT-S/16");
    assert.deepEqual(w.config, s16);
    dinoShapes(s16).forEach(([k], i) => assert.equal(w.tensors.get(k)![0], i, k));
  } finally {
    await Deno.remove(path);
  }
  assert.equal(ref.config.depth, 2);
});

Deno.test("loadVitWeights() names the file, key, expected and found shape for bad state dicts", async () => {
  const ref = await loadVitWeights(FIX + "tiny_plain.pth", TINY);
  const write = async (edit: (t: Record<string, { shape: number[]; data: Float32Array }>) => void) => {
    const t: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const [k, shape] of dinoShapes(ref.config)) t[k] = { shape, data: ref.tensors.get(k)! };
    edit(t);
    const p = await Deno.makeTempFile({ suffix: ".safetensors" });
    await Deno.writeFile(p, encodeSafetensors(t));
    return p;
  };
  const paths = [
    await write((t) => {
      t["blocks.1.mlp.fc1.bias"] = { shape: [95], data: new Float32Array(95) };
    }),
    await write((t) => {
      delete t["blocks.0.norm2.bias"];
    }),
    await write((t) => {
      t["blocks.0.extra.weight"] = { shape: [2], data: new Float32Array(2) };
    }),
    await write((t) => {
      delete t["cls_token"];
    }),
  ];
  try {
    await assertRejectsInputError(
      loadVitWeights(paths[0], TINY),
      paths[0],
      /key "blocks\.1\.mlp\.fc1\.bias": expected shape \[96\], found \[95\]/,
    );
    await assertRejectsInputError(
      loadVitWeights(paths[1], TINY),
      paths[1],
      /missing key "blocks\.0\.norm2\.bias" \(expected shape \[24\]\)/,
    );
    await assertRejectsInputError(
      loadVitWeights(paths[2], TINY),
      paths[2],
      /unexpected key "blocks\.0\.extra\.weight"/,
    );
    await assertRejectsInputError(loadVitWeights(paths[3], TINY), paths[3], /no "cls_token" tensor/);
  } finally {
    for (const p of paths) await Deno.remove(p);
  }
});

Deno.test("loadVitWeights() fails fast and clearly on truncated, legacy and random-bytes files", async () => {
  await assertRejectsInputError(
    loadVitWeights(FIX + "tiny_truncated.pth", TINY),
    "tiny_truncated.pth",
    /truncated|end-of-central/,
  );
  await assertRejectsInputError(loadVitWeights(FIX + "legacy.pth", TINY), "legacy.pth", /legacy/);
  const r = rng(11);
  const p = await Deno.makeTempFile({ suffix: ".pth" });
  try {
    await Deno.writeFile(p, Uint8Array.from({ length: 100_000 }, () => Math.floor(r() * 256)));
    await assertRejectsInputError(
      loadVitWeights(p),
      p,
      /not a PyTorch zip checkpoint or a safetensors file|header length/,
    );
    // Random bytes after a valid-looking safetensors length prefix.
    const b = Uint8Array.from({ length: 2000 }, () => Math.floor(r() * 256));
    new DataView(b.buffer).setBigUint64(0, 1000n, true);
    b[8] = 0x7b;
    await Deno.writeFile(p, b);
    await assertRejectsInputError(loadVitWeights(p), p, /not valid UTF-8 JSON/);
  } finally {
    await Deno.remove(p);
  }
  await assertRejectsInputError(loadVitWeights(FIX + "missing.pth"), "missing.pth", /no such file/);
});

Deno.test("formulaVitWeights() follows dino-backbone.md §5.1 element by element", () => {
  const w = formulaVitWeights({ patch: 8, dim: 64, depth: 2, heads: 4, posGrid: 8 });
  const u = (j: number, k: number) => Math.fround(Math.sin(0.731 * j + 1.917 * k + 0.5));
  assert.equal(w.tensors.get("cls_token")![5], Math.fround(0.5 * Math.sin(0.731 * 5 + 0.5)));
  assert.equal(w.tensors.get("pos_embed")![100], Math.fround(0.5 * Math.sin(73.1 + 1.917 + 0.5)));
  // k = 4 + 12·1 + 2 → blocks.1.attn.qkv.weight, fan_in = C.
  assert.equal(
    w.tensors.get("blocks.1.attn.qkv.weight")![7],
    Math.fround(Math.sin(0.731 * 7 + 1.917 * 18 + 0.5) * Math.sqrt(3 / 64)),
  );
  // k = 4 + 12·0 + 10 → fc2 weight, fan_in = 4C.
  assert.equal(
    w.tensors.get("blocks.0.mlp.fc2.weight")![3],
    Math.fround(Math.sin(0.731 * 3 + 1.917 * 14 + 0.5) * Math.sqrt(3 / 256)),
  );
  // Patch conv fan_in = 3p².
  assert.equal(
    w.tensors.get("patch_embed.proj.weight")![1],
    Math.fround(Math.sin(0.731 + 1.917 * 2 + 0.5) * Math.sqrt(3 / 192)),
  );
  assert.equal(
    w.tensors.get("blocks.0.norm2.weight")![2],
    Math.fround(1 + 0.1 * Math.sin(1.462 + 1.917 * 10 + 0.5)),
  );
  assert.equal(w.tensors.get("norm.bias")![0], Math.fround(0.05 * Math.sin(1.917 * 29 + 0.5)));
  assert.ok(Math.abs(u(0, 0)) <= 1);
});

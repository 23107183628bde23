/**
 * `hpseg features` end to end: image decoding, the eval transform (PIL nearest resize, torchvision centre
 * crop with round-half-even offsets, ImageNet normalisation), the ViT and the safetensors output, against
 * PyTorch outputs from tests/fixtures/vit/make_fixtures.py.
 *
 * The random-init ViT-S/16 parity case is in the slow tier (tests/e2e/features_parity_test.ts).
 * @module
 */
import assert from "node:assert/strict";
import { command } from "../../core/cli/features.ts";
import { UsageError } from "../../core/errors.ts";
import { readSafetensorsSync } from "../../core/io/safetensors.ts";
import { assertAllClose, gpuCommandTest } from "../_util.ts";

const FIX = new URL("../fixtures/vit/", import.meta.url).pathname;

Deno.test("features --help prints usage; bad arguments raise one-line UsageErrors", async () => {
  const log = console.log;
  let out = "";
  console.log = (s: string) => (out += s);
  try {
    assert.equal(await command.run(["--help"]), 0);
  } finally {
    console.log = log;
  }
  assert.match(out, /--weights FILE --out OUT\.safetensors/);
  await assert.rejects(command.run(["--out", "x.safetensors", "a.png"]), UsageError);
  await assert.rejects(command.run(["--weights", "w.pth", "a.png"]), /--out FILE\.safetensors is required/);
  await assert.rejects(command.run(["--weights", "w.pth", "--out", "o.safetensors"]), /at least one IMAGE/);
  await assert.rejects(command.run(["--weights", "w.pth", "--out", "o", "--batch", "0", "a.png"]), /--batch/);
  await assert.rejects(command.run(["--bogus"]), UsageError);
  await assert.rejects(
    command.run(["--weights", "w.pth", "--out", "o.safetensors", "--precision", "bf16", "a.png"]),
    /--precision must be auto, f32 or f16, got "bf16"/,
  );
  await assert.rejects(
    command.run(["--weights", FIX + "tiny_plain.pth", "--out", "o.safetensors", "/nonexistent/a.jpg"]),
    /Missing image file \/nonexistent\/a\.jpg/,
  );
});

gpuCommandTest(
  "features matches PyTorch for the tiny model (PNG + JPEG, resize + crop, padded batch)",
  async () => {
    const out = await Deno.makeTempFile({ suffix: ".safetensors" });
    try {
      const code = await command.run([
        "--weights",
        FIX + "tiny_hf.safetensors",
        "--heads",
        "3",
        "--size",
        "16",
        "--batch",
        "2",
        "--out",
        out,
        FIX + "tiny_image0.png",
        FIX + "tiny_image1.png",
        FIX + "j420_prog.jpg",
      ]);
      assert.equal(code, 0);
      const st = readSafetensorsSync(out);
      const exp = readSafetensorsSync(FIX + "tiny_expected.safetensors");
      try {
        assert.deepEqual(st.info("features"), { dtype: "F32", shape: [3, 16, 24] });
        assert.deepEqual(st.info("attn"), { dtype: "F32", shape: [3, 16, 16] });
        assert.equal(st.metadata.size, "16");
        assert.equal(st.metadata.precision, "f32"); // auto on the software adapter
        assert.deepEqual(JSON.parse(st.metadata.images).length, 3);
        assertAllClose(st.getF32("features"), exp.getF32("images_feat"), {
          atol: 1e-4,
          rtol: 0,
          label: "features",
        });
        assertAllClose(st.getF32("attn"), exp.getF32("images_attn"), {
          atol: 1e-4,
          rtol: 1e-4,
          label: "attn",
        });
      } finally {
        st.close();
        exp.close();
      }
      // --precision f16: recorded, and within the f16 bound of README "Backbone precision".
      const args = ["--weights", FIX + "tiny_hf.safetensors", "--heads", "3", "--size", "16", "--out", out];
      assert.equal(await command.run([...args, "--precision", "f16", FIX + "tiny_image0.png"]), 0);
      const st16 = readSafetensorsSync(out), exp16 = readSafetensorsSync(FIX + "tiny_expected.safetensors");
      try {
        assert.equal(st16.metadata.precision, "f16");
        const want = exp16.getF32("images_feat").subarray(0, 16 * 24);
        assertAllClose(st16.getF32("features"), want, { atol: 1e-2, rtol: 0, label: "f16 features" });
        assert.throws(() => assertAllClose(st16.getF32("features"), want, { atol: 1e-5, rtol: 0 }));
      } finally {
        st16.close();
        exp16.close();
      }
      await assert.rejects(
        command.run([
          "--weights",
          FIX + "tiny_plain.pth",
          "--heads",
          "3",
          "--size",
          "18",
          "--out",
          out,
          FIX + "j420.jpg",
        ]),
        /--size must be a positive multiple of the patch size 4, got 18/,
      );
    } finally {
      await Deno.remove(out);
    }
  },
);

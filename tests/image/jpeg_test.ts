/**
 * The libjpeg-exact JPEG decoder (core/image/jpeg.ts) against libjpeg-turbo's own output (decoded by PIL in
 * tests/fixtures/vit/make_fixtures.py): every sample must be identical, for 4:4:4, 4:2:2, 4:2:0 (odd
 * size), optimised Huffman tables, progressive 4:2:0 and 4:4:4, and greyscale files.
 * @module
 */
import assert from "node:assert/strict";
import { decodeJpegExact, JpegUnsupported } from "../../core/image/jpeg.ts";
import { readSafetensorsSync } from "../../core/io/safetensors.ts";

const FIX = new URL("../fixtures/vit/", import.meta.url).pathname;

Deno.test("decodeJpegExact() reproduces libjpeg-turbo's RGB output bit for bit", () => {
  const exp = readSafetensorsSync(FIX + "jpeg_expected.safetensors");
  try {
    assert.equal(exp.keys().length, 10);
    for (const name of exp.keys()) {
      const want = exp.getRaw(name);
      const [h, w] = exp.info(name).shape;
      const img = decodeJpegExact(Deno.readFileSync(`${FIX}${name}.jpg`));
      assert.equal(img.width, w, `${name} width`);
      assert.equal(img.height, h, `${name} height`);
      let bad = 0, first = -1;
      for (let i = 0; i < want.length; i++) {
        if (img.data[i] !== want[i]) {
          bad++;
          if (first < 0) first = i;
        }
      }
      assert.equal(
        bad,
        0,
        `${name}: ${bad} samples differ, first at ${first}: ${img.data[first]} vs ${want[first]}`,
      );
    }
  } finally {
    exp.close();
  }
});

Deno.test("decodeJpegExact() rejects non-JPEG data and flags unsupported coding", () => {
  assert.throws(() => decodeJpegExact(new Uint8Array([1, 2, 3])), /not a JPEG/);
  // SOF3 (lossless) header.
  const sof3 = new Uint8Array([0xff, 0xd8, 0xff, 0xc3, 0, 11, 8, 0, 8, 0, 8, 1, 1, 0x11, 0]);
  assert.throws(() => decodeJpegExact(sof3), JpegUnsupported);
  const truncated = Deno.readFileSync(FIX + "j444.jpg").subarray(0, 3000);
  assert.throws(() => decodeJpegExact(truncated.subarray(0, 100)), /truncated/);
  assert.doesNotThrow(() => decodeJpegExact(truncated)); // libjpeg pads a truncated scan with zeros
});

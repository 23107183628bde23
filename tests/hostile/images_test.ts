/**
 * Image bombs (issue 11 findings 4 and 12): sizes are checked from the header before any pixel is
 * decoded, for PNG (our decoder), JPEG (the libjpeg-exact decoder and the shared WASM one), in every
 * command that reads images; the caps are configurable.
 */
import assert from "node:assert/strict";
import { decodeImage, decodeLabelPng } from "../../core/image/codecs.ts";
import { decodeJpegExact } from "../../core/image/jpeg.ts";
import { DEFAULT_MAX_IMAGE_PIXELS } from "../../core/limits.ts";
import { assertOneLineError, hpseg, pngBomb, VIT, withTempDir } from "./_hostile.ts";

/** A real JPEG whose frame header now claims 65500×65500 (the scan data stays that of a 32×24 image). */
function jpegClaiming(w: number, h: number): Uint8Array {
  const b = Deno.readFileSync(`${VIT}j420.jpg`);
  for (let p = 2; p + 9 < b.length;) {
    const m = b[p + 1], len = (b[p + 2] << 8) | b[p + 3];
    if (m === 0xc0 || m === 0xc2) {
      b.set([h >> 8, h & 255, w >> 8, w & 255], p + 5);
      return b;
    }
    p += 2 + len;
  }
  throw new Error("no SOF marker in the fixture");
}

Deno.test("finding 4: a 20000×20000 PNG bomb is refused from its header, in-process and by `score`", async () => {
  const bomb = pngBomb(20000, 20000);
  assert.ok(bomb.length < 100_000, `bomb is ${bomb.length} bytes`);
  const t0 = performance.now();
  await assert.rejects(decodeImage(bomb, "bomb.png"), /Cannot decode image bomb\.png: .*20000×20000/);
  assert.throws(() => decodeLabelPng(bomb, "bomb.png"), /bomb\.png: .*400000000 pixels, over the 100000000/);
  assert.ok(performance.now() - t0 < 5000, "the refusal decoded pixels");
  await withTempDir("png-bomb", async (dir) => {
    Deno.mkdirSync(`${dir}/pred`);
    Deno.mkdirSync(`${dir}/gt`);
    Deno.writeFileSync(`${dir}/pred/a.png`, bomb);
    Deno.writeFileSync(`${dir}/gt/a.png`, bomb);
    const r = await hpseg(["score", "--pred", `${dir}/pred`, "--gt", `${dir}/gt`, "--classes", "3"]);
    assertOneLineError(r, [/pred\/a\.png/, /20000×20000 = 400000000 pixels/, /HPSEG_MAX_IMAGE_PIXELS/], 1);
    assert.ok(r.seconds < 60, `took ${r.seconds} s`);
  });
});

Deno.test("finding 4: the caps come from HPSEG_MAX_IMAGE_PIXELS / _SIDE; a malformed value is one line", async () => {
  await withTempDir("caps", async (dir) => {
    Deno.mkdirSync(`${dir}/p`);
    Deno.mkdirSync(`${dir}/g`);
    const small = pngBomb(64, 48);
    Deno.writeFileSync(`${dir}/p/a.png`, small);
    Deno.writeFileSync(`${dir}/g/a.png`, small);
    const args = ["score", "--pred", `${dir}/p`, "--gt", `${dir}/g`, "--classes", "3", "--json"];
    const ok = await hpseg(args);
    assert.equal(ok.code, 0, ok.stderr);
    const px = await hpseg(args, { HPSEG_MAX_IMAGE_PIXELS: "3000" });
    assertOneLineError(px, [/64×48 = 3072 pixels, over the 3000-pixel limit/], 1);
    const side = await hpseg(args, { HPSEG_MAX_IMAGE_SIDE: "50" });
    assertOneLineError(side, [/64×48, over the 50-pixel side limit \(HPSEG_MAX_IMAGE_SIDE\)/], 1);
    const bad = await hpseg(args, { HPSEG_MAX_IMAGE_PIXELS: "lots" });
    assertOneLineError(bad, [/HPSEG_MAX_IMAGE_PIXELS must be a positive integer, got "lots"/], 1);
  });
  assert.equal(DEFAULT_MAX_IMAGE_PIXELS, 100_000_000);
});

Deno.test("finding 12: a JPEG claiming 65500×65500 is refused from its header (no WASM 'unreachable')", async () => {
  const big = jpegClaiming(65500, 65500);
  await assert.rejects(
    decodeImage(big, "big.jpg"),
    (e: Error) => /Cannot decode image big\.jpg: image is 65500×65500/.test(e.message),
  );
  assert.throws(() => decodeJpegExact(big), /65500×65500/);
  // Through a command: `features` reads JPEGs with the exact decoder, falling back to the shared one.
  await withTempDir("jpeg", async (dir) => {
    Deno.writeFileSync(`${dir}/big.jpg`, big);
    const r = await hpseg([
      "features",
      "--heads",
      "3",
      "--weights",
      `${VIT}tiny_dict.pth`,
      "--out",
      `${dir}/f.safetensors`,
      "--size",
      "16",
      `${dir}/big.jpg`,
    ]);
    assertOneLineError(r, [/big\.jpg/, /65500×65500/], 1);
  });
});

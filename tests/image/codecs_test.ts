/**
 * PNG codec (core/image/png.ts), image decoding (core/image/codecs.ts) and the MAT v5 reader (core/io/mat.ts)
 * against files written by PIL and scipy (tests/fixtures/datasets/make_fixtures.py).
 */
import assert, { deepStrictEqual, rejects, throws } from "node:assert/strict";

const assertEquals: typeof deepStrictEqual = deepStrictEqual;
import { decodePng, encodePng, pngToLabelValues, pngToRgb } from "../../core/image/png.ts";
import { decodeImage, decodeLabelPng, encodeJpeg } from "../../core/image/codecs.ts";
import { readMat } from "../../core/io/mat.ts";
import { InputError } from "../../core/errors.ts";

const FIX = new URL("../fixtures/datasets/", import.meta.url).pathname;
const png = JSON.parse(Deno.readTextFileSync(`${FIX}expect_png.json`));
const mat = JSON.parse(Deno.readTextFileSync(`${FIX}expect_mat.json`));
const read = (p: string) => Deno.readFileSync(`${FIX}${p}`);

Deno.test("decodePng reads gray, palette (indices), 1-bit, 16-bit, gray+alpha, RGBA and Adam7 files from PIL", () => {
  deepStrictEqual(Array.from(pngToLabelValues(decodePng(read("png/gray8.png")))), png.gray8.values);
  const pal = decodePng(read("png/palette.png"));
  assertEquals(pal.colorType, 3);
  deepStrictEqual(Array.from(pngToLabelValues(pal)), png.palette.values);
  deepStrictEqual(Array.from(pngToRgb(pal)), png.palette.rgb);
  const one = decodePng(read("png/gray1.png"));
  assertEquals(one.bitDepth, 1);
  deepStrictEqual(Array.from(pngToRgb(one)), png.gray1.rgb);
  const g16 = decodePng(read("png/gray16.png"));
  assertEquals(g16.bitDepth, 16);
  deepStrictEqual(Array.from(pngToRgb(g16)), png.gray16.rgb);
  deepStrictEqual(Array.from(pngToLabelValues(decodePng(read("png/gray_alpha.png")))), png.gray_alpha.values);
  deepStrictEqual(Array.from(pngToRgb(decodePng(read("png/rgba.png")))), png.rgba.rgb);
  const il = decodePng(read("png/interlaced.png"));
  deepStrictEqual(Array.from(pngToRgb(il)), png.interlaced.rgb);
});

Deno.test("encodePng round-trips gray and RGB and is byte-identical across calls", () => {
  const w = 13, h = 5;
  const rgb = Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 37 + (i >> 3)) & 255);
  const a = encodePng(w, h, 3, rgb), b = encodePng(w, h, 3, rgb);
  deepStrictEqual(a, b);
  deepStrictEqual(pngToRgb(decodePng(a)), rgb);
  const g = Uint8Array.from({ length: w * h }, (_, i) => i % 28);
  deepStrictEqual(Array.from(pngToLabelValues(decodePng(encodePng(w, h, 1, g)))), Array.from(g));
});

Deno.test("decodePng rejects truncated and non-PNG data with a message; decodeImage names the file", async () => {
  const bytes = read("png/gray8.png");
  throws(() => decodePng(bytes.subarray(0, bytes.length - 20)), /truncated/);
  throws(() => decodePng(new Uint8Array([1, 2, 3])), /not a PNG/);
  await rejects(decodeImage(new Uint8Array([1, 2, 3, 4]), "some/file.jpg"), (e: Error) => {
    assert(e instanceof InputError);
    assert(e.message.includes("some/file.jpg"), e.message);
    return true;
  });
  throws(() => decodeLabelPng(read("png/rgba.png"), "lab.png"), /lab\.png.*RGB/);
});

Deno.test("JPEG decode gives PIL's pixels exactly (our libjpeg-exact decoder); encode is deterministic", async () => {
  const exp = JSON.parse(Deno.readTextFileSync(`${FIX}expect_datasets.json`)).coco.train[0];
  const img = await decodeImage(read(`coco/images/train2017/${exp.id}.jpg`), "x.jpg");
  assertEquals([img.width, img.height], [exp.width, exp.height]);
  let differ = 0;
  for (let i = 0; i < img.data.length; i++) if (img.data[i] !== exp.decodedRgb[i]) differ++;
  assertEquals(differ, 0, "samples that differ from PIL (libjpeg-turbo)");
  const a = await encodeJpeg(img, 75), b = await encodeJpeg(img, 75);
  deepStrictEqual(a, b);
  const back = await decodeImage(a, "rt.jpg");
  assertEquals([back.width, back.height], [img.width, img.height]);
});

Deno.test("readMat: compressed and uncompressed scipy files load identically and match the arrays", () => {
  const plain = readMat(read("mat/plain.mat"), "plain.mat");
  const comp = readMat(read("mat/compressed.mat"), "compressed.mat");
  for (const name of ["img", "gt", "dbl"]) {
    const p = plain.get(name)!, c = comp.get(name)!;
    deepStrictEqual(p.dims, mat[name].dims);
    deepStrictEqual(c.dims, mat[name].dims);
    deepStrictEqual(Array.from(p.data), mat[name].data);
    deepStrictEqual(Array.from(c.data), mat[name].data);
  }
  assertEquals(plain.get("img")!.className, "uint8");
  assertEquals(plain.get("gt")!.className, "int32");
});

Deno.test("readMat: truncated files fail with an InputError naming the file", () => {
  for (const f of ["mat/plain.mat", "mat/compressed.mat"]) {
    const b = read(f);
    for (const cut of [100, 200, b.length - 7]) {
      throws(() => readMat(b.subarray(0, cut), f), (e: Error) => {
        assert(e instanceof InputError, String(e));
        assert(e.message.includes(f) && /truncated/.test(e.message), e.message);
        return true;
      });
    }
  }
});

Deno.test("JPEG encoder: AAN DCT equals the reference DCT, IJG q75 tables, decodable output close to the source", async () => {
  const { fdctAan, fdctReference, scaledQuant, encodeJpegBaseline } = await import(
    "../../core/image/jpeg_encode.ts"
  );
  const blk = Float64Array.from({ length: 64 }, (_, i) => ((i * 37) % 255) - 128);
  const ref = new Float64Array(64), tmp = new Float64Array(64);
  fdctReference(blk, ref, tmp);
  const aan = blk.slice();
  fdctAan(aan);
  const scale = (k: number) => (k === 0 ? 1 : Math.cos((k * Math.PI) / 16) * Math.SQRT2);
  for (let i = 0; i < 64; i++) {
    const v = aan[i] / (8 * scale(i >> 3) * scale(i & 7));
    assert(Math.abs(v - ref[i]) < 1e-9, `coef ${i}: ${v} vs ${ref[i]}`);
  }
  // libjpeg's quality-75 luminance table starts 8 6 5 8 12 20 26 31 (natural order)
  deepStrictEqual(Array.from(scaledQuant([16, 11, 10, 16, 24, 40, 51, 61], 75)), [
    8,
    6,
    5,
    8,
    12,
    20,
    26,
    31,
  ]);
  const exp = JSON.parse(Deno.readTextFileSync(`${FIX}expect_datasets.json`)).cityscapes[1];
  const src = Uint8Array.from(exp.rgb);
  const jpg = encodeJpegBaseline(exp.width, exp.height, src, 75);
  assertEquals([jpg[0], jpg[1], jpg[jpg.length - 2], jpg[jpg.length - 1]], [0xff, 0xd8, 0xff, 0xd9]);
  deepStrictEqual(encodeJpegBaseline(exp.width, exp.height, src, 75), jpg);
  const back = await decodeImage(jpg, "ours.jpg");
  assertEquals([back.width, back.height], [exp.width, exp.height]);
  let sum = 0;
  for (let i = 0; i < src.length; i++) sum += Math.abs(back.data[i] - src[i]);
  assert(sum / src.length < 6, `mean abs error ${sum / src.length}`);
});

Deno.test("a CMYK JPEG (which our decoder does not implement) falls back to the shared WASM decoder", async () => {
  const dir = new URL("../fixtures/real_data/", import.meta.url).pathname;
  const exp = JSON.parse(Deno.readTextFileSync(`${dir}cmyk_expected.json`));
  const bytes = Deno.readFileSync(`${dir}cmyk.jpg`);
  const { decodeJpegExact, JpegUnsupported } = await import("../../core/image/jpeg.ts");
  throws(() => decodeJpegExact(bytes), JpegUnsupported);
  const img = await decodeImage(bytes, "cmyk.jpg");
  assertEquals([img.width, img.height], [exp.width, exp.height]);
  let maxDiff = 0;
  for (let i = 0; i < img.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(img.data[i] - exp.rgb[i]));
  // PIL's CMYK → RGB of the same file (libjpeg's decode, then 255 − inverted channels): rounding only.
  assert(maxDiff <= 2, `max difference ${maxDiff} from PIL`);
});

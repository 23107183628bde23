/**
 * Eval transform (PIL NEAREST resize + torchvision centre crop), ImageNet normalisation and the photometric
 * augmentation, against tests/fixtures/datasets/expect_transforms.json (PIL / numpy restatement of
 * torchvision's tensor maths, made by make_fixtures.py).
 */
import assert, { deepStrictEqual } from "node:assert/strict";
import {
  centerOffsets,
  evalTransform,
  evalTransformLabels,
  fiveCropBoxes,
  normalizeImageNet,
  roundHalfEven,
  shorterSideSize,
  toTensor01,
} from "../../core/image/transforms.ts";
import { applyAug, type AugParams, gaussianTaps, sampleAugParams } from "../../core/data/augment.ts";
import { Rng } from "../../core/rng.ts";

const FIX = new URL("../fixtures/datasets/", import.meta.url).pathname;
const T = JSON.parse(Deno.readTextFileSync(`${FIX}expect_transforms.json`));

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

Deno.test("evalTransform matches PIL resize(NEAREST) + centre crop exactly; normalisation matches float32 torch", () => {
  for (const c of T.eval) {
    const img = { width: c.width, height: c.height, data: Uint8Array.from(c.rgb) };
    deepStrictEqual(shorterSideSize(c.width, c.height, c.size), c.resized);
    const out = evalTransform(img, c.size);
    assert.equal(out.width, c.size);
    deepStrictEqual(Array.from(out.data), c.cropRgb, `image ${c.height}x${c.width} → ${c.size}`);
    const lab = evalTransformLabels(
      { width: c.width, height: c.height, data: Int32Array.from(c.label) },
      c.size,
    );
    deepStrictEqual(Array.from(lab.data), c.cropLabel);
    const n = normalizeImageNet(out);
    assert(maxAbsDiff(n, c.normalized) < 2e-6);
  }
});

Deno.test("centre offsets use Python's round (half to even) and five-crop boxes follow torchvision order", () => {
  deepStrictEqual([roundHalfEven(0.5), roundHalfEven(1.5), roundHalfEven(2.5), roundHalfEven(2.6)], [
    0,
    2,
    2,
    3,
  ]);
  deepStrictEqual(centerOffsets(5, 8, 2, 3), [2, 2]); // (5-2)/2 = 1.5 → 2, (8-3)/2 = 2.5 → 2
  deepStrictEqual(fiveCropBoxes(7, 9), [[0, 0, 3, 4], [0, 5, 3, 4], [4, 0, 3, 4], [4, 5, 3, 4], [
    2,
    2,
    3,
    4,
  ]]);
});

Deno.test("augmentation matches the torchvision formulas in reference (normalised) and clean modes", () => {
  const A = T.aug, W = A.width, H = A.height;
  const img = { width: W, height: H, data: Uint8Array.from(A.rgb) };
  let worst = 0;
  for (const c of A.cases) {
    const p = c.params as AugParams;
    const ref = normalizeImageNet(img);
    applyAug(ref, W, H, p, "reference");
    const clean = toTensor01(img);
    applyAug(clean, W, H, p, "clean");
    const dr = maxAbsDiff(ref, c.reference), dc = maxAbsDiff(clean, c.clean);
    worst = Math.max(worst, dr, dc);
    assert(dr < 1e-4, `reference mode, params ${JSON.stringify(p)}: max diff ${dr}`);
    assert(dc < 1e-4, `clean mode, params ${JSON.stringify(p)}: max diff ${dc}`);
  }
  console.log(`augmentation max abs diff vs numpy/torchvision maths: ${worst.toExponential(2)}`);
});

Deno.test("reference-mode jitter clamps normalised values into [0,1] (the official quirk)", () => {
  const img = { width: 4, height: 4, data: Uint8Array.from({ length: 48 }, (_, i) => (i * 16) & 255) };
  const x = normalizeImageNet(img);
  assert(Math.min(...x) < -1);
  const p: AugParams = {
    order: [0, 1, 2, 3],
    brightness: 1,
    contrast: 1,
    saturation: 1,
    hue: 0,
    gray: false,
    blur: false,
    sigma: 1,
  };
  applyAug(x, 4, 4, p, "reference");
  assert(Math.min(...x) >= 0 && Math.max(...x) <= 1);
});

Deno.test("augmentation parameters follow the documented ranges and probabilities", () => {
  const rng = new Rng(7);
  let gray = 0, blur = 0;
  const N = 4000;
  for (let i = 0; i < N; i++) {
    const p = sampleAugParams(rng);
    deepStrictEqual([...p.order].sort(), [0, 1, 2, 3]);
    for (const f of [p.brightness, p.contrast, p.saturation]) assert(f >= 0.7 && f <= 1.3);
    assert(Math.abs(p.hue) <= 0.1 && p.sigma >= 0.1 && p.sigma <= 2);
    gray += p.gray ? 1 : 0;
    blur += p.blur ? 1 : 0;
  }
  assert(Math.abs(gray / N - 0.2) < 0.03, `gray rate ${gray / N}`);
  assert(Math.abs(blur / N - 0.5) < 0.03, `blur rate ${blur / N}`);
  const k = gaussianTaps(1);
  assert(Math.abs(k.reduce((a, b) => a + b, 0) - 1) < 1e-12 && k[0] === k[4] && k[2] > k[1]);
});

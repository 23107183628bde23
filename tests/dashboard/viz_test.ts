/**
 * core/viz picture tests: the PNGs are decoded again (core/image/png.ts decodePng, whose decoder is tested on
 * PIL-written files in tests/image/codecs_test.ts) and pixels are checked against values computed here from
 * the documented colour rules (blend = (1−α)·pixel + α·colour), on solid-colour inputs where every expected
 * pixel is known. The module graph of core/viz must not load imagescript (its native codec needs FFI).
 * @module
 */
import assert from "node:assert/strict";
import { decodePng } from "../../core/image/png.ts";
import {
  ANCHOR_RGB,
  DIM_ALPHA,
  GAP,
  ghpPicture,
  LHP_RGB,
  lhpPicture,
  makePalette,
  patchRect,
  POSITIVE_ALPHA,
  POSITIVE_RGB,
  predictionPicture,
  type Rgb,
  type RgbImage,
  writePicture,
} from "../../core/viz/pictures.ts";

function solid(c: Rgb, side = 32): RgbImage {
  const data = new Uint8Array(side * side * 3);
  for (let i = 0; i < side * side; i++) data.set(c, i * 3);
  return { data, height: side, width: side };
}

interface Decoded {
  width: number;
  height: number;
  px: Uint8Array;
}

function decode(png: Uint8Array): Decoded {
  assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], "PNG signature");
  const raw = decodePng(png);
  assert.equal(raw.colorType, 6, "RGBA");
  assert.equal(raw.bitDepth, 8);
  const px = raw.samples as Uint8Array;
  for (let i = 3; i < px.length; i += 4) assert.equal(px[i], 255, "every pixel is opaque");
  return { width: raw.width, height: raw.height, px };
}

function rgbAt(img: Decoded, x: number, y: number): number[] {
  const o = (y * img.width + x) * 4;
  return [img.px[o], img.px[o + 1], img.px[o + 2]];
}

function mix(c: Rgb, to: Rgb, a: number): number[] {
  return c.map((v, i) => v * (1 - a) + to[i] * a);
}

function near(got: number[], want: number[], what: string, tol = 1): void {
  assert.ok(
    got.every((v, i) => Math.abs(v - want[i]) <= tol),
    `${what}: got ${got}, want ${want.map(Math.round)}`,
  );
}

Deno.test("patchRect tiles the thumbnail exactly, also when S does not divide the size", () => {
  for (const [S, T] of [[4, 32], [14, 112], [14, 100], [28, 97]]) {
    const cover = new Uint8Array(T * T);
    for (let p = 0; p < S * S; p++) {
      const [x, y, w, h] = patchRect(p, S, T);
      for (let j = y; j < y + h; j++) for (let i = x; i < x + w; i++) cover[j * T + i]++;
    }
    assert.ok(cover.every((c) => c === 1), `S=${S} T=${T}: every pixel in exactly one patch`);
  }
});

Deno.test("ghpPicture: anchor outlined, positives tinted by weight, others dimmed, nearest member shown", () => {
  const S = 4, T = 32, cell = T / S;
  const colors: Rgb[] = [[200, 100, 50], [20, 200, 220], [120, 120, 120]];
  const images = colors.map((c) => solid(c));
  const P = S * S;
  const positives = new Float32Array(3 * P);
  positives[0 * P + 0] = 1; // image 0, patch 0, full weight
  positives[2 * P + 15] = 0.5; // image 2, patch 15, half weight
  const nearest = solid([10, 20, 30], 8);
  const png = ghpPicture({
    images,
    grid: S,
    thumb: T,
    anchors: [{ image: 1, patch: 5, positives, nearest }, {
      image: 0,
      patch: 0,
      positives: new Array(3 * P).fill(true),
    }],
  });
  const img = decode(png);
  assert.equal(img.width, 5 * T + 4 * GAP);
  assert.equal(img.height, 2 * T + GAP);
  const centre = (col: number, p: number, row = 0) => {
    const [x, y, w, h] = patchRect(p, S, T);
    return [col * (T + GAP) + x + Math.floor(w / 2), row * (T + GAP) + y + Math.floor(h / 2)] as const;
  };
  // Column 0: the anchor's image, anchor patch (row 1, col 1) outlined in red, its centre untouched.
  near(rgbAt(img, cell, cell), [...ANCHOR_RGB], "anchor outline corner");
  near(rgbAt(img, ...centre(0, 5)), [...colors[1]], "anchor patch centre");
  // Column 1: the nearest pool member.
  near(rgbAt(img, ...centre(1, 0)), [10, 20, 30], "nearest member");
  // Batch columns.
  near(rgbAt(img, ...centre(2, 0)), mix(colors[0], POSITIVE_RGB, POSITIVE_ALPHA), "positive w=1");
  near(rgbAt(img, ...centre(2, 1)), mix(colors[0], [0, 0, 0], DIM_ALPHA), "non-positive dimmed");
  near(rgbAt(img, ...centre(4, 15)), mix(colors[2], POSITIVE_RGB, POSITIVE_ALPHA * 0.5), "positive w=0.5");
  near(
    rgbAt(img, ...centre(3, 5)),
    mix(colors[1], [0, 0, 0], DIM_ALPHA),
    "anchor's own patch, not a positive",
  );
  near(rgbAt(img, 3 * (T + GAP) + cell, cell), [...ANCHOR_RGB], "anchor outlined in its batch image");
  // Second row: no nearest member → grey; all positive (booleans) → every patch tinted at full weight.
  near(rgbAt(img, ...centre(1, 0, 1)), [200, 200, 200], "unknown nearest member is grey");
  near(rgbAt(img, ...centre(3, 10, 1)), mix(colors[1], POSITIVE_RGB, POSITIVE_ALPHA), "boolean positives");
  // Gap between tiles stays white.
  near(rgbAt(img, T + 1, 5), [255, 255, 255], "gap");

  assert.throws(
    () => ghpPicture({ images, grid: S, anchors: [{ image: 0, patch: 0, positives: new Uint8Array(5) }] }),
    /positives has 5 entries, need B·P = 48/,
  );
  assert.throws(
    () => ghpPicture({ images, grid: S, anchors: [{ image: 3, patch: 0, positives }] }),
    /image 3 is outside 0\.\.2/,
  );
  assert.throws(
    () => ghpPicture({ images: [{ data: new Uint8Array(10), height: 4, width: 4 }], grid: S, anchors: [] }),
    /needs at least one image and one anchor/,
  );
});

Deno.test("lhpPicture: window cells by weight, outside cells grey, anchor red, bars ∝ weight", () => {
  const S = 4, T = 36, cell = 12;
  const c: Rgb = [60, 90, 200];
  const weights = [0, 0, 0, 0, 1, 0.5, 0, 0.25, 0]; // anchor at patch 0: top row and left column are outside
  const png = lhpPicture({ image: solid(c), grid: S, tile: T, anchors: [{ patch: 0, weights }] });
  const img = decode(png);
  const barH = Math.round(T / 3);
  assert.equal(img.width, 2 * T + GAP);
  assert.equal(img.height, T + GAP + barH);
  const x0 = T + GAP;
  const cellCentre = (i: number) =>
    [x0 + (i % 3) * cell + cell / 2, Math.floor(i / 3) * cell + cell / 2] as const;
  for (const i of [0, 1, 2, 3, 6]) {
    near(rgbAt(img, ...cellCentre(i)), [200, 200, 200], `cell ${i} outside → grey`);
  }
  near(rgbAt(img, ...cellCentre(4)), mix(c, LHP_RGB, 0.6), "anchor cell (weight = max)");
  near(rgbAt(img, ...cellCentre(5)), mix(c, LHP_RGB, 0.15 + 0.45 * 0.5), "weight 0.5");
  near(rgbAt(img, ...cellCentre(7)), mix(c, LHP_RGB, 0.15 + 0.45 * 0.25), "weight 0.25");
  near(rgbAt(img, ...cellCentre(8)), mix(c, [0, 0, 0], DIM_ALPHA), "weight 0 dimmed");
  near(rgbAt(img, x0 + cell, cell), [...ANCHOR_RGB], "anchor cell outline");
  // Bars: count coloured pixels in each bar's column.
  const bw = Math.floor(T / 9);
  const heights = weights.map((_, i) => {
    let h = 0;
    for (let y = T + GAP; y < img.height; y++) {
      if (rgbAt(img, x0 + i * bw + Math.floor(bw / 2), y)[2] < 100) h++;
    }
    return h;
  });
  assert.deepEqual(heights, weights.map((w) => Math.round(barH * w)));
  assert.throws(
    () => lhpPicture({ image: solid(c), grid: S, anchors: [{ patch: 16, weights }] }),
    /patch index 16 is outside 0\.\.15/,
  );
  assert.throws(
    () => lhpPicture({ image: solid(c), grid: S, anchors: [{ patch: 1, weights: [1, 2] }] }),
    /weights has 2 entries, need 9/,
  );
});

Deno.test("predictionPicture: image | gt | cluster | linear with the palette; ignore labels black", () => {
  const T = 16;
  const palette = makePalette(3);
  const gt = { data: [0, 1, 2, 255], height: 2, width: 2 };
  const cluster = { data: [2, 2, 2, 2], height: 2, width: 2 };
  const linear = { data: Array.from({ length: 64 }, (_, i) => (i < 32 ? 1 : -1)), height: 8, width: 8 };
  const png = predictionPicture({
    samples: [{ image: solid([1, 2, 3]), gt, cluster, linear }],
    numClasses: 3,
    thumb: T,
  });
  const img = decode(png);
  assert.equal(img.width, 4 * T + 3 * GAP);
  const tile = (k: number, x: number, y: number) => rgbAt(img, k * (T + GAP) + x, y);
  near(tile(0, 8, 8), [1, 2, 3], "image");
  near(tile(1, 4, 4), [...palette[0]], "gt top-left");
  near(tile(1, 12, 4), [...palette[1]], "gt top-right");
  near(tile(1, 4, 12), [...palette[2]], "gt bottom-left");
  near(tile(1, 12, 12), [0, 0, 0], "gt ignore (255)");
  near(tile(2, 8, 8), [...palette[2]], "cluster");
  near(tile(3, 8, 3), [...palette[1]], "linear top half");
  near(tile(3, 8, 12), [0, 0, 0], "linear ignore (-1)");
  assert.throws(
    () =>
      predictionPicture({
        samples: [{ image: solid([1, 2, 3]), gt: { data: [0], height: 2, width: 2 }, cluster, linear }],
        numClasses: 3,
      }),
    /gt: label map 2×2 needs 4 values, got 1/,
  );
});

Deno.test("makePalette gives distinct colours; writePicture writes atomically under pictures/", async () => {
  const pal = makePalette(27);
  assert.equal(new Set(pal.map((c) => c.join(","))).size, 27);
  const dir = await Deno.makeTempDir({ prefix: "hpseg_viz_" });
  try {
    const bytes = new Uint8Array([1, 2, 3]);
    const file = await writePicture(dir, "ghp", 120, bytes);
    assert.equal(file, "pictures/ghp_0000120.png");
    assert.deepEqual(await Deno.readFile(`${dir}/${file}`), bytes);
    const names = [...Deno.readDirSync(`${dir}/pictures`)].map((e) => e.name);
    assert.deepEqual(names, ["ghp_0000120.png"], "no temporary file left behind");
    await assert.rejects(() => writePicture(dir, "../x", 1, bytes), /bad picture kind/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ghpAnchorWeights matches the HP reference masks (hpMasksRef); nearestPoolMember sets R_i", async () => {
  const { hpMasksRef, thresholdsRef } = await import("../../core/model/loss_ref.ts");
  const { ghpAnchorWeights, nearestPoolMember } = await import("../../core/viz/ghp_set.ts");
  const B = 2, S = 3, Df = 5, D = 4, K = 6, N = B * S * S;
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const unitRows = (n: number, d: number) => {
    const a = Float32Array.from({ length: n * d }, rand);
    for (let r = 0; r < n; r++) {
      const norm = Math.hypot(...a.subarray(r * d, (r + 1) * d));
      for (let t = 0; t < d; t++) a[r * d + t] /= norm;
    }
    return a;
  };
  const fhat = unitRows(N, Df), shat = unitRows(N, D), poolAg = unitRows(K, Df), poolSp = unitRows(K, D);
  const rAg = thresholdsRef(fhat, poolAg, N, Df, K), rSp = thresholdsRef(shat, poolSp, N, D, K);
  const masks = hpMasksRef({ B, S, Df, D, K }, fhat, shat, rAg, rSp, 1, 0.5);
  const lambda = 0.3;
  let positives = 0;
  for (let i = 0; i < N; i++) {
    const m = ghpAnchorWeights(i, { N, fhat, Df, shat, D, rAg, rSp, lambda });
    for (let j = 0; j < N; j++) {
      const want = masks.ag[i * N + j] + lambda * masks.sp[i * N + j];
      assert.ok(Math.abs(m[j] - want) < 1e-6, `anchor ${i}, j ${j}: ${m[j]} vs ${want}`);
      positives += m[j] > 0 ? 1 : 0;
    }
    const near = nearestPoolMember(fhat, i, poolAg, K, Df);
    assert.ok(Math.abs(near.similarity - rAg[i]) < 1e-6, "the nearest member's similarity is R_i");
  }
  assert.ok(positives > 0 && positives < N * (N - 1), `non-trivial masks (${positives} positives)`);
  assert.throws(() => ghpAnchorWeights(N, { N, fhat, Df, rAg, lambda }), /anchor 18 outside 0\.\.17/);
});

Deno.test("encodePng RGBA round-trips through decodePng, byte-identical across calls", async () => {
  const { encodePng } = await import("../../core/image/png.ts");
  const w = 37, h = 23;
  let seed = 7;
  const data = Uint8ClampedArray.from({ length: w * h * 4 }, (_, i) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    // Smooth gradients in some rows (exercise the Sub/Up/Average/Paeth filters), noise in others.
    const y = Math.floor(i / (w * 4));
    return y % 3 === 0 ? seed >>> 24 : (i % (w * 4)) * 3 + y;
  });
  const a = encodePng(w, h, 4, data), b = encodePng(w, h, 4, data);
  assert.deepEqual(a, b);
  const raw = decodePng(a);
  assert.deepEqual([raw.width, raw.height, raw.colorType, raw.bitDepth], [w, h, 6, 8]);
  assert.deepEqual([...raw.samples], [...data]);
  assert.throws(() => encodePng(w, h, 4, data.subarray(1)), /expected 3404 bytes, got 3403/);
  assert.throws(() => encodePng(w, h, 2 as 1, data), /channels must be 1, 3 or 4, got 2/);
});

Deno.test("core/viz draws and writes pictures with only --allow-read/--allow-write (no FFI, no env)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hpseg_viz_perm_" });
  try {
    const mod = new URL("../../core/viz/pictures.ts", import.meta.url).href;
    const script = `
      import { lhpPicture, writePicture } from ${JSON.stringify(mod)};
      const data = new Uint8Array(16 * 16 * 3).fill(90);
      const png = lhpPicture({ image: { data, height: 16, width: 16 }, grid: 4, tile: 36,
        anchors: [{ patch: 5, weights: [0, 1, 0, 0, 1, 0, 0, 0.5, 0] }] });
      console.log(await writePicture(${JSON.stringify(dir)}, "lhp", 3, png));`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", `--allow-read`, `--allow-write=${dir}`, "-"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = out.stdin.getWriter();
    await w.write(new TextEncoder().encode(script));
    await w.close();
    const r = await out.output();
    const err = new TextDecoder().decode(r.stderr);
    assert.equal(r.code, 0, `subprocess failed: ${err}`);
    assert.equal(new TextDecoder().decode(r.stdout).trim(), "pictures/lhp_0000003.png");
    const img = decode(await Deno.readFile(`${dir}/pictures/lhp_0000003.png`));
    assert.deepEqual([img.width, img.height], [2 * 36 + GAP, 36 + GAP + 12]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("patchContext: 3×3-patch crop around a pool member, clipped at the border, context dimmed", async () => {
  const { patchContext } = await import("../../core/train/pictures.ts");
  const { IMAGENET_MEAN, IMAGENET_STD } = await import("../../core/image/transforms.ts");
  const res = 12, S = 3, B = 2, plane = res * res;
  // Normalised batch whose de-normalised value is 0.8 (=204) in every channel, 0.4 in image 1.
  const images = new Float32Array(B * 3 * plane);
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < 3; c++) {
      images.fill(
        ((b === 0 ? 0.8 : 0.4) - IMAGENET_MEAN[c]) / IMAGENET_STD[c],
        (b * 3 + c) * plane,
        (b * 3 + c + 1) * plane,
      );
    }
  }
  const centre = patchContext(images, 0, res, S, 4); // middle patch: whole 12×12 image
  assert.deepEqual([centre.width, centre.height], [12, 12]);
  const at = (img: RgbImage, x: number, y: number) => img.data[(y * img.width + x) * 3];
  assert.equal(at(centre, 5, 5), 204, "the member's own patch keeps its colour");
  assert.equal(at(centre, 1, 1), Math.round(204 * 0.45), "context dimmed");
  const corner = patchContext(images, 1, res, S, 8); // bottom-right patch of image 1: rows/cols 4..11
  assert.deepEqual([corner.width, corner.height], [8, 8]);
  assert.equal(at(corner, 6, 6), 102);
  assert.equal(at(corner, 1, 6), Math.round(102 * 0.45));
});

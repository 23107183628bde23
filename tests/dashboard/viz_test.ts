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
  BOTH_RGB,
  classesShown,
  DIM_ALPHA,
  GAP,
  ghpLayout,
  ghpPicture,
  ghpRowStats,
  LHP_RGB,
  lhpLayout,
  lhpPicture,
  makePalette,
  patchRect,
  predictionLayout,
  predictionPicture,
  type Rgb,
  type RgbImage,
  TA_RGB,
  TASK_AGNOSTIC,
  TASK_SPECIFIC,
  TINT_ALPHA,
  TS_RGB,
  weightText,
  writePicture,
  WRONG_RGB,
} from "../../core/viz/pictures.ts";
import { drawText, glyph, textWidth } from "../../core/viz/font.ts";
import { Raster } from "../../core/viz/raster.ts";
import { ghpAnchorSets, patchLabels } from "../../core/viz/ghp_set.ts";

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

Deno.test("ghpPicture: sets in three colours, wrong-class crosses, numbered anchors, legend and headers", () => {
  const S = 4, T = 96;
  const colors: Rgb[] = [[200, 100, 50], [20, 200, 220], [120, 120, 120]];
  const images = colors.map((c) => solid(c));
  const P = S * S;
  const sets = new Uint8Array(3 * P);
  sets[0 * P + 0] = TASK_AGNOSTIC; // image 0, patch 0
  sets[0 * P + 2] = TASK_SPECIFIC; // image 0, patch 2
  sets[2 * P + 15] = TASK_AGNOSTIC | TASK_SPECIFIC; // image 2, patch 15
  sets[2 * P + 14] = TASK_AGNOSTIC; // image 2, patch 14: another class (crossed)
  const labels = new Int32Array(3 * P).fill(1);
  labels[2 * P + 14] = 2;
  const nearest = solid([10, 20, 30], 8);
  const input = {
    images,
    grid: S,
    thumb: T,
    patchLabels: labels,
    title: "GHP test",
    anchors: [{ image: 1, patch: 5, sets, nearest }, { image: 0, patch: 0, sets: new Uint8Array(3 * P) }],
  };
  const img = decode(ghpPicture(input));
  const L = ghpLayout(input);
  assert.deepEqual([img.width, img.height], [L.width, L.height]);
  const centre = (col: number, p: number, row = 0) => {
    const [x, y, w, h] = patchRect(p, S, T);
    return [L.tileX(col) + x + Math.floor(w / 2), L.tileY(row) + y + Math.floor(h / 2)] as const;
  };
  const tinted = (c: Rgb, to: Rgb) => mix(c, to, TINT_ALPHA);
  // Column 0: the anchor's image with the anchor patch (row 1, col 1) outlined, its centre untouched.
  const [ax, ay] = patchRect(5, S, T);
  near(rgbAt(img, L.tileX(0) + ax + 1, L.tileY(0) + ay + 1), [...ANCHOR_RGB], "anchor outline");
  near(rgbAt(img, ...centre(0, 5)), [...colors[1]], "anchor patch centre");
  near(rgbAt(img, ...centre(1, 10)), [10, 20, 30], "nearest member");
  near(rgbAt(img, ...centre(2, 0)), tinted(colors[0], TA_RGB), "task-agnostic only: blue");
  near(rgbAt(img, ...centre(2, 2)), tinted(colors[0], TS_RGB), "task-specific only: orange");
  near(rgbAt(img, ...centre(4, 15)), tinted(colors[2], BOTH_RGB), "both: green");
  near(rgbAt(img, ...centre(2, 1)), mix(colors[0], [0, 0, 0], DIM_ALPHA), "not a positive: dimmed");
  // The crossed positive: its centre lies on both diagonals (red), a point off them keeps the tint.
  near(rgbAt(img, ...centre(4, 14)), [...WRONG_RGB], "wrong class: cross at the centre");
  const [px, py] = patchRect(14, S, T);
  near(rgbAt(img, L.tileX(4) + px + 12, L.tileY(0) + py + 3), tinted(colors[2], TA_RGB), "off the cross");
  near(
    rgbAt(img, ...centre(3, 5)),
    mix(colors[1], [0, 0, 0], DIM_ALPHA),
    "the anchor is not its own positive",
  );
  // Row 2: no nearest member → grey tile; its anchor sits in image 0.
  near(rgbAt(img, L.tileX(1) + 2, L.tileY(1) + 2), [200, 200, 200], "unknown nearest member is grey");
  // The counts line of row 1 and the title are drawn (dark text pixels in those bands), numbers as badges.
  const inkRows = (y0: number, y1: number) => {
    let n = 0;
    for (let y = y0; y < y1; y++) for (let x = 0; x < img.width; x++) if (rgbAt(img, x, y)[0] < 80) n++;
    return n;
  };
  assert.ok(inkRows(0, 20) > 20, "title drawn");
  assert.ok(inkRows(L.tileY(0) - 18, L.tileY(0) - 2) > 20, "counts line drawn above row 1");
  assert.deepEqual(ghpRowStats(input.anchors[0], P, labels), {
    ag: 3,
    sp: 2,
    both: 1,
    agKnown: 3,
    agRight: 2,
    spKnown: 2,
    spRight: 2,
  });
  assert.throws(
    () => ghpPicture({ images, grid: S, anchors: [{ image: 0, patch: 0, sets: new Uint8Array(5) }] }),
    /sets has 5 entries, need B·P = 48/,
  );
  assert.throws(
    () => ghpPicture({ images, grid: S, anchors: [{ image: 3, patch: 0, sets }] }),
    /image 3 is outside 0\.\.2/,
  );
  assert.throws(
    () => ghpPicture({ images: [{ data: new Uint8Array(10), height: 4, width: 4 }], grid: S, anchors: [] }),
    /needs at least one image and one anchor/,
  );
});

Deno.test("lhpPicture: the 3×3 window with weights written in, outside cells grey, anchor red", () => {
  const S = 4, T = 96, cell = 32;
  const c: Rgb = [60, 90, 200];
  const weights = [0, 0, 0, 0, 1, 0.5, 0, 0.25, 0]; // anchor at patch 0: top row and left column are outside
  const input = { image: solid(c), grid: S, tile: T, anchors: [{ patch: 0, weights }] };
  const img = decode(lhpPicture(input));
  const L = lhpLayout(input);
  assert.deepEqual([img.width, img.height], [L.width, L.height]);
  const x0 = L.tileX(1), y0 = L.tileY;
  // A point in the upper part of a cell (the weight label sits at the bottom).
  const cellAt = (i: number) => [x0 + (i % 3) * cell + 24, y0 + Math.floor(i / 3) * cell + 6] as const;
  for (const i of [0, 1, 2, 3, 6]) {
    near(rgbAt(img, ...cellAt(i)), [200, 200, 200], `cell ${i} outside → grey`);
  }
  near(rgbAt(img, ...cellAt(4)), mix(c, LHP_RGB, 0.6), "anchor cell (weight = max)");
  near(rgbAt(img, ...cellAt(5)), mix(c, LHP_RGB, 0.15 + 0.45 * 0.5), "weight 0.5");
  near(rgbAt(img, ...cellAt(7)), mix(c, LHP_RGB, 0.15 + 0.45 * 0.25), "weight 0.25");
  near(rgbAt(img, ...cellAt(8)), mix(c, [0, 0, 0], DIM_ALPHA), "weight 0 dimmed");
  near(rgbAt(img, x0 + cell + 1, y0 + cell + 1), [...ANCHOR_RGB], "anchor cell outline");
  // Each kept weight is written in its cell: white label box with dark text at the cell's bottom.
  for (const i of [4, 5, 7]) {
    let ink = 0, white = 0;
    const cx = x0 + (i % 3) * cell, cy = y0 + Math.floor(i / 3) * cell;
    for (let y = cy + 12; y < cy + cell - 2; y++) {
      for (let x = cx + 2; x < cx + cell - 2; x++) {
        const [r, g, b] = rgbAt(img, x, y);
        if (r < 60 && g < 60 && b < 60) ink++;
        if (r === 255 && g === 255 && b === 255) white++;
      }
    }
    assert.ok(ink > 5 && white > 20, `cell ${i} carries its weight label (ink ${ink}, white ${white})`);
  }
  assert.equal(weightText(0.125), ".13");
  assert.equal(weightText(1), "1.00");
  assert.throws(
    () => lhpPicture({ image: solid(c), grid: S, anchors: [{ patch: 16, weights }] }),
    /patch index 16 is outside 0\.\.15/,
  );
  assert.throws(
    () => lhpPicture({ image: solid(c), grid: S, anchors: [{ patch: 1, weights: [1, 2] }] }),
    /weights has 2 entries, need 9/,
  );
});

Deno.test("predictionPicture: image | gt | cluster | linear with the palette; a key names the classes shown", () => {
  const T = 16;
  const palette = makePalette(4);
  const gt = { data: [0, 1, 2, 255], height: 2, width: 2 };
  const cluster = { data: [2, 2, 2, 2], height: 2, width: 2 };
  const linear = { data: Array.from({ length: 64 }, (_, i) => (i < 32 ? 1 : -1)), height: 8, width: 8 };
  const input = {
    samples: [{ image: solid([1, 2, 3]), gt, cluster, linear }],
    numClasses: 4,
    classNames: ["sky", "road", "tree", "car"],
    thumb: T,
  };
  const img = decode(predictionPicture(input));
  const L = predictionLayout(input);
  assert.deepEqual([img.width, img.height], [L.width, L.height]);
  const y0 = L.rowY(0);
  const tile = (k: number, x: number, y: number) => rgbAt(img, k * (T + GAP) + x, y0 + y);
  near(tile(0, 8, 8), [1, 2, 3], "image");
  near(tile(1, 4, 4), [...palette[0]], "gt top-left");
  near(tile(1, 12, 4), [...palette[1]], "gt top-right");
  near(tile(1, 4, 12), [...palette[2]], "gt bottom-left");
  near(tile(1, 12, 12), [0, 0, 0], "gt ignore (255)");
  near(tile(2, 8, 8), [...palette[2]], "cluster");
  near(tile(3, 8, 3), [...palette[1]], "linear top half");
  near(tile(3, 8, 12), [0, 0, 0], "linear ignore (-1)");
  // The key: swatches of classes 0, 1, 2 (class 3 never appears) below the rows.
  assert.deepEqual(classesShown(input.samples, 4), [0, 1, 2]);
  const keyColours = new Set<string>();
  for (let y = y0 + T + 4; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) keyColours.add(rgbAt(img, x, y).join(","));
  }
  for (const k of [0, 1, 2]) assert.ok(keyColours.has(palette[k].join(",")), `key swatch of class ${k}`);
  assert.ok(!keyColours.has(palette[3].join(",")), "no swatch for a class that does not appear");
  assert.throws(
    () =>
      predictionPicture({
        samples: [{ image: solid([1, 2, 3]), gt: { data: [0], height: 2, width: 2 }, cluster, linear }],
        numClasses: 3,
      }),
    /gt: label map 2×2 needs 4 values, got 1/,
  );
});

Deno.test("font: glyph rows as authored, text width, unknown characters drawn as '?'", () => {
  assert.deepEqual([...glyph("L")], [
    ...[1, 0, 0, 0, 0],
    ...[1, 0, 0, 0, 0],
    ...[1, 0, 0, 0, 0],
    ...[1, 0, 0, 0, 0],
    ...[1, 0, 0, 0, 0],
    ...[1, 0, 0, 0, 0],
    ...[1, 1, 1, 1, 1],
  ]);
  assert.deepEqual(glyph("☃"), glyph("?"));
  assert.equal(textWidth("ab", 2), (2 * 6 - 1) * 2);
  assert.equal(textWidth(""), 0);
  const r = new Raster(20, 10);
  const end = drawText(r, 1, 1, "L", [0, 0, 0], 1);
  assert.equal(end, 7);
  const px = (x: number, y: number) => r.px[(y * 20 + x) * 4];
  assert.equal(px(1, 1), 0, "ink at the glyph's top-left");
  assert.equal(px(2, 1), 255, "paper beside it");
  assert.equal(px(5, 7), 0, "bottom row is full");
});

Deno.test("ghpAnchorSets splits the reference masks; patchLabels takes each patch's majority class", async () => {
  const { hpMasksRef, thresholdsRef } = await import("../../core/model/loss_ref.ts");
  const B = 2, S = 3, Df = 5, D = 4, K = 6, N = B * S * S;
  let seed = 99;
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
  const kinds = new Set<number>();
  for (let i = 0; i < N; i++) {
    const f = ghpAnchorSets(i, { N, fhat, Df, shat, D, rAg, rSp, lambda: 0 });
    for (let j = 0; j < N; j++) {
      assert.equal(
        f[j],
        (masks.ag[i * N + j] ? 1 : 0) | (masks.sp[i * N + j] ? 2 : 0),
        `anchor ${i}, j ${j}`,
      );
      kinds.add(f[j]);
    }
  }
  assert.ok(kinds.has(1) && kinds.has(2) && kinds.has(3), `all three kinds occur: ${[...kinds]}`);
  // patchLabels on 2 images of 4×4 pixels, S = 2: each patch 2×2 pixels.
  const L = Int32Array.from([
    ...[0, 0, 1, 1, 0, 3, 1, -1, 2, 2, -1, -1, 2, 5, -1, 9],
    ...[4, 4, 4, 4, 4, 4, 4, 4, 7, 7, 1, 1, 6, 7, 1, 1],
  ]);
  assert.deepEqual([...patchLabels(L, 2, 4, 2, 8)], [0, 1, 2, -1, 4, 4, 7, 1]);
  assert.throws(() => patchLabels(L, 2, 5, 2), /32 labels for 2 images of 5×5/);
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
    const L = lhpLayout({
      image: { data: new Uint8Array(16 * 16 * 3), height: 16, width: 16 },
      grid: 4,
      tile: 36,
      anchors: [{ patch: 5, weights: [] }],
    });
    assert.deepEqual([img.width, img.height], [L.width, L.height]);
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

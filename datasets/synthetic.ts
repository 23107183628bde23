/**
 * Synthetic scenes: the embedded default dataset (no downloads). Deterministic procedural images whose
 * semantic classes are carried by texture and structure, not by colour.
 *
 * Each scene is a warped Voronoi partition into 3–5 regions; each region draws a class uniformly and two
 * colours from one SHARED palette (plus a per-instance brightness change), so colour says nothing about the
 * class. Classes (all distinguishable from the statistics of one 8×8 patch):
 *   0 hstripes  bands of period 4–6 px, near-horizontal (±20°)
 *   1 vstripes  bands of period 4–6 px, near-vertical (±20°)
 *   2 checker   axis-aligned checkerboard, cells 2–3 px
 *   3 dots      round dots (radius 1.2–1.8 px) on a 5–6 px lattice
 *   4 grain     per-pixel random binary noise between the two colours
 *   5 smooth    a smooth linear gradient between the two colours (no texture)
 *   6 grid      thin 1-px lines every 4–5 px in both directions
 * Labels are pixel-exact (hard region edges), no ignore pixels. Every pixel also gets a little grain (±4).
 * Sample i of a split depends only on (seed, split, i, imageSize), so access is random and cheap (~1 ms).
 *
 * On disk (`writeSynthetic`, used by `deno task prepare --dataset synthetic`) it follows a COCO-like layout:
 *   images/{train,val}/<id>.png, annotations/{train,val}/<id>.png (class id, 255 = ignore),
 *   curated/{train,val}.txt (ids), synthetic.json (parameters and class names).
 * @module
 */
import { InputError } from "../core/errors.ts";
import { hash32, hashUniform, Rng } from "../core/rng.ts";
import { decodeImage, decodeLabelPng, encodeGrayPng, encodeRgbPng, readBytes } from "../core/image/codecs.ts";
import type { DatasetOptions, Sample, SegDataset } from "./dataset.ts";
import { checkIndex, checkSameSize, mapLabels, readList } from "./dataset.ts";
import { SYNTHETIC_CLASSES, SYNTHETIC_LAYOUT } from "./layouts.ts";
import { writeFileAtomic } from "../core/io/atomic.ts";

/** Shared palette: every class draws its colours from here. */
const PALETTE: [number, number, number][] = [
  [200, 60, 50],
  [60, 160, 70],
  [50, 90, 190],
  [220, 200, 60],
  [150, 70, 170],
  [60, 180, 190],
  [235, 235, 225],
  [40, 40, 45],
];

/** Defaults of the on-the-fly dataset. */
export const SYNTHETIC_DEFAULTS = { imageSize: 64, trainCount: 300, valCount: 60, seed: 0 };

interface Region {
  cx: number;
  cy: number;
  cls: number;
  fg: [number, number, number];
  bg: [number, number, number];
  // texture parameters
  period: number;
  cos: number;
  sin: number;
  phase: number;
  radius: number;
  ox: number;
  oy: number;
}

function pickColors(rng: Rng): [[number, number, number], [number, number, number]] {
  const a = rng.int(PALETTE.length);
  let b = rng.int(PALETTE.length - 1);
  if (b >= a) b++;
  const scale = (c: [number, number, number]) => {
    const k = rng.uniform(0.85, 1.15);
    return c.map((v) => Math.min(255, v * k)) as [number, number, number];
  };
  return [scale(PALETTE[a]), scale(PALETTE[b])];
}

function makeRegion(rng: Rng, size: number): Region {
  const cls = rng.int(SYNTHETIC_CLASSES.length);
  const [fg, bg] = pickColors(rng);
  const cx = rng.uniform(0, size), cy = rng.uniform(0, size);
  let angle = rng.uniform(-20, 20) * (Math.PI / 180);
  let period = rng.uniform(4, 6);
  if (cls === 0) angle += Math.PI / 2; // bands vary along y
  if (cls === 2) period = rng.uniform(2, 3);
  if (cls === 3) period = rng.uniform(5, 6);
  if (cls === 6) period = rng.uniform(4, 5);
  if (cls === 5) angle = rng.uniform(0, 2 * Math.PI);
  return {
    cx,
    cy,
    cls,
    fg,
    bg,
    period,
    cos: Math.cos(angle),
    sin: Math.sin(angle),
    phase: rng.next(),
    radius: rng.uniform(1.2, 1.8),
    ox: rng.uniform(0, period),
    oy: rng.uniform(0, period),
  };
}

/** Texture mix in [0,1] (0 = bg, 1 = fg) of region r at pixel (x, y). */
function texture(r: Region, x: number, y: number, size: number, noiseSeed: number, pix: number): number {
  switch (r.cls) {
    case 0:
    case 1: {
      const u = (x * r.cos + y * r.sin) / r.period + r.phase;
      return u - Math.floor(u) < 0.5 ? 1 : 0;
    }
    case 2: {
      const a = Math.floor((x + r.ox) / r.period), b = Math.floor((y + r.oy) / r.period);
      return (a + b) & 1;
    }
    case 3: {
      const px = x + r.ox, py = y + r.oy;
      const dx = px - (Math.floor(px / r.period) + 0.5) * r.period;
      const dy = py - (Math.floor(py / r.period) + 0.5) * r.period;
      return dx * dx + dy * dy <= r.radius * r.radius ? 1 : 0;
    }
    case 4:
      return hashUniform(noiseSeed ^ 0x5bd1e995, pix) < 0.5 ? 1 : 0;
    case 5: {
      const u = ((x - size / 2) * r.cos + (y - size / 2) * r.sin) / size + 0.5;
      return Math.min(1, Math.max(0, u));
    }
    default: {
      const gx = Math.floor(x + r.ox) % Math.round(r.period) === 0;
      const gy = Math.floor(y + r.oy) % Math.round(r.period) === 0;
      return gx || gy ? 1 : 0;
    }
  }
}

/**
 * Generates scene `index` of a split: RGB image and labels (class ids), both size×size.
 * Deterministic in (seed, split, index, size).
 */
export function generateScene(
  seed: number,
  split: "train" | "val",
  index: number,
  size: number,
): { image: Uint8Array; label: Int32Array } {
  const s = hash32(hash32(seed, split === "train" ? 1 : 2), index);
  const rng = new Rng(s);
  const nRegions = 3 + rng.int(3);
  const regions: Region[] = [];
  for (let k = 0; k < nRegions; k++) regions.push(makeRegion(rng, size));
  // Warp of the Voronoi metric: wavy, non-straight region borders.
  const amp = rng.uniform(2, 5), freq = (2 * Math.PI) / rng.uniform(size * 0.4, size * 0.8);
  const ph1 = rng.uniform(0, 2 * Math.PI), ph2 = rng.uniform(0, 2 * Math.PI);
  const image = new Uint8Array(size * size * 3);
  const label = new Int32Array(size * size);
  for (let y = 0; y < size; y++) {
    const wx = amp * Math.sin(y * freq + ph1);
    for (let x = 0; x < size; x++) {
      const qx = x + wx, qy = y + amp * Math.sin(x * freq + ph2);
      let best = 0, bestD = Infinity;
      for (let k = 0; k < nRegions; k++) {
        const dx = qx - regions[k].cx, dy = qy - regions[k].cy;
        const d = dx * dx + dy * dy;
        if (d < bestD) {
          bestD = d;
          best = k;
        }
      }
      const r = regions[best];
      const pix = y * size + x;
      const t = texture(r, x, y, size, s, pix);
      const grain = (hashUniform(s, pix) - 0.5) * 8;
      for (let c = 0; c < 3; c++) {
        const v = r.bg[c] + (r.fg[c] - r.bg[c]) * t + grain;
        image[pix * 3 + c] = v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
      }
      label[pix] = r.cls;
    }
  }
  return { image, label };
}

function sceneName(split: string, i: number): string {
  return `syn_${split}_${String(i).padStart(5, "0")}`;
}

/** Resolved parameters of a synthetic split. */
export interface SyntheticParams {
  imageSize: number;
  count: number;
  seed: number;
}

/** The parameters `opts` select (defaults filled in). */
export function syntheticParams(opts: DatasetOptions): SyntheticParams {
  const count = opts.count ??
    (opts.split === "train" ? SYNTHETIC_DEFAULTS.trainCount : SYNTHETIC_DEFAULTS.valCount);
  return { imageSize: opts.imageSize ?? SYNTHETIC_DEFAULTS.imageSize, count, seed: opts.seed ?? 0 };
}

/** The in-memory (generated on the fly) synthetic dataset. */
export class SyntheticScenes implements SegDataset {
  readonly name = "synthetic";
  readonly nClasses = SYNTHETIC_CLASSES.length;
  readonly classNames = SYNTHETIC_CLASSES.slice();
  readonly length: number;
  readonly fixedSize: number;
  readonly spec: DatasetOptions;
  readonly #p: SyntheticParams;
  readonly #split: "train" | "val";

  constructor(opts: DatasetOptions) {
    this.#p = syntheticParams(opts);
    this.#split = opts.split;
    this.length = this.#p.count;
    this.fixedSize = this.#p.imageSize;
    this.spec = { ...opts, root: undefined };
  }

  get(i: number): Promise<Sample> {
    checkIndex(i, this.length, "synthetic");
    const { imageSize: n, seed } = this.#p;
    const { image, label } = generateScene(seed, this.#split, i, n);
    return Promise.resolve({
      name: sceneName(this.#split, i),
      image: { width: n, height: n, data: image },
      label,
    });
  }
}

/** Label map of the on-disk layout: value = class id, 255 = ignore. */
function diskLabelMap(nClasses: number): Int16Array {
  const m = new Int16Array(256).fill(-2);
  for (let c = 0; c < nClasses; c++) m[c] = c;
  m[255] = -1;
  return m;
}

/** Opens synthetic scenes: from `root` when given (on-disk layout), else generated in memory. */
export async function openSynthetic(opts: DatasetOptions): Promise<SegDataset> {
  if (!opts.root) return new SyntheticScenes(opts);
  const root = opts.root;
  let meta: { classes: string[] };
  try {
    meta = JSON.parse(await Deno.readTextFile(`${root}/synthetic.json`));
  } catch {
    throw new InputError(`Missing ${root}/synthetic.json`, { hint: SYNTHETIC_LAYOUT });
  }
  const ids = await readList(`${root}/curated/${opts.split}.txt`, SYNTHETIC_LAYOUT);
  const map = diskLabelMap(meta.classes.length);
  return {
    name: "synthetic",
    nClasses: meta.classes.length,
    classNames: meta.classes,
    length: ids.length,
    spec: opts,
    async get(i: number): Promise<Sample> {
      checkIndex(i, ids.length, "synthetic");
      const imgPath = `${root}/images/${opts.split}/${ids[i]}.png`;
      const labPath = `${root}/annotations/${opts.split}/${ids[i]}.png`;
      const image = await decodeImage(await readBytes(imgPath, "image"), imgPath);
      const lab = decodeLabelPng(await readBytes(labPath, "label"), labPath);
      checkSameSize(image, lab.width, lab.height, labPath);
      const label = mapLabels(lab.values, map, labPath, `expected 0..${meta.classes.length - 1} or 255`);
      return { name: ids[i], file: `${ids[i]}.png`, image, label };
    },
  };
}

/**
 * Writes both splits of the synthetic scenes under `root` in the on-disk layout (see module comment).
 * Existing files are kept (resumable); each file is written atomically.
 */
export async function writeSynthetic(
  root: string,
  p: { imageSize: number; trainCount: number; valCount: number; seed: number },
  onProgress?: (done: number, total: number) => void,
): Promise<void> {
  const total = p.trainCount + p.valCount;
  let done = 0;
  await Deno.mkdir(`${root}/curated`, { recursive: true });
  for (const split of ["train", "val"] as const) {
    const count = split === "train" ? p.trainCount : p.valCount;
    await Deno.mkdir(`${root}/images/${split}`, { recursive: true });
    await Deno.mkdir(`${root}/annotations/${split}`, { recursive: true });
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const id = sceneName(split, i);
      ids.push(id);
      const imgPath = `${root}/images/${split}/${id}.png`, labPath = `${root}/annotations/${split}/${id}.png`;
      if (!(await exists(imgPath)) || !(await exists(labPath))) {
        const { image, label } = generateScene(p.seed, split, i, p.imageSize);
        const lab8 = Uint8Array.from(label, (v) => (v < 0 ? 255 : v));
        await writeFileAtomic(labPath, encodeGrayPng(p.imageSize, p.imageSize, lab8));
        await writeFileAtomic(
          imgPath,
          encodeRgbPng({ width: p.imageSize, height: p.imageSize, data: image }),
        );
      }
      onProgress?.(++done, total);
    }
    await writeFileAtomic(`${root}/curated/${split}.txt`, ids.join("\n") + "\n");
  }
  const meta = { classes: SYNTHETIC_CLASSES, ...p, generator: "hpseg synthetic scenes v1" };
  await writeFileAtomic(`${root}/synthetic.json`, JSON.stringify(meta, null, 2) + "\n");
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

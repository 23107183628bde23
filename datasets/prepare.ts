/**
 * `prepare`: five-crops exactly as the reference (hp-method.md §9.4) and packed caches (datasets/packed.ts).
 *
 * Five-crop: for each source image n of a split (full resolution, labels already in class ids), crop size
 * (⌊H/2⌋, ⌊W/2⌋), torchvision order TL, TR, BL, BR, centre; crop j → index k = 5n + j, image JPEG (quality 75
 * as PIL's default), label PNG storing label+1 (0 = ignore). Output `<out>/<name>_five_crop_0.5/
 * {img,label}/<split>/<k>.{jpg,png}` with `<out>` = `<root>/cropped` by default.
 *
 * Resumable: a source whose ten files all exist is skipped; every file is written to a temporary name and
 * renamed, so an interrupted run never leaves a partial file under a final name (stale temporaries are
 * removed at start). With `skipBad`, an undecodable source is skipped, counted and recorded in
 * `skipped_<split>.txt`; later indices shift down (k = 5·n' + j, n' = position among good sources) so the
 * folder stays gap-free, and the record keeps the numbering stable when resuming.
 * @module
 */
import { DecodeError, encodeGrayPng, encodeJpeg } from "../core/data/image.ts";
import {
  cropImage,
  cropLabels,
  evalTransform,
  evalTransformLabels,
  fiveCropBoxes,
} from "../core/data/transforms.ts";
import { InputError } from "../core/errors.ts";
import { writeFileAtomic } from "../core/io/atomic.ts";
import {
  type DatasetName,
  type DatasetOptions,
  openDataset,
  requireDir,
  type SegDataset,
  usesFiveCrop,
} from "./dataset.ts";
import { croppedDir } from "./cropped.ts";
import { PACKED_HEADER_BYTES, packedPath, packedPrefix } from "./packed.ts";

/** Options of {@link prepareDataset}. */
export interface PrepareOptions {
  dataset: DatasetName;
  root: string;
  /** Parent of the five-crop folder (default `<root>/cropped`). */
  out?: string;
  splits?: ("train" | "val")[];
  /** Write packed caches: train at `size` (default 224), val at `valSize` (default 320). */
  pack?: boolean;
  size?: number;
  valSize?: number;
  skipBad?: boolean;
  /** Synthetic generation parameters (dataset "synthetic"). */
  synthetic?: { imageSize: number; trainCount: number; valCount: number; seed: number };
  /** Progress sink: called with a phase label, done and total. */
  progress?: (phase: string, done: number, total: number) => void;
  /** Stop after this many newly written sources (tests simulate an interrupted run). */
  stopAfter?: number;
}

/** What a run did. */
export interface PrepareReport {
  written: number;
  skippedExisting: number;
  skippedBad: number;
  packed: string[];
  stopped: boolean;
}

class Stop extends Error {}

async function writeAll(f: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await f.write(bytes.subarray(off));
}

async function exists(p: string): Promise<boolean> {
  try {
    await Deno.stat(p);
    return true;
  } catch {
    return false;
  }
}

/** Temp-then-rename write without fsync: crash-safe against interruption, cheap for many small files. */
async function writeQuick(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.${Deno.pid}.tmp`;
  await Deno.writeFile(tmp, bytes);
  await Deno.rename(tmp, path);
}

async function removeStaleTemps(dir: string): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && e.name.endsWith(".tmp")) await Deno.remove(`${dir}/${e.name}`);
  }
}

/** Runs the preparation; see the module comment. */
export async function prepareDataset(o: PrepareOptions): Promise<PrepareReport> {
  const report: PrepareReport = { written: 0, skippedExisting: 0, skippedBad: 0, packed: [], stopped: false };
  const splits = o.splits ?? ["train", "val"];
  if (o.dataset !== "synthetic") await requireDir(o.root, `dataset root for ${o.dataset}`);
  if (o.dataset === "synthetic") {
    const { writeSynthetic, SYNTHETIC_DEFAULTS } = await import("./synthetic.ts");
    const p = o.synthetic ?? {
      imageSize: SYNTHETIC_DEFAULTS.imageSize,
      trainCount: SYNTHETIC_DEFAULTS.trainCount,
      valCount: SYNTHETIC_DEFAULTS.valCount,
      seed: SYNTHETIC_DEFAULTS.seed,
    };
    await Deno.mkdir(o.root, { recursive: true });
    await writeSynthetic(o.root, p, (d, t) => o.progress?.("synthetic scenes", d, t));
  }
  try {
    if (o.dataset !== "potsdam" && o.dataset !== "folder") {
      for (const split of splits) await fiveCropSplit(o, split, report);
    } else if (!o.pack) {
      // Nothing to write; still check the layout so a wrong --root is reported now, not at training time.
      for (const split of splits) await openDataset({ dataset: o.dataset, root: o.root, split });
    }
    if (o.pack) {
      for (const split of splits) report.packed.push(await packSplit(o, split, report));
    }
  } catch (err) {
    if (err instanceof Stop) report.stopped = true;
    else throw err;
  }
  return report;
}

async function fiveCropSplit(
  o: PrepareOptions,
  split: "train" | "val",
  report: PrepareReport,
): Promise<void> {
  const ds = await openDataset({ dataset: o.dataset, root: o.root, split, fiveCrop: false });
  const base = o.out ? `${o.out}/${o.dataset}_five_crop_0.5` : croppedDir(o.root, o.dataset);
  const imgDir = `${base}/img/${split}`, labDir = `${base}/label/${split}`;
  await Deno.mkdir(imgDir, { recursive: true });
  await Deno.mkdir(labDir, { recursive: true });
  await removeStaleTemps(imgDir);
  await removeStaleTemps(labDir);
  const skipFile = `${base}/skipped_${split}.txt`;
  const skipped = new Set<number>();
  if (await exists(skipFile)) {
    for (const l of (await Deno.readTextFile(skipFile)).split("\n")) {
      if (l.trim()) skipped.add(Number(l.split("\t")[0]));
    }
  }
  let good = 0;
  for (let n = 0; n < ds.length; n++) {
    o.progress?.(`five-crop ${split}`, n, ds.length);
    if (skipped.has(n)) continue;
    const ks = [0, 1, 2, 3, 4].map((j) => 5 * good + j);
    const done = await Promise.all(
      ks.flatMap((k) => [exists(`${imgDir}/${k}.jpg`), exists(`${labDir}/${k}.png`)]),
    );
    if (done.every((d) => d)) {
      good++;
      report.skippedExisting++;
      continue;
    }
    if (o.stopAfter !== undefined && report.written >= o.stopAfter) throw new Stop();
    let s;
    try {
      s = await ds.get(n);
    } catch (err) {
      if (!(err instanceof DecodeError) || !o.skipBad) throw err;
      skipped.add(n);
      report.skippedBad++;
      const lines = [...skipped].sort((a, b) => a - b).map((i) => `${i}\t${i === n ? err.message : ""}`);
      await writeFileAtomic(skipFile, lines.join("\n") + "\n");
      continue;
    }
    const { width: W, height: H } = s.image;
    const boxes = fiveCropBoxes(H, W, 0.5);
    for (let j = 0; j < 5; j++) {
      const [t, l, h, w] = boxes[j];
      const crop = cropImage(s.image, t, l, h, w);
      const lab8 = new Uint8Array(h * w); // label+1, 0 = ignore (unlabelled sources → all 0)
      if (s.label) {
        const c = cropLabels({ width: W, height: H, data: Int32Array.from(s.label) }, t, l, h, w).data;
        for (let i = 0; i < c.length; i++) lab8[i] = c[i] + 1;
      }
      // Label first, image last: the image's presence is what marks a crop as started in listings.
      await writeQuick(`${labDir}/${ks[j]}.png`, encodeGrayPng(w, h, lab8));
      await writeQuick(`${imgDir}/${ks[j]}.jpg`, await encodeJpeg(crop, 75));
    }
    good++;
    report.written++;
  }
  o.progress?.(`five-crop ${split}`, ds.length, ds.length);
}

async function packSplit(o: PrepareOptions, split: "train" | "val", report: PrepareReport): Promise<string> {
  const size = split === "train" ? (o.size ?? 224) : (o.valSize ?? 320);
  const spec: DatasetOptions = { dataset: o.dataset, root: o.root, split };
  if (o.out && usesFiveCrop(spec)) {
    throw new InputError("--pack reads five-crops from <root>/cropped; it cannot be combined with --out");
  }
  const path = packedPath(spec, size);
  if (await exists(path)) return path; // written atomically, so an existing file is complete
  const ds: SegDataset = await openDataset(spec);
  const P = size * size;
  await Deno.mkdir(`${o.root}/packed`, { recursive: true });
  const tmp = `${path}.${Deno.pid}.tmp`;
  const f = await Deno.open(tmp, { write: true, create: true, truncate: true });
  let count = 0, labelled = false;
  try {
    await writeAll(f, new Uint8Array(PACKED_HEADER_BYTES)); // placeholder, header written last
    const rec = new Uint8Array(P * 4);
    for (let i = 0; i < ds.length; i++) {
      o.progress?.(`pack ${split} ${size}`, i, ds.length);
      let s;
      try {
        s = await ds.get(i);
      } catch (err) {
        if (!(err instanceof DecodeError) || !o.skipBad) throw err;
        report.skippedBad++;
        continue;
      }
      rec.set(evalTransform(s.image, size).data, 0);
      rec.fill(0, P * 3);
      if (s.label) {
        labelled = true;
        const lab = evalTransformLabels(
          { width: s.image.width, height: s.image.height, data: Int32Array.from(s.label) },
          size,
        ).data;
        for (let k = 0; k < P; k++) rec[P * 3 + k] = lab[k] + 1;
      }
      await writeAll(f, rec);
      count++;
    }
    const header = packedPrefix({
      name: ds.name,
      nClasses: ds.nClasses,
      classNames: ds.classNames,
      size,
      count,
      labelled,
    });
    await f.seek(0, Deno.SeekMode.Start);
    await writeAll(f, header);
    await f.sync();
    f.close();
    await Deno.rename(tmp, path);
  } catch (err) {
    try {
      f.close();
    } catch { /* already closed */ }
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
  o.progress?.(`pack ${split} ${size}`, ds.length, ds.length);
  return path;
}

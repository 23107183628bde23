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
import { DecodeError } from "../core/image/codecs.ts";
import { evalTransform, evalTransformLabels } from "../core/image/transforms.ts";
import { InputError } from "../core/errors.ts";
import { writeError, writeFileAtomic } from "../core/io/atomic.ts";
import {
  type DatasetName,
  type DatasetOptions,
  requireDir,
  type SegDataset,
  usesFiveCrop,
} from "./dataset.ts";
import { openDataset } from "./registry.ts";
import {
  type EncodedSource,
  encodeSource,
  type PrepareReply,
  type PrepareRequest,
} from "./prepare_encode.ts";
import { croppedDir } from "./cropped.ts";
import { PACKED_HEADER_BYTES, packedPath, packedPrefix } from "./packed.ts";
import { rootLayoutHint } from "./layouts.ts";
import { recordedFingerprint, sourceFingerprint } from "./pack_sources.ts";

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
  /** Web Workers that decode and encode sources (default 0 = in-process); output is identical. */
  workers?: number;
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
  /** Things the user should know (e.g. a stale pack written again). */
  notes: string[];
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
  try {
    await Deno.writeFile(tmp, bytes);
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw writeError(path, err); // disk full: name the file
  }
}

async function removeStaleTemps(dir: string): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && e.name.endsWith(".tmp")) await Deno.remove(`${dir}/${e.name}`);
  }
}

/** Runs the preparation; see the module comment. */
export async function prepareDataset(o: PrepareOptions): Promise<PrepareReport> {
  const report: PrepareReport = {
    written: 0,
    skippedExisting: 0,
    skippedBad: 0,
    packed: [],
    stopped: false,
    notes: [],
  };
  const splits = o.splits ?? ["train", "val"];
  if (o.dataset !== "synthetic") {
    await requireDir(o.root, `dataset root for ${o.dataset}`, rootLayoutHint(o.dataset));
  }
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
  const dsOpts: DatasetOptions = { dataset: o.dataset, root: o.root, split, fiveCrop: false };
  const ds = await openDataset(dsOpts);
  const base = o.out ? `${o.out}/${o.dataset}_five_crop_0.5` : croppedDir(o.root, o.dataset);
  const imgDir = `${base}/img/${split}`, labDir = `${base}/label/${split}`;
  await Deno.mkdir(imgDir, { recursive: true });
  await Deno.mkdir(labDir, { recursive: true });
  await removeStaleTemps(imgDir);
  await removeStaleTemps(labDir);
  const skipFile = `${base}/skipped_${split}.txt`;
  const skipped = new Map<number, string>();
  if (await exists(skipFile)) {
    for (const l of (await Deno.readTextFile(skipFile)).split("\n")) {
      if (l.trim()) skipped.set(Number(l.split("\t")[0]), l.split("\t").slice(1).join("\t"));
    }
  }
  const sourceDone = async (good: number) => {
    const ks = [0, 1, 2, 3, 4].map((j) => 5 * good + j);
    const done = await Promise.all(
      ks.flatMap((k) => [exists(`${imgDir}/${k}.jpg`), exists(`${labDir}/${k}.png`)]),
    );
    return done.every((d) => d);
  };
  // Encoding runs ahead on workers (when asked); writing and numbering stay in source order here, so the
  // output is the same for any worker count.
  const pool = (o.workers ?? 0) > 0 ? await SourcePool.start(o.workers!, dsOpts) : null;
  const encode = (n: number) => (pool ? pool.run(n) : encodeSource(ds, n));
  const pending = new Map<number, Promise<EncodedSource>>();
  const window = pool ? 2 * o.workers! : 0;
  let ahead = 0, aheadGood = 0;
  const scheduleAhead = async () => {
    while (ahead < ds.length && pending.size < window) {
      const n = ahead++;
      if (skipped.has(n)) continue;
      // A predicted index: wrong only after a new bad source, which just wastes or delays one encode.
      if (!(await sourceDone(aheadGood++))) {
        const p = encode(n);
        p.catch(() => {}); // observed when consumed; abandoned ones must not be unhandled
        pending.set(n, p);
      }
    }
  };
  try {
    let good = 0;
    for (let n = 0; n < ds.length; n++) {
      o.progress?.(`five-crop ${split}`, n, ds.length);
      if (skipped.has(n)) continue;
      await scheduleAhead();
      if (await sourceDone(good)) {
        pending.delete(n);
        good++;
        report.skippedExisting++;
        continue;
      }
      if (o.stopAfter !== undefined && report.written >= o.stopAfter) throw new Stop();
      let enc: EncodedSource;
      try {
        enc = await (pending.get(n) ?? encode(n));
      } catch (err) {
        if (!(err instanceof DecodeError) || !o.skipBad) throw err;
        skipped.set(n, err.message.split("\n")[0]);
        report.skippedBad++;
        aheadGood--;
        const lines = [...skipped].sort((a, b) => a[0] - b[0]).map(([i, why]) => `${i}\t${why}`);
        await writeFileAtomic(skipFile, lines.join("\n") + "\n");
        continue;
      } finally {
        pending.delete(n);
      }
      for (let j = 0; j < 5; j++) {
        const k = 5 * good + j;
        // Label first, image last: the image's presence is what marks a crop as started in listings.
        await writeQuick(`${labDir}/${k}.png`, enc.pngs[j]);
        await writeQuick(`${imgDir}/${k}.jpg`, enc.jpgs[j]);
      }
      good++;
      report.written++;
    }
  } finally {
    pool?.close();
  }
  o.progress?.(`five-crop ${split}`, ds.length, ds.length);
}

/** Web Workers that encode sources (datasets/prepare_worker.ts). */
class SourcePool {
  #workers: Worker[] = [];
  #load: number[] = [];
  #pending = new Map<number, { resolve: (e: EncodedSource) => void; reject: (e: Error) => void }>();
  #next = 0;

  static async start(n: number, ds: DatasetOptions): Promise<SourcePool> {
    const pool = new SourcePool();
    const ready: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      const w = new Worker(new URL("./prepare_worker.ts", import.meta.url), { type: "module" });
      pool.#workers.push(w);
      pool.#load.push(0);
      ready.push(
        new Promise<void>((resolve, reject) => {
          w.onmessage = (ev: MessageEvent<PrepareReply>) => {
            const m = ev.data;
            if (m.kind === "ready") resolve();
            else if (m.kind === "init-error") reject(rebuildError(m.error));
            else pool.#settle(m, i);
          };
          w.onerror = (ev) => {
            ev.preventDefault();
            const err = new Error(`prepare worker failed: ${ev.message}`);
            reject(err);
            for (const p of pool.#pending.values()) p.reject(err);
            pool.#pending.clear();
          };
        }),
      );
      w.postMessage({ kind: "init", dataset: ds } satisfies PrepareRequest);
    }
    try {
      await Promise.all(ready);
    } catch (err) {
      pool.close();
      throw err;
    }
    return pool;
  }

  run(n: number): Promise<EncodedSource> {
    let w = 0;
    for (let k = 1; k < this.#workers.length; k++) if (this.#load[k] < this.#load[w]) w = k;
    this.#load[w]++;
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#workers[w].postMessage({ kind: "encode", id, n } satisfies PrepareRequest);
    });
  }

  #settle(m: PrepareReply, w: number): void {
    if (m.kind !== "done" && m.kind !== "error") return;
    this.#load[w]--;
    const p = this.#pending.get(m.id);
    if (!p) return;
    this.#pending.delete(m.id);
    if (m.kind === "error") p.reject(rebuildError(m.error));
    else p.resolve(m.files);
  }

  close(): void {
    for (const w of this.#workers) w.terminate();
    this.#workers = [];
    const err = new Error("prepare worker pool closed");
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
  }
}

/** Recreates an error sent by a worker, keeping the classes callers test for. */
function rebuildError(e: { name: string; message: string; userFacing?: boolean }): Error {
  if (e.name === "DecodeError") return new DecodeError(e.message);
  if (e.name === "InputError" || e.userFacing) return new InputError(e.message);
  const err = new Error(e.message);
  err.name = e.name;
  return err;
}

async function packSplit(o: PrepareOptions, split: "train" | "val", report: PrepareReport): Promise<string> {
  const size = split === "train" ? (o.size ?? 224) : (o.valSize ?? 320);
  const spec: DatasetOptions = { dataset: o.dataset, root: o.root, split };
  if (o.out && usesFiveCrop(spec)) {
    throw new InputError("--pack reads five-crops from <root>/cropped; it cannot be combined with --out");
  }
  const path = packedPath(spec, size);
  // Written atomically, so an existing file is complete; it is reused only if its sources are unchanged.
  const sources = await sourceFingerprint(o.root, { ...spec, size, skipBad: o.skipBad === true });
  if (await exists(path)) {
    if (recordedFingerprint(path) === sources) return path;
    report.notes.push(
      `${path}: its sources changed since it was written (or it predates the check); packed again`,
    );
  }
  const ds: SegDataset = await openDataset(spec);
  const skipped: string[] = [];
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
        skipped.push(`${i}\t${err.message.split("\n")[0]}`);
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
      sources,
    });
    await f.seek(0, Deno.SeekMode.Start);
    await writeAll(f, header);
    await f.sync();
    f.close();
    // The skipped sources, as for five-crops (README: "listed in skipped_<split>.txt").
    const skipFile = `${o.root}/packed/skipped_${split}.txt`;
    if (skipped.length) await writeFileAtomic(skipFile, skipped.join("\n") + "\n");
    else await Deno.remove(skipFile).catch(() => {});
    await Deno.rename(tmp, path);
  } catch (err) {
    try {
      f.close();
    } catch { /* already closed */ }
    await Deno.remove(tmp).catch(() => {});
    throw writeError(path, err);
  }
  o.progress?.(`pack ${split} ${size}`, ds.length, ds.length);
  return path;
}

/**
 * `folder`: any directory of images, labels optional — for users' own data (hp-method.md §13 asks for a
 * directory dataset).
 *
 * Layout: images are every .jpg/.jpeg/.png under `root/images/<split>/` if that exists, else under
 * `root/images/`, else under `root/` (recursively, sorted by relative path). Labels are optional:
 * `labels/<same relative path with .png>` beside `images/`, 8-bit gray (value = class id, 255 = ignore).
 * Class names come from `root/classes.txt` (one per line) or `nClasses`; without either, labels are not read.
 * @module
 */
import { decodeImage, decodeLabelPng, readBytes } from "../core/image/codecs.ts";
import { InputError } from "../core/errors.ts";
import type { DatasetOptions, Sample, SegDataset } from "./dataset.ts";
import { checkIndex, checkSameSize, mapLabels, readList } from "./dataset.ts";
import { FOLDER_LAYOUT } from "./layouts.ts";

const EXT = /\.(jpe?g|png)$/i;

async function isDir(p: string): Promise<boolean> {
  try {
    return (await Deno.stat(p)).isDirectory;
  } catch {
    return false;
  }
}

async function listImages(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  const entries: Deno.DirEntry[] = [];
  for await (const e of Deno.readDir(dir)) entries.push(e);
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory && !(prefix === "" && e.name === "labels")) {
      out.push(...await listImages(`${dir}/${e.name}`, rel));
    } else if (e.isFile && EXT.test(e.name)) out.push(rel);
  }
  return out;
}

/** Opens a directory of images (see module comment for the layout). */
export async function openFolder(opts: DatasetOptions): Promise<SegDataset> {
  const root = opts.root!;
  let imgDir = root, labDir: string | null = null;
  if (await isDir(`${root}/images/${opts.split}`)) {
    imgDir = `${root}/images/${opts.split}`;
    labDir = `${root}/labels/${opts.split}`;
  } else if (await isDir(`${root}/images`)) {
    imgDir = `${root}/images`;
    labDir = `${root}/labels`;
  }
  const files = await listImages(imgDir);
  if (files.length === 0) {
    throw new InputError(`No .jpg/.jpeg/.png images under ${imgDir}`, {
      hint: FOLDER_LAYOUT,
    });
  }
  let classNames: string[] = [];
  try {
    await Deno.stat(`${root}/classes.txt`);
    classNames = await readList(`${root}/classes.txt`, "one class name per line");
  } catch {
    if (opts.nClasses) classNames = Array.from({ length: opts.nClasses }, (_, i) => `class${i}`);
  }
  const nClasses = classNames.length;
  const useLabels = labDir !== null && nClasses > 0 && (await isDir(labDir));
  const map = new Int16Array(256).fill(-2);
  for (let c = 0; c < nClasses; c++) map[c] = c;
  map[255] = -1;
  return {
    name: "folder",
    nClasses,
    classNames,
    length: files.length,
    spec: opts,
    async get(i: number): Promise<Sample> {
      checkIndex(i, files.length, "folder");
      const ip = `${imgDir}/${files[i]}`;
      const image = await decodeImage(await readBytes(ip, "image"), ip);
      let label: Int32Array | null = null;
      if (useLabels) {
        const lp = `${labDir}/${files[i].replace(EXT, ".png")}`;
        let bytes: Uint8Array | null = null;
        try {
          bytes = await Deno.readFile(lp);
        } catch { /* unlabelled image */ }
        if (bytes) {
          const lab = decodeLabelPng(bytes, lp);
          checkSameSize(image, lab.width, lab.height, lp);
          label = mapLabels(lab.values, map, lp, `expected 0..${nClasses - 1} or 255`);
        }
      }
      return { name: files[i].replace(EXT, ""), file: files[i], image, label };
    },
  };
}

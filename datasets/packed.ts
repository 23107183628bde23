/**
 * Packed caches: images and labels already at training resolution, read without decoding.
 *
 * File `<root>/packed/<name>_<split>[_five_crop]_<S>.hpk`:
 *   bytes 0..7   "HPSEGPK1"
 *   bytes 8..11  header length L (u32 little-endian), L ≤ 4084
 *   L bytes      JSON header { name, nClasses, classNames, size, count, labelled }, space-padded to byte 4096
 *   then count records of S×S×4 bytes: the image (RGB u8, S×S×3) followed by its labels (S×S, label+1,
 *   0 = ignore). Records are streamed to disk while packing, so caches larger than memory are fine.
 * Samples are read with positioned reads (node:fs readSync), so concurrent gets do not interfere.
 * @module
 */
import { closeSync, openSync, readSync } from "node:fs";
import { InputError } from "../core/errors.ts";
import type { DatasetOptions, Sample, SegDataset } from "./dataset.ts";
import { checkIndex, usesFiveCrop } from "./dataset.ts";

const MAGIC = "HPSEGPK1";

/** Header of a packed file. */
export interface PackedHeader {
  name: string;
  nClasses: number;
  classNames: string[];
  size: number;
  count: number;
  labelled: boolean;
  /** Fingerprint of the sources it was made from (datasets/pack_sources.ts); absent in older packs. */
  sources?: string;
}

/** Path of the packed cache the options select. */
export function packedPath(opts: DatasetOptions, size = opts.packedSize!): string {
  const fc = usesFiveCrop(opts) ? "_five_crop" : "";
  return `${opts.root}/packed/${opts.dataset}_${opts.split}${fc}_${size}.hpk`;
}

/** Bytes before the first record. */
export const PACKED_HEADER_BYTES = 4096;

/** Serialises the header into its fixed 4096-byte region. */
export function packedPrefix(h: PackedHeader): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(h));
  if (12 + json.length > PACKED_HEADER_BYTES) {
    throw new RangeError(`packed header too long (${json.length} bytes)`);
  }
  const out = new Uint8Array(PACKED_HEADER_BYTES).fill(32);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(8, json.length, true);
  out.set(json, 12);
  return out;
}

/** Opens a packed cache as a dataset (every sample S×S, `fixedSize` = S). */
export function openPacked(path: string, spec: DatasetOptions): Promise<SegDataset> {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    throw new InputError(`Missing packed cache ${path}`, {
      hint: `write it with \`deno task prepare --dataset ${spec.dataset} --root ${spec.root} --pack\``,
    });
  }
  const head = new Uint8Array(12);
  readSync(fd, head, 0, 12, 0);
  if (new TextDecoder().decode(head.subarray(0, 8)) !== MAGIC) {
    closeSync(fd);
    throw new InputError(`Cannot read packed cache ${path}: bad magic (not an hpseg packed file)`);
  }
  const len = new DataView(head.buffer).getUint32(8, true);
  const jb = new Uint8Array(len);
  readSync(fd, jb, 0, len, 12);
  const h: PackedHeader = JSON.parse(new TextDecoder().decode(jb));
  const dataOff = PACKED_HEADER_BYTES;
  const S = h.size, P = S * S;
  const size = Deno.statSync(path).size;
  const expected = dataOff + h.count * P * 4;
  if (size !== expected) {
    closeSync(fd);
    throw new InputError(
      `Cannot read packed cache ${path}: file is ${size} bytes, header implies ${expected}`,
    );
  }
  return Promise.resolve({
    name: h.name,
    nClasses: h.nClasses,
    classNames: h.classNames,
    length: h.count,
    fixedSize: S,
    spec: { ...spec, packedSize: S },
    get(i: number): Promise<Sample> {
      checkIndex(i, h.count, `packed ${h.name}`);
      const rec = new Uint8Array(P * 4);
      readSync(fd, rec, 0, P * 4, dataOff + i * P * 4);
      const data = rec.subarray(0, P * 3);
      let label: Int32Array | null = null;
      if (h.labelled) {
        label = new Int32Array(P);
        for (let k = 0; k < P; k++) label[k] = rec[P * 3 + k] - 1;
      }
      return Promise.resolve({ name: String(i), image: { width: S, height: S, data }, label });
    },
  });
}

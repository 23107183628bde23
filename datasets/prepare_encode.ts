/**
 * Encoding one source image's five crops (hp-method.md §9.4), shared by `prepare` in process
 * (datasets/prepare.ts) and its encoder Workers (prepare_worker.ts), and the messages between the two.
 * @module
 */
import { encodeGrayPng, encodeJpeg } from "../core/image/codecs.ts";
import { cropImage, cropLabels, fiveCropBoxes } from "../core/image/transforms.ts";
import type { DatasetOptions, SegDataset } from "./dataset.ts";

/** The ten encoded files of one source: crop j's JPEG and label+1 PNG. */
export interface EncodedSource {
  jpgs: Uint8Array[];
  pngs: Uint8Array[];
}

/** Decodes source `n` of `ds` and encodes its five crops (shared by the in-process path and the workers). */
export async function encodeSource(ds: SegDataset, n: number): Promise<EncodedSource> {
  const s = await ds.get(n);
  const { width: W, height: H } = s.image;
  const out: EncodedSource = { jpgs: [], pngs: [] };
  const labels = s.label ? { width: W, height: H, data: Int32Array.from(s.label) } : null;
  for (const [t, l, h, w] of fiveCropBoxes(H, W, 0.5)) {
    const lab8 = new Uint8Array(h * w); // label+1, 0 = ignore (unlabelled sources → all 0)
    if (labels) {
      const c = cropLabels(labels, t, l, h, w).data;
      for (let i = 0; i < c.length; i++) lab8[i] = c[i] + 1;
    }
    out.pngs.push(encodeGrayPng(w, h, lab8));
    out.jpgs.push(await encodeJpeg(cropImage(s.image, t, l, h, w), 75));
  }
  return out;
}

/** Messages to datasets/prepare_worker.ts. */
export type PrepareRequest =
  | { kind: "init"; dataset: DatasetOptions }
  | { kind: "encode"; id: number; n: number };

/** Messages from datasets/prepare_worker.ts. */
export type PrepareReply =
  | { kind: "ready" }
  | { kind: "init-error"; error: { name: string; message: string; userFacing?: boolean } }
  | { kind: "done"; id: number; files: EncodedSource }
  | { kind: "error"; id: number; error: { name: string; message: string; userFacing?: boolean } };

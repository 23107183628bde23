/**
 * Worker side of the CRF pool (crf_pool.ts): runs `denseCrf` on one image per message and posts back the
 * argmax labels. hp-method.md §8.5.
 * @module
 */
/// <reference lib="deno.worker" />
import { argmaxRows, type CrfParams, denseCrf } from "./crf.ts";

/** One job posted to a worker (crf_worker.ts): probabilities [H·W, C] and RGB [H·W, 3]. */
export interface CrfJob {
  id: number;
  probs: Float32Array;
  rgb: Uint8Array;
  H: number;
  W: number;
  C: number;
  params: CrfParams;
}

self.onmessage = (e: MessageEvent<CrfJob>) => {
  const j = e.data;
  try {
    const q = denseCrf(j.probs, j.rgb, j.H, j.W, j.C, j.params);
    const labels = argmaxRows(q, j.C);
    self.postMessage({ id: j.id, labels }, [labels.buffer as ArrayBuffer]);
  } catch (err) {
    self.postMessage({ id: j.id, error: err instanceof Error ? err.message : String(err) });
  }
};

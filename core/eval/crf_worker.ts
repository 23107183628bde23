/**
 * Worker side of the CRF pool (crf_pool.ts): runs `denseCrf` on one image per message and posts back the
 * argmax labels. hp-method.md §8.5.
 * @module
 */
/// <reference lib="deno.worker" />
import { argmaxRows, denseCrf } from "./crf.ts";
import type { CrfJob } from "./crf_pool.ts";

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

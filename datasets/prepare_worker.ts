/**
 * Web Worker body of `prepare`'s encoder pool (datasets/prepare.ts): reopens the full-image dataset and
 * returns the five encoded crops of each requested source.
 * @module
 */
/// <reference lib="deno.worker" />
import type { SegDataset } from "./dataset.ts";
import { openDataset } from "./registry.ts";
import { encodeSource, type PrepareReply, type PrepareRequest } from "./prepare_encode.ts";

const errInfo = (e: unknown) => ({
  name: e instanceof Error ? e.name : "Error",
  message: e instanceof Error ? e.message : String(e),
  userFacing: (e as { userFacing?: boolean })?.userFacing === true,
});

let ds: SegDataset | null = null;
let chain: Promise<void> = Promise.resolve();
self.onmessage = (ev: MessageEvent<PrepareRequest>) => {
  const m = ev.data;
  chain = chain.then(async () => {
    if (m.kind === "init") {
      try {
        ds = await openDataset(m.dataset);
        self.postMessage({ kind: "ready" } satisfies PrepareReply);
      } catch (e) {
        self.postMessage({ kind: "init-error", error: errInfo(e) } satisfies PrepareReply);
      }
      return;
    }
    try {
      const files = await encodeSource(ds!, m.n);
      const transfer = [...files.jpgs, ...files.pngs].map((b) => b.buffer as ArrayBuffer);
      self.postMessage({ kind: "done", id: m.id, files } satisfies PrepareReply, transfer);
    } catch (e) {
      self.postMessage({ kind: "error", id: m.id, error: errInfo(e) } satisfies PrepareReply);
    }
  });
};

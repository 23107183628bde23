/**
 * Web Worker body of the data loader (core/data/loader.ts): reopens the dataset from its spec, then builds
 * requested batches (core/data/batch.ts) and transfers the buffers back.
 * @module
 */
/// <reference lib="deno.worker" />
import { type Batch, type BatchSpec, buildBatch } from "./batch.ts";
import { type DatasetOptions, openDataset, type SegDataset } from "../../datasets/dataset.ts";

/** Messages to the worker. */
export type WorkerRequest =
  | { kind: "init"; dataset: DatasetOptions; spec: BatchSpec }
  | { kind: "batch"; id: number; epoch: number; indices: number[] };

/** Messages from the worker. */
export type WorkerReply =
  | { kind: "ready" }
  | { kind: "init-error"; error: { name: string; message: string; userFacing?: boolean } }
  | { kind: "batch"; id: number; batch: Batch }
  | { kind: "error"; id: number; error: { name: string; message: string; userFacing?: boolean } };

const errInfo = (e: unknown) => ({
  name: e instanceof Error ? e.name : "Error",
  message: e instanceof Error ? e.message : String(e),
  // InputError, DecodeError, LimitError: the main thread prints them as one line.
  userFacing: (e as { userFacing?: boolean })?.userFacing === true,
});

// Only run as a worker (the module is also imported for its types).
if (typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== "undefined") {
  let ds: SegDataset | null = null;
  let spec: BatchSpec | null = null;
  // Requests are handled one at a time, in arrival order (the loader balances across workers).
  let chain: Promise<void> = Promise.resolve();
  self.onmessage = (ev: MessageEvent<WorkerRequest>) => {
    const m = ev.data;
    chain = chain.then(async () => {
      if (m.kind === "init") {
        try {
          ds = await openDataset(m.dataset);
          spec = m.spec;
          self.postMessage({ kind: "ready" } satisfies WorkerReply);
        } catch (e) {
          self.postMessage({ kind: "init-error", error: errInfo(e) } satisfies WorkerReply);
        }
        return;
      }
      try {
        const batch = await buildBatch(ds!, m.indices, m.epoch, spec!);
        const transfer: Transferable[] = [
          batch.images.buffer as ArrayBuffer,
          batch.labels.buffer as ArrayBuffer,
        ];
        if (batch.augImages) transfer.push(batch.augImages.buffer as ArrayBuffer);
        self.postMessage({ kind: "batch", id: m.id, batch } satisfies WorkerReply, transfer);
      } catch (e) {
        self.postMessage({ kind: "error", id: m.id, error: errInfo(e) } satisfies WorkerReply);
      }
    });
  };
}

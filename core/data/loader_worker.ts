/**
 * Web Worker body of the data loader (core/data/loader.ts): reopens each registered dataset from its spec
 * (once per dataset, shared by the recipes that use it), then builds requested batches (core/data/batch.ts)
 * and transfers the buffers back.
 * @module
 */
/// <reference lib="deno.worker" />
import { type Batch, type BatchSpec, buildBatch } from "./batch.ts";
import { type DatasetOptions, type SegDataset } from "../../datasets/dataset.ts";
import { openDataset } from "../../datasets/registry.ts";

/** Messages to the worker. */
export type WorkerRequest =
  | { kind: "init"; key: string; dataset: DatasetOptions; spec: BatchSpec }
  | { kind: "batch"; id: number; key: string; epoch: number; indices: number[] };

/** Messages from the worker. */
export type WorkerReply =
  | { kind: "ready"; key: string }
  | { kind: "init-error"; key: string; error: { name: string; message: string; userFacing?: boolean } }
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
  const datasets = new Map<string, Promise<SegDataset>>();
  const recipes = new Map<string, { ds: SegDataset; spec: BatchSpec }>();
  // Requests are handled one at a time, in arrival order (the loader balances across workers).
  let chain: Promise<void> = Promise.resolve();
  self.onmessage = (ev: MessageEvent<WorkerRequest>) => {
    const m = ev.data;
    chain = chain.then(async () => {
      if (m.kind === "init") {
        try {
          const dkey = JSON.stringify(m.dataset);
          let ds = datasets.get(dkey);
          if (!ds) datasets.set(dkey, ds = openDataset(m.dataset));
          recipes.set(m.key, { ds: await ds, spec: m.spec });
          self.postMessage({ kind: "ready", key: m.key } satisfies WorkerReply);
        } catch (e) {
          self.postMessage({ kind: "init-error", key: m.key, error: errInfo(e) } satisfies WorkerReply);
        }
        return;
      }
      try {
        const r = recipes.get(m.key);
        if (!r) throw new Error(`loader worker: batch for unregistered recipe`);
        const batch = await buildBatch(r.ds, m.indices, m.epoch, r.spec);
        const transfer: Transferable[] = [
          batch.images.buffer as ArrayBuffer,
          batch.labels.buffer as ArrayBuffer,
          batch.rgb.buffer as ArrayBuffer,
        ];
        if (batch.augImages) transfer.push(batch.augImages.buffer as ArrayBuffer);
        self.postMessage({ kind: "batch", id: m.id, batch } satisfies WorkerReply, transfer);
      } catch (e) {
        self.postMessage({ kind: "error", id: m.id, error: errInfo(e) } satisfies WorkerReply);
      }
    });
  };
}

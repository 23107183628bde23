/**
 * The training/eval data loader (hp-method.md §3.1: shuffle, batch, drop_last; decoding and augmentation
 * off the main thread so the GPU never waits).
 *
 * - Order: epoch e's permutation comes from Rng(hash(seed, e)); batch b holds positions [bB, (b+1)B).
 *   Content of a sample depends only on (seed, epoch, dataset index), so batches are identical for any
 *   worker count, and `epoch(e, startBatch)` resumes mid-epoch exactly.
 * - Workers: each Web Worker reopens the dataset from `ds.spec` (datasets/dataset.ts) and builds whole
 *   batches (core/data/batch.ts); results come back as transferred buffers. Up to `prefetch` batches are in
 *   flight. Datasets without a `spec` (in-memory test datasets) are processed in-process. Workers start
 *   with the first batch and stop at `close()`; `train`'s default count is {@link defaultLoaderWorkers}.
 * - Works inside a Worker too (Deno allows nested Workers), so the trainer may run in one.
 * @module
 */
import { InputError } from "../errors.ts";
import { hash32, Rng } from "../rng.ts";
import type { AugMode } from "./augment.ts";
import { type Batch, type BatchSpec, buildBatch } from "./batch.ts";
import type { DatasetOptions, SegDataset } from "../../datasets/dataset.ts";
import type { WorkerReply, WorkerRequest } from "./loader_worker.ts";

export type { Batch } from "./batch.ts";

/** Most loader Workers {@link defaultLoaderWorkers} picks: JPEG decode + augmentation of a 224 batch keeps
 * up with a GPU step with a few threads, and each Worker holds its own copy of the decoder. */
export const MAX_DEFAULT_LOADER_WORKERS = 4;

/**
 * The loader Worker count `train` uses when dataset.workers is auto and `--workers` is not given (decoding and
 * augmentation off the trainer's thread with prefetch, so the GPU does not wait):
 * - `synthetic` → 0: scenes are generated on the fly in about a millisecond each, cheaper than a Worker
 *   round trip, and the embedded default stays exactly as fast and deterministic as before;
 * - any other dataset → min(cores − 1, 4), at least 1 (one core stays with the trainer's thread).
 * Batches do not depend on the count (module comment), so this changes speed only, never results.
 */
export function defaultLoaderWorkers(
  dataset: string,
  cores: number = navigator.hardwareConcurrency ?? 1,
): number {
  if (dataset === "synthetic") return 0;
  return Math.max(1, Math.min(cores - 1, MAX_DEFAULT_LOADER_WORKERS));
}

/** Options of {@link Loader}. */
export interface LoaderOptions {
  batch: number;
  /** Output side S (images are resized shorter side → S, nearest, then centre-cropped). */
  size: number;
  seed: number;
  /** Web Workers of this loader's own (default 0 = in-process); ignored when `pool` is given. */
  workers?: number;
  /** Workers shared with other loaders (the run's training, pool and validation loaders); not closed here. */
  pool?: LoaderWorkers;
  /** Build `augImages` (default false). */
  augment?: boolean;
  /** Default "reference" (hp-method.md §3.3 quirk). */
  augMode?: AugMode;
  /** With `augment`: give each batch's augmentation draws (`augParams`) instead of `augImages`. */
  augOnGpu?: boolean;
  /** Drop the last partial batch (default true, as the reference training loader). */
  dropLast?: boolean;
  /** Shuffle every epoch (default true). */
  shuffle?: boolean;
  /** Read only these dataset indices, in this order, every epoch (no shuffle). */
  indices?: readonly number[];
  /** Batches in flight (default max(2, 2·workers)). */
  prefetch?: number;
}

interface Pending {
  resolve: (b: Batch) => void;
  reject: (e: Error) => void;
}

/**
 * Loader Web Workers (core/data/loader_worker.ts) that several loaders can share: each loader registers
 * its dataset and batch recipe once ({@link register}) and sends batch requests tagged with the key it got.
 * Workers start at the first registration and stop at {@link close}.
 */
export class LoaderWorkers {
  #workers: Worker[] = [];
  #load: number[] = [];
  #pending = new Map<number, Pending>();
  #inits = new Map<string, { resolve: () => void; reject: (e: Error) => void; left: number }>();
  #keys = new Map<string, Promise<string>>();
  #nextId = 0;
  #closed = false;

  constructor(readonly count: number) {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`LoaderWorkers: count ${count} < 1`);
  }

  #start(): void {
    for (let k = 0; k < this.count; k++) {
      const w = new Worker(new URL("./loader_worker.ts", import.meta.url), { type: "module" });
      this.#workers.push(w);
      this.#load.push(0);
      w.onmessage = (ev: MessageEvent<WorkerReply>) => this.#onReply(ev.data);
      w.onerror = (ev) => {
        ev.preventDefault();
        this.#failAll(new Error(`Loader worker failed: ${ev.message}`));
      };
    }
  }

  #failAll(err: Error): void {
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    for (const i of this.#inits.values()) i.reject(err);
    this.#inits.clear();
  }

  /** Opens `dataset` with batch recipe `spec` in every worker (once per pair); resolves to the request key. */
  register(dataset: DatasetOptions, spec: BatchSpec): Promise<string> {
    if (this.#closed) return Promise.reject(new Error("Loader is closed"));
    const key = JSON.stringify([dataset, spec]);
    let ready = this.#keys.get(key);
    if (!ready) {
      if (this.#workers.length === 0) this.#start();
      ready = new Promise<string>((resolve, reject) => {
        this.#inits.set(key, { resolve: () => resolve(key), reject, left: this.#workers.length });
      });
      ready.catch(() => {});
      const init: WorkerRequest = { kind: "init", key, dataset, spec };
      for (const w of this.#workers) w.postMessage(init);
      this.#keys.set(key, ready);
    }
    return ready;
  }

  /** Builds one batch of the registered `key` on the least loaded worker. */
  run(key: string, epoch: number, indices: number[]): Promise<Batch> {
    if (this.#closed) return Promise.reject(new Error("Loader is closed"));
    let w = 0;
    for (let k = 1; k < this.#workers.length; k++) if (this.#load[k] < this.#load[w]) w = k;
    const id = this.#nextId++;
    this.#load[w]++;
    const req: WorkerRequest = { kind: "batch", id, key, epoch, indices };
    return new Promise<Batch>((resolve, reject) => {
      this.#pending.set(id, {
        resolve: (b) => {
          this.#load[w]--;
          resolve(b);
        },
        reject: (err) => {
          this.#load[w]--;
          reject(err);
        },
      });
      this.#workers[w].postMessage(req);
    });
  }

  #onReply(m: WorkerReply) {
    if (m.kind === "ready" || m.kind === "init-error") {
      const i = this.#inits.get(m.key);
      if (!i) return;
      if (m.kind === "init-error") {
        this.#inits.delete(m.key);
        i.reject(toError(m.error));
      } else if (--i.left === 0) {
        this.#inits.delete(m.key);
        i.resolve();
      }
      return;
    }
    const p = this.#pending.get(m.id);
    if (!p) return;
    this.#pending.delete(m.id);
    if (m.kind === "error") p.reject(toError(m.error));
    else p.resolve(m.batch);
  }

  /** Stops the workers; pending batches are rejected. */
  close(): void {
    this.#closed = true;
    for (const w of this.#workers) w.terminate();
    this.#workers = [];
    this.#failAll(new Error("Loader closed"));
  }
}

/** Batches of a dataset; see the module comment. */
export class Loader {
  readonly batchesPerEpoch: number;
  readonly #ds: SegDataset;
  readonly #opts: Required<Omit<LoaderOptions, "pool" | "indices">> & { indices?: number[] };
  readonly #spec: BatchSpec;
  readonly #pool: LoaderWorkers | null;
  readonly #ownPool: boolean;
  #closed = false;

  constructor(ds: SegDataset, opts: LoaderOptions) {
    if (!(opts.batch >= 1) || !(opts.size >= 1)) {
      throw new RangeError(`Loader: batch and size must be ≥ 1, got ${opts.batch} and ${opts.size}`);
    }
    if (opts.augMode !== undefined && opts.augMode !== "reference" && opts.augMode !== "clean") {
      throw new RangeError(`Loader: augMode must be "reference" or "clean", got "${opts.augMode}"`);
    }
    const own = ds.spec && !opts.pool ? Math.max(0, Math.floor(opts.workers ?? 0)) : 0;
    this.#pool = ds.spec ? (opts.pool ?? (own > 0 ? new LoaderWorkers(own) : null)) : null;
    this.#ownPool = this.#pool !== null && !opts.pool;
    const workers = this.#pool?.count ?? 0;
    if (opts.indices) {
      for (const i of opts.indices) {
        if (!Number.isInteger(i) || i < 0 || i >= ds.length) {
          throw new RangeError(`Loader: index ${i} outside the dataset's ${ds.length} samples`);
        }
      }
    }
    // `??` per field: callers often pass `undefined` for "default" (config values), which a spread would keep.
    this.#opts = {
      batch: opts.batch,
      size: opts.size,
      seed: opts.seed,
      workers,
      augment: opts.augment ?? false,
      augMode: opts.augMode ?? "reference",
      augOnGpu: opts.augOnGpu ?? false,
      dropLast: opts.dropLast ?? true,
      shuffle: opts.shuffle ?? true,
      indices: opts.indices?.slice(),
      prefetch: Math.max(1, Math.floor(opts.prefetch ?? Math.max(2, 2 * workers))),
    };
    this.#ds = ds;
    this.#spec = {
      size: opts.size,
      seed: opts.seed,
      augment: this.#opts.augment,
      augMode: this.#opts.augMode,
      augOnGpu: this.#opts.augOnGpu,
    };
    const n = this.#opts.indices?.length ?? ds.length, B = opts.batch;
    this.batchesPerEpoch = this.#opts.dropLast ? Math.floor(n / B) : Math.ceil(n / B);
    // Workers start at the first batch, so a loader that is built but never read (a run that fails while
    // setting up) leaves no threads behind.
  }

  /** The dataset order of epoch `e` (a permutation of 0..length-1, or the given `indices`). */
  order(e: number): number[] {
    if (this.#opts.indices) return this.#opts.indices.slice();
    const idx = Array.from({ length: this.#ds.length }, (_, i) => i);
    if (this.#opts.shuffle) new Rng(hash32(hash32(this.#opts.seed ^ 0x5348554, 0x9e37), e)).shuffle(idx);
    return idx;
  }

  /** The dataset indices of batch `b` of epoch `e`. */
  batchIndices(e: number, b: number, order = this.order(e)): number[] {
    const B = this.#opts.batch;
    return order.slice(b * B, Math.min(order.length, (b + 1) * B));
  }

  /** Yields the batches of epoch `e`, starting at batch `startBatch` (resume). */
  async *epoch(e: number, startBatch = 0): AsyncIterable<Batch> {
    if (this.#closed) throw new Error("Loader is closed");
    const order = this.order(e);
    const nb = this.batchesPerEpoch;
    const inflight = new Map<number, Promise<Batch>>();
    let next = Math.max(0, startBatch);
    const launch = () => {
      while (next < nb && inflight.size < this.#opts.prefetch) {
        const p = this.#run(e, this.batchIndices(e, next, order));
        p.catch(() => {}); // observed when awaited below; avoid unhandled rejections of abandoned ones
        inflight.set(next, p);
        next++;
      }
    };
    for (let b = Math.max(0, startBatch); b < nb; b++) {
      launch();
      const batch = await inflight.get(b)!;
      inflight.delete(b);
      launch();
      yield batch;
    }
  }

  /** Builds one batch now (in-process or on a worker). */
  async #run(e: number, indices: number[]): Promise<Batch> {
    if (!this.#pool) return await buildBatch(this.#ds, indices, e, this.#spec);
    if (this.#closed) throw new Error("Loader is closed");
    const key = await this.#pool.register(this.#ds.spec!, this.#spec);
    return await this.#pool.run(key, e, indices);
  }

  /** Stops its own workers (a shared pool is left to its owner). */
  close(): void {
    this.#closed = true;
    if (this.#ownPool) this.#pool!.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Rebuilds an error sent from a worker, keeping user-facing InputErrors user-facing. */
function toError(e: { name: string; message: string; userFacing?: boolean }): Error {
  if (e.name === "InputError" || e.name === "DecodeError" || e.userFacing) return new InputError(e.message);
  const err = new Error(e.message);
  err.name = e.name;
  return err;
}

/**
 * A pool of Web Workers running the dense CRF (crf.ts) on whole images in parallel, for eval and predict
 * (hp-method.md §8.5). Jobs are queued; each worker takes the next one when it finishes.
 * @module
 */
import { HP_CRF } from "./crf.ts";
import type { CrfJob } from "./crf_worker.ts";

interface Pending {
  job: CrfJob;
  resolve: (labels: Uint8Array) => void;
  reject: (err: Error) => void;
}

/** Runs `denseCrf` + argmax in `size` workers. Call {@link CrfPool.close} when done. */
export class CrfPool {
  readonly #workers: Worker[] = [];
  readonly #idle: Worker[] = [];
  readonly #queue: Pending[] = [];
  readonly #running = new Map<Worker, Pending>();
  #nextId = 0;
  #closed = false;

  /** @param size number of workers (default: hardware threads, at most 8) */
  constructor(size = Math.min(8, Math.max(1, navigator.hardwareConcurrency ?? 1))) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL("./crf_worker.ts", import.meta.url).href, { type: "module" });
      w.onmessage = (e) => this.#done(w, e.data);
      w.onerror = (e) => {
        e.preventDefault();
        this.#done(w, { error: e.message });
      };
      this.#workers.push(w);
      this.#idle.push(w);
    }
  }

  get size(): number {
    return this.#workers.length;
  }

  /**
   * Refines one image; resolves with argmax labels [H·W].
   * @param probs class probabilities [H·W, C] (transferred to the worker: do not reuse)
   * @param rgb RGB uint8 [H·W, 3] (transferred)
   */
  refine(
    probs: Float32Array,
    rgb: Uint8Array,
    H: number,
    W: number,
    C: number,
    params = HP_CRF,
  ): Promise<Uint8Array> {
    if (this.#closed) return Promise.reject(new Error("CrfPool: already closed"));
    return new Promise((resolve, reject) => {
      this.#queue.push({ job: { id: this.#nextId++, probs, rgb, H, W, C, params }, resolve, reject });
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#idle.length && this.#queue.length) {
      const w = this.#idle.pop()!, p = this.#queue.shift()!;
      this.#running.set(w, p);
      w.postMessage(p.job, [p.job.probs.buffer as ArrayBuffer, p.job.rgb.buffer as ArrayBuffer]);
    }
  }

  #done(w: Worker, msg: { labels?: Uint8Array; error?: string }): void {
    const p = this.#running.get(w);
    this.#running.delete(w);
    this.#idle.push(w);
    if (p) {
      if (msg.labels) p.resolve(msg.labels);
      else p.reject(new Error(`CRF worker failed: ${msg.error}`));
    }
    this.#pump();
  }

  /** Terminates all workers; pending jobs are rejected. */
  close(): void {
    this.#closed = true;
    for (const p of this.#queue.splice(0)) p.reject(new Error("CrfPool: closed"));
    for (const p of this.#running.values()) p.reject(new Error("CrfPool: closed"));
    this.#running.clear();
    for (const w of this.#workers) w.terminate();
  }
}

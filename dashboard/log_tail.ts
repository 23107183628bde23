/**
 * Incremental reading of an append-only run log (`<runDir>/metrics.jsonl`, core/telemetry.ts RunLog): a
 * {@link LogTail} remembers how many bytes it has consumed and on each call reads only what was appended
 * since, in bounded chunks, returning complete lines. A torn last line (a crash mid-append, or a write in
 * progress) stays unconsumed until its newline arrives; RunLog starts the next message on a fresh line, so
 * a torn line then parses as garbage and is skipped by the consumer. A log that shrank was replaced: the
 * tail starts over and says so.
 *
 * This is what keeps `/api/runs` and history requests cheap on long runs (issue 14 §8): a 14 MB log is
 * read once, then only its new lines.
 * @module
 */

/** Bytes read per chunk (a long log is never held as one string). */
const CHUNK = 4 << 20;

/** New lines of a log; `restarted` when the file shrank and the lines start from its beginning again. */
export interface TailRead {
  lines: string[];
  restarted: boolean;
  /** Bytes consumed so far (the offset of the first byte not yet returned as part of a line). */
  offset: number;
}

/** Incremental line reader of one append-only file; see the module comment. */
export class LogTail {
  #offset: number;
  #dec = new TextDecoder();

  /** @param offset bytes already consumed (e.g. from a saved summary) */
  constructor(readonly path: string, offset = 0) {
    this.#offset = offset;
  }

  /** Bytes consumed so far. */
  get offset(): number {
    return this.#offset;
  }

  /** Reads the lines appended since the last call (synchronously; a missing file has none). */
  readSync(): TailRead {
    const blocks: Uint8Array[] = [];
    const r = this.#scanSync((b) => blocks.push(b));
    return { lines: this.#lines(blocks), restarted: r.restarted, offset: this.#offset };
  }

  /**
   * Like {@link readSync}, yielding to the event loop between chunks so other requests are served while a
   * long log is read for the first time.
   */
  async read(): Promise<TailRead> {
    const blocks: Uint8Array[] = [];
    const r = await this.readBlocks((b) => blocks.push(b));
    return { lines: this.#lines(blocks), restarted: r.restarted, offset: this.#offset };
  }

  /**
   * The appended bytes as blocks of complete lines (each block ends with a newline), without decoding them,
   * yielding to the event loop between chunks. `restarted` when the file shrank.
   */
  async readBlocks(
    onBlock: (bytes: Uint8Array) => void,
    onRestart?: () => void,
  ): Promise<{ restarted: boolean }> {
    const scan = this.#scan(onBlock, onRestart);
    for (let step = scan.next();; step = scan.next()) {
      if (step.done) return step.value;
      await new Promise((r) => setTimeout(r, 0));
    }
  }

  #scanSync(onBlock: (bytes: Uint8Array) => void): { restarted: boolean } {
    const scan = this.#scan(onBlock);
    for (let step = scan.next();; step = scan.next()) if (step.done) return step.value;
  }

  /**
   * The appended bytes chunk by chunk (complete lines to `onBlock`); pauses (yields) between chunks, where
   * {@link readBlocks} lets the event loop run and {@link readSync} goes straight on.
   */
  *#scan(
    onBlock: (bytes: Uint8Array) => void,
    onRestart?: () => void,
  ): Generator<void, { restarted: boolean }> {
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(this.path, { read: true });
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return { restarted: false };
      throw err;
    }
    try {
      const size = file.statSync().size;
      let restarted = false;
      if (size < this.#offset) {
        this.#offset = 0;
        restarted = true;
        onRestart?.();
      }
      let carry: Uint8Array | null = null;
      for (let at = this.#offset; at < size;) {
        // Synchronous reads into one buffer are several times faster than Deno's async reads here; the
        // pause between chunks keeps the server responsive.
        const got = readAt(file, at, Math.min(CHUNK, size - at));
        if (got.length === 0) break;
        carry = this.#split(got, at, carry, onBlock);
        at += got.length;
        if (at < size) yield;
      }
      return { restarted };
    } finally {
      file.close();
    }
  }

  /**
   * Hands the complete lines of `carry` + `bytes` (read at file offset `at`) to `onBlock`, advances the
   * offset past them, and returns the incomplete rest.
   */
  #split(
    bytes: Uint8Array,
    at: number,
    carry: Uint8Array | null,
    onBlock: (b: Uint8Array) => void,
  ): Uint8Array | null {
    let all = bytes;
    if (carry) {
      all = new Uint8Array(carry.length + bytes.length);
      all.set(carry);
      all.set(bytes, carry.length);
    }
    const end = all.lastIndexOf(0x0a);
    if (end < 0) return all;
    onBlock(all.subarray(0, end + 1));
    this.#offset = at + bytes.length - (all.length - end - 1);
    return end + 1 < all.length ? all.subarray(end + 1) : null;
  }

  #lines(blocks: Uint8Array[]): string[] {
    const lines: string[] = [];
    for (const b of blocks) {
      for (const line of this.#dec.decode(b).split("\n")) if (line.length > 0) lines.push(line);
    }
    return lines;
  }
}

/** Reads up to `n` bytes of `file` at offset `at` (fewer at the end of the file). */
function readAt(file: Deno.FsFile, at: number, n: number): Uint8Array {
  const buf = new Uint8Array(n);
  file.seekSync(at, Deno.SeekMode.Start);
  let got = 0;
  while (got < n) {
    const k = file.readSync(buf.subarray(got));
    if (k === null || k === 0) break;
    got += k;
  }
  return buf.subarray(0, got);
}

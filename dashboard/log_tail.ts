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
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(this.path, { read: true });
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return { lines: [], restarted: false, offset: this.#offset };
      throw err;
    }
    try {
      const size = file.statSync().size;
      return this.#consume(size, (buf, at) => {
        file.seekSync(at, Deno.SeekMode.Start);
        let got = 0;
        while (got < buf.length) {
          const n = file.readSync(buf.subarray(got));
          if (n === null || n === 0) break;
          got += n;
        }
        return got;
      });
    } finally {
      file.close();
    }
  }

  /** Like {@link readSync} with asynchronous file reads (other requests are served meanwhile). */
  async read(): Promise<TailRead> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(this.path, { read: true });
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return { lines: [], restarted: false, offset: this.#offset };
      throw err;
    }
    try {
      const size = (await file.stat()).size;
      const chunks: Array<{ at: number; bytes: Uint8Array }> = [];
      const start = size < this.#offset ? 0 : this.#offset;
      for (let at = start; at < size; at += CHUNK) {
        const buf = new Uint8Array(Math.min(CHUNK, size - at));
        await file.seek(at, Deno.SeekMode.Start);
        let got = 0;
        while (got < buf.length) {
          const n = await file.read(buf.subarray(got));
          if (n === null || n === 0) break;
          got += n;
        }
        chunks.push({ at, bytes: buf.subarray(0, got) });
        if (got < buf.length) break;
      }
      let k = 0;
      return this.#consume(size, (buf, at) => {
        const c = chunks[k++];
        if (!c || c.at !== at) return 0;
        buf.set(c.bytes.subarray(0, buf.length));
        return Math.min(buf.length, c.bytes.length);
      });
    } finally {
      file.close();
    }
  }

  /** Splits the bytes from the offset to `size` into complete lines; `readAt` fills a chunk buffer. */
  #consume(size: number, readAt: (buf: Uint8Array, at: number) => number): TailRead {
    let restarted = false;
    if (size < this.#offset) {
      this.#offset = 0;
      restarted = true;
    }
    const lines: string[] = [];
    let at = this.#offset;
    let carry: Uint8Array | null = null; // an incomplete line from the previous chunk
    while (at < size) {
      const want = Math.min(CHUNK, size - at);
      const buf = new Uint8Array(want);
      const got = readAt(buf, at);
      if (got <= 0) break;
      let bytes = buf.subarray(0, got);
      if (carry) {
        const joined = new Uint8Array(carry.length + bytes.length);
        joined.set(carry);
        joined.set(bytes, carry.length);
        bytes = joined;
      }
      const end = bytes.lastIndexOf(0x0a);
      if (end < 0) {
        carry = bytes;
      } else {
        for (const line of this.#dec.decode(bytes.subarray(0, end)).split("\n")) {
          if (line.length > 0) lines.push(line);
        }
        this.#offset = at + got - (bytes.length - end - 1);
        carry = end + 1 < bytes.length ? bytes.subarray(end + 1) : null;
      }
      at += got;
      if (got < want) break;
    }
    return { lines, restarted, offset: this.#offset };
  }
}

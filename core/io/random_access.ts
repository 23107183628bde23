/**
 * Random-access reads from a file on disk, for the checkpoint readers (safetensors.ts, pth.ts).
 *
 * Checkpoints can be hundreds of MB (ViT-B f32 is 343 MB, a DINO full checkpoint ~1.7 GB), so the readers
 * keep one file handle and read each tensor's byte range only when asked (dino-backbone.md §3.5). A short
 * read is reported as truncation naming the file, never retried forever.
 * @module
 */
import { InputError } from "../errors.ts";

/** A read-only file handle with positioned, exact-length reads. */
export class RandomAccessFile {
  #file: Deno.FsFile | null;
  /** File size in bytes at open time. */
  readonly size: number;

  private constructor(readonly path: string, file: Deno.FsFile, size: number) {
    this.#file = file;
    this.size = size;
  }

  /** Opens `path`; a missing or unreadable file raises an InputError naming it. */
  static open(path: string, what = "file"): RandomAccessFile {
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(path, { read: true });
    } catch (err) {
      const why = err instanceof Deno.errors.NotFound ? "no such file" : (err as Error).message;
      throw new InputError(`Cannot open ${what} ${path}: ${why}`, { cause: err });
    }
    const info = file.statSync();
    if (!info.isFile) {
      file.close();
      throw new InputError(`Cannot open ${what} ${path}: not a regular file`);
    }
    return new RandomAccessFile(path, file, info.size);
  }

  /**
   * Reads exactly `length` bytes at `offset` into a fresh buffer (so typed-array views on it are aligned).
   * @throws InputError when the range runs past the end of the file.
   */
  read(offset: number, length: number, what = "data"): Uint8Array {
    if (!this.#file) throw new Error(`read from closed file ${this.path}`);
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw new InputError(
        `Cannot read ${this.path}: file is truncated (${what} needs bytes ${offset}..${offset + length}, ` +
          `file has ${this.size})`,
      );
    }
    const out = new Uint8Array(length);
    this.#file.seekSync(offset, Deno.SeekMode.Start);
    let got = 0;
    while (got < length) {
      const n = this.#file.readSync(out.subarray(got));
      if (n === null || n === 0) {
        throw new InputError(
          `Cannot read ${this.path}: file is truncated (short read of ${what} at ${offset + got})`,
        );
      }
      got += n;
    }
    return out;
  }

  /** Closes the handle; further reads throw. Safe to call twice. */
  close(): void {
    if (this.#file) {
      this.#file.close();
      this.#file = null;
    }
  }
}

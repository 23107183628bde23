/**
 * Atomic file writes: write to a temporary file beside the target, then rename over it, so a crash
 * leaves either the old file or the new one — never a half-written one. A failure (disk full, no
 * permission, a missing folder) is an InputError naming the target, e.g.
 * `Cannot write runs/x/checkpoints/last.safetensors: No space left on device (os error 28)`.
 * @module
 */
import { InputError, isOsError } from "../errors.ts";

function tempPath(path: string): string {
  return `${path}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
}

/** Writes `data` to `path` atomically (temp file + fsync + rename). */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = tempPath(path);
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  try {
    const f = await Deno.open(tmp, { write: true, create: true, truncate: true });
    try {
      let off = 0;
      while (off < bytes.length) off += await f.write(bytes.subarray(off));
      await f.sync();
    } finally {
      f.close();
    }
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw writeError(path, err);
  }
}

/** The error to report for a failed write of `path`: OS errors gain the path (they do not name it). */
export function writeError(path: string, err: unknown): unknown {
  if (isOsError(err)) {
    return new InputError(`Cannot write ${path}: ${(err as Error).message}`, { cause: err });
  }
  return err;
}

/** Synchronous variant of {@link writeFileAtomic}. */
export function writeFileAtomicSync(path: string, data: Uint8Array | string): void {
  const tmp = tempPath(path);
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  try {
    Deno.writeFileSync(tmp, bytes);
    Deno.renameSync(tmp, path);
  } catch (err) {
    try {
      Deno.removeSync(tmp);
    } catch { /* already gone */ }
    throw writeError(path, err);
  }
}

/**
 * Errors meant for the user: main.ts prints their message as one line (no stack trace).
 *
 * Messages follow Deno std style: sentence case, no final period, name the file and the value, e.g.
 * `Cannot read checkpoint runs/a/model.safetensors: file is truncated (header says 812 bytes, found 90)`.
 * @module
 */

/** A bad command line (unknown flag, bad value): printed as one line plus a `--help` hint, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** A problem with the user's input (file, dataset, config, checkpoint). Printed as one line. */
export class InputError extends Error {
  override name = "InputError";
  readonly userFacing = true;
  /** Optional fix, printed as a second "hint:" line. */
  readonly hint?: string;
  constructor(message: string, options?: { hint?: string; cause?: unknown }) {
    super(options?.hint ? `${message}\nhint: ${options.hint}` : message, { cause: options?.cause });
    this.hint = options?.hint;
  }
}

/**
 * A size the user asked for (a flag, a config value, an image) is more than a kernel or the adapter
 * supports, e.g. a buffer over `maxStorageBufferBindingSize`. A RangeError (callers that test for one keep
 * working) that main.ts and the trainer Worker print as one line, like an {@link InputError}.
 */
export class LimitError extends RangeError {
  override name = "LimitError";
  readonly userFacing = true;
}

/**
 * An error from the operating system (no such file, permission denied, disk full, …). Deno maps some errno
 * values to `Deno.errors` classes and leaves others (ENOSPC: "No space left on device (os error 28)") as a
 * plain Error; both are the user's environment, reported as one line.
 */
export function isOsError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return Object.values(Deno.errors).some((c) => err instanceof c) || /\(os error \d+\)/.test(err.message);
}

/**
 * The user asked to stop (Ctrl-C) and a long phase (validation, pool building) gave up between two pieces
 * of GPU work; the caller saves what it can. Not an error to report.
 */
export class Interrupted extends Error {
  override name = "Interrupted";
}

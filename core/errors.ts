/**
 * Errors meant for the user: main.ts prints their message as one line (no stack trace).
 *
 * Messages follow Deno std style: sentence case, no final period, name the file and the value, e.g.
 * `Cannot read checkpoint runs/a/model.safetensors: file is truncated (header says 812 bytes, found 90)`.
 * @module
 */

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
 * The user asked to stop (Ctrl-C) and a long phase (validation, pool building) gave up between two pieces
 * of GPU work; the caller saves what it can. Not an error to report.
 */
export class Interrupted extends Error {
  override name = "Interrupted";
}

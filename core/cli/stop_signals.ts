/**
 * Signals that stop a long command cleanly: SIGINT (Ctrl-C), SIGTERM (kill, systemd,
 * docker stop, a batch scheduler's time limit) and SIGHUP (the terminal closed) all ask for a checkpoint and
 * a clean stop; a second signal of any of them aborts at once. Exit codes follow the shell's 128 + signal
 * number: 130, 143, 129.
 * @module
 */

const SIGNALS = [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]] as const;

/** The signals watched. */
export type StopSignal = typeof SIGNALS[number][0];

/** What {@link watchStopSignals} returns; disposing it removes the listeners. */
export interface StopSignals extends Disposable {
  /** The exit code for the first signal received (130 when none was). */
  readonly exitCode: number;
}

/**
 * Listens for SIGINT, SIGTERM and SIGHUP: the first calls `stop`, a later one calls `abort` with the exit
 * code. Signals the platform cannot watch (Windows has no SIGTERM/SIGHUP listeners) are skipped.
 */
export function watchStopSignals(
  handlers: { stop(sig: StopSignal, code: number): void; abort(sig: StopSignal, code: number): void },
): StopSignals {
  let count = 0, exitCode = 130;
  const listeners: Array<[StopSignal, () => void]> = [];
  for (const [sig, code] of SIGNALS) {
    const fn = () => {
      count++;
      if (count === 1) {
        exitCode = code;
        handlers.stop(sig, code);
      } else handlers.abort(sig, code);
    };
    try {
      Deno.addSignalListener(sig, fn);
      listeners.push([sig, fn]);
    } catch { /* not supported on this platform */ }
  }
  return {
    get exitCode() {
      return exitCode;
    },
    [Symbol.dispose]() {
      for (const [sig, fn] of listeners.splice(0)) Deno.removeSignalListener(sig, fn);
    },
  };
}

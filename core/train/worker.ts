/**
 * The trainer's Worker (webgpu-notes.md §1.9, §6; style.md §2.3): GPU readbacks block the thread that
 * awaits them, so training runs here and the main thread (core/cli/train.ts) keeps the dashboard server
 * and the terminal progress responsive. Protocol:
 *   main → worker  { kind: "start", ... }   once;   { kind: "stop" }   Ctrl-C: checkpoint and finish
 *   worker → main  telemetry messages and ticks (core/telemetry.ts, progress.ts TickMessage), then
 *                  { kind: "done", result }  or  { kind: "error", message, userFacing }
 * @module
 */
import { openGpu } from "../gpu/device.ts";
import type { HpConfig } from "../model/config_schema.ts";
import { runTraining, type TrainRunResult } from "./loop.ts";
import { loadCheckpoint } from "../model/checkpoint.ts";
import { isOsError } from "../errors.ts";

/** The start request. */
export interface StartRequest {
  kind: "start";
  config: HpConfig;
  runDir: string;
  runId: string;
  /** Resume from the run's newest checkpoint. */
  resume: boolean;
  /** The checkpoint to resume from (the main thread chose it: newest readable, or `--from-step`). */
  resumeCheckpoint?: string;
  maxSteps?: number;
  workers?: number;
  /** System memory in bytes (the main thread may read it; this Worker may not): a software adapter's limit. */
  memoryBytes?: number;
}

/** Messages the worker accepts. */
export type WorkerRequest = StartRequest | { kind: "stop" };

/** Final messages the worker sends. */
export type WorkerResult =
  | { kind: "done"; result: TrainRunResult }
  | { kind: "error"; message: string; userFacing: boolean; stack?: string };

// deno-lint-ignore no-explicit-any
const scope = self as any;
let stop = false;

scope.onmessage = async (ev: MessageEvent<WorkerRequest>) => {
  const req = ev.data;
  if (req.kind === "stop") {
    stop = true;
    return;
  }
  let gpu: Awaited<ReturnType<typeof openGpu>> | null = null;
  try {
    // The start-up line naming the adapter (stderr; the progress bar starts at the first step, after it).
    gpu = await openGpu();
    const resume = req.resume ? await loadCheckpoint(req.resumeCheckpoint!) : null;
    const result = await runTraining(gpu, {
      config: req.config,
      runDir: req.runDir,
      runId: req.runId,
      resume,
      resumePath: req.resumeCheckpoint,
      maxSteps: req.maxSteps,
      workers: req.workers,
      memoryBytes: gpu.isSoftware ? req.memoryBytes : undefined,
      post: (m) => scope.postMessage(m),
      shouldStop: () => stop,
    });
    // The device goes before the result: the main thread terminates this Worker and may exit the process as
    // soon as the result arrives, which must not catch the driver in the middle of tearing the device down.
    gpu.destroy();
    gpu = null;
    scope.postMessage({ kind: "done", result } satisfies WorkerResult);
  } catch (err) {
    gpu?.destroy();
    gpu = null;
    // The message alone (the main thread prints it as one line); the stack travels separately and is
    // printed only with HPSEG_DEBUG=1. OS errors (disk full, permissions) are the user's to fix: one line.
    const e: Error & { userFacing?: boolean } = err instanceof Error ? err : new Error(String(err));
    const os = isOsError(e);
    scope.postMessage(
      {
        kind: "error",
        message: e.userFacing || os ? e.message : `${e.name}: ${e.message}`,
        userFacing: e.userFacing === true || os,
        stack: e.stack,
      } satisfies WorkerResult,
    );
  }
};

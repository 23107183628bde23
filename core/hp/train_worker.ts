/**
 * The trainer's Worker (webgpu-notes.md §1.9, §6; style.md §2.3): GPU readbacks block the thread that
 * awaits them, so training runs here and the main thread (core/cli/train.ts) keeps the dashboard server
 * and the terminal progress responsive. Protocol:
 *   main → worker  { kind: "start", ... }   once;   { kind: "stop" }   Ctrl-C: checkpoint and finish
 *   worker → main  telemetry messages and ticks (core/telemetry.ts, TickMessage), then
 *                  { kind: "done", result }  or  { kind: "error", message, userFacing }
 * @module
 */
import { openGpu } from "../gpu/device.ts";
import type { HpConfig } from "./config.ts";
import { runTraining, type TrainRunResult } from "./train_loop.ts";
import { findResumePoint } from "./run_dir.ts";

/** The start request. */
export interface StartRequest {
  kind: "start";
  config: HpConfig;
  runDir: string;
  runId: string;
  /** Resume from the run's newest checkpoint. */
  resume: boolean;
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
  | { kind: "error"; message: string; userFacing: boolean };

// deno-lint-ignore no-explicit-any
const scope = self as any;
let stop = false;

scope.onmessage = async (ev: MessageEvent<WorkerRequest>) => {
  const req = ev.data;
  if (req.kind === "stop") {
    stop = true;
    return;
  }
  try {
    // The start-up line naming the adapter (stderr; the progress bar starts at the first step, after it).
    const gpu = await openGpu();
    const resume = req.resume ? (await findResumePoint(req.runDir)).state : null;
    const result = await runTraining(gpu, {
      config: req.config,
      runDir: req.runDir,
      runId: req.runId,
      resume,
      maxSteps: req.maxSteps,
      workers: req.workers,
      memoryBytes: gpu.isSoftware ? req.memoryBytes : undefined,
      post: (m) => scope.postMessage(m),
      shouldStop: () => stop,
    });
    scope.postMessage({ kind: "done", result } satisfies WorkerResult);
    gpu.destroy();
  } catch (err) {
    const e = err as Error & { userFacing?: boolean };
    scope.postMessage(
      {
        kind: "error",
        message: e.userFacing ? e.message : `${e.name}: ${e.message}\n${e.stack ?? ""}`,
        userFacing: e.userFacing === true,
      } satisfies WorkerResult,
    );
  }
};

/**
 * Test helper: a tiny REAL training run behind the dashboard, wired the way `hpseg train` (core/cli/train.ts)
 * wires it: the trainer Worker (core/train/worker.ts) trains on a small synthetic config
 * (`loadConfig("synthetic", …)`) and posts telemetry; the main thread publishes it to the dashboard, which logs
 * it to the run's metrics.jsonl and streams it over /events. Ticks carry the trainer thread's clock, so tests
 * can measure the real step rate.
 * @module
 */
import { type DashboardHandle, isTelemetryMessage, type TelemetryMessage } from "../../core/telemetry.ts";
import { startDashboard } from "../../dashboard/server.ts";
import { loadConfig } from "../../core/model/config.ts";
import { createRunDir } from "../../core/train/run_dir.ts";
import type { StartRequest, WorkerResult } from "../../core/train/worker.ts";
import type { TrainRunResult } from "../../core/train/loop.ts";
import type { TickMessage } from "../../core/train/progress.ts";
import { TrainView } from "../../core/cli/train_view.ts";

/**
 * A tiny synthetic run: 32 px scenes (4×4 patches of the embedded backbone), batch 4 (N = 64), 8 batches per
 * epoch, pool 8, no pool renewal, metrics read back every step. On lavapipe a step takes ~0.1–0.2 s.
 */
export const TINY_RUN = [
  "dataset.image_size=32",
  "dataset.train_count=32",
  "dataset.val_count=8",
  "train.res=32",
  "train.batch=4",
  "eval.res=32",
  "eval.batch=4",
  "hp.pool_size=8",
  "hp.renew_interval=1000",
  "hp.lambda_warmup=4",
  "train.log_every=1",
] as const;

/** A real training run with its dashboard. */
export interface RealRun {
  dash: DashboardHandle;
  runsDir: string;
  runDir: string;
  runId: string;
  /** Sends the start request (tests connect pages or clients first). */
  start(): void;
  /** The trainer's result; rejects with the worker's error. */
  done: Promise<TrainRunResult>;
  /** stepAt[s] = trainer-thread time (ms) at which step s was done; filled as ticks arrive. */
  stepAt: number[];
  /** Stops the worker and the server and removes the temporary folder. */
  close(): Promise<void>;
}

/**
 * Creates the run directory and its dashboard and spawns the trainer Worker (not started yet: call `start`).
 * @param overrides `--set` overrides after {@link TINY_RUN}
 * @param opts.route receives every telemetry message instead of the run's dashboard (e.g. to split them
 *   between dashboards); by default they are published to `dash`
 */
export async function startRealRun(
  overrides: readonly string[],
  opts: {
    token?: string;
    route?: (m: TelemetryMessage, dash: DashboardHandle) => void;
    /** Publish the progress stream as `hpseg train` does (core/cli/train_view.ts). */
    progress?: boolean;
  } = {},
): Promise<RealRun> {
  const config = loadConfig("synthetic", [...TINY_RUN, ...overrides]);
  const runsDir = await Deno.makeTempDir({ prefix: "hpseg_dash_" });
  const runId = `tiny-${crypto.randomUUID().slice(0, 8)}`;
  const runDir = await createRunDir(runsDir, runId, config);
  const dash = await startDashboard({ runsDir, runDir, port: 0, token: opts.token });
  const worker = new Worker(new URL("../../core/train/worker.ts", import.meta.url), { type: "module" });
  const stepAt: number[] = [];
  const deliver = (m: TelemetryMessage) => (opts.route ? opts.route(m, dash) : dash.publish(m));
  const view = opts.progress ? new TrainView(deliver) : null;
  const done = new Promise<TrainRunResult>((resolve, reject) => {
    worker.onmessage = (e: MessageEvent<TelemetryMessage | TickMessage | WorkerResult>) => {
      const m = e.data;
      if (isTelemetryMessage(m)) deliver(m);
      else if ("type" in m && m.type === "tick") {
        view?.onTick(m);
        if (m.at !== undefined && m.phase === "train") stepAt[m.step] = m.at;
      } else if ("kind" in m && m.kind === "done") resolve(m.result);
      else if ("kind" in m && m.kind === "error") reject(new Error(`trainer worker: ${m.message}`));
    };
    worker.onerror = (e) => {
      e.preventDefault();
      reject(new Error(`trainer worker: ${e.message}`));
    };
  });
  return {
    dash,
    runsDir,
    runDir,
    runId,
    stepAt,
    done,
    start() {
      const req: StartRequest = { kind: "start", config, runDir, runId, resume: false };
      worker.postMessage(req);
    },
    async close() {
      view?.done();
      worker.terminate();
      await dash.close();
      await Deno.remove(runsDir, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * Test helper: starts the dashboard for a fresh run folder and drives it with the fake trainer Worker, wired
 * the way the train command wires the real one (Worker posts telemetry → `publish` on the main thread).
 * @module
 */
import { type DashboardHandle, isTelemetryMessage, startDashboard } from "../../core/telemetry.ts";
import type { FakeDone, FakeRunConfig } from "./fake_trainer_worker.ts";

/** A running fake training run with its dashboard. */
export interface FakeRun {
  dash: DashboardHandle;
  runsDir: string;
  runDir: string;
  worker: Worker;
  /** Resolves with the worker's timing when it finishes. */
  done: Promise<FakeDone>;
  /** Lets a `waitForGo` run start stepping. */
  go(): void;
  /** Stops the worker and the server and removes the temporary folder. */
  close(): Promise<void>;
}

/** Starts a fake run. `publish: false` measures the worker alone (messages are dropped). */
export async function startFakeRun(
  cfg: Omit<FakeRunConfig, "runId" | "runDir">,
  opts: { publish?: boolean; token?: string; runsDir?: string } = {},
): Promise<FakeRun> {
  const runsDir = opts.runsDir ?? await Deno.makeTempDir({ prefix: "hpseg_dash_" });
  const runId = `fake-${crypto.randomUUID().slice(0, 8)}`;
  const runDir = `${runsDir}/${runId}`;
  const dash = await startDashboard({ runsDir, runDir, port: 0, token: opts.token });
  const worker = new Worker(new URL("./fake_trainer_worker.ts", import.meta.url), { type: "module" });
  const publish = opts.publish ?? true;
  const done = new Promise<FakeDone>((resolve, reject) => {
    worker.onmessage = (e) => {
      const m = e.data;
      if (isTelemetryMessage(m)) {
        if (publish) dash.publish(m);
      } else if (m?.kind === "fake-done") resolve(m as FakeDone);
    };
    worker.onerror = (e) => {
      e.preventDefault();
      reject(new Error(`fake trainer worker: ${e.message}`));
    };
  });
  worker.postMessage({ ...cfg, runId, runDir } satisfies FakeRunConfig);
  return {
    dash,
    runsDir,
    runDir,
    worker,
    done,
    go: () => worker.postMessage({ go: true }),
    async close() {
      worker.terminate();
      await dash.close();
      if (!opts.runsDir) await Deno.remove(runsDir, { recursive: true }).catch(() => {});
    },
  };
}

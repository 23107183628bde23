/**
 * core/telemetry.ts: the Worker-message sink used by the train command (dashboard or run log, progress bar,
 * eval lines) and the message guard.
 * @module
 */
import assert from "node:assert/strict";
import {
  createTelemetrySink,
  type EvalMessage,
  isTelemetryMessage,
  type MetricsMessage,
  readRunLog,
  RunLog,
  type TelemetryMessage,
} from "../../core/telemetry.ts";

const metrics: MetricsMessage = {
  type: "metrics",
  step: 7,
  epoch: 0,
  totalSteps: 10,
  losses: { ghp: 1, lhp: 2, reg: 3, lin: 4, clu: 5, total: 6 },
  lambda: 0.5,
  lr: 1e-3,
  positives: { ag: 1, sp: 2, lhp: 3 },
  thresholds: { ag: { p10: 0, p50: 0.5, p90: 1 }, sp: { p10: 0, p50: 0.5, p90: 1 } },
  imagesPerSec: 9,
  stepMs: 11,
};
const evalMsg: EvalMessage = {
  type: "eval",
  step: 10,
  metrics: { cluster_acc: 41.234, cluster_miou: 12.5, linear_acc: 55, linear_miou: NaN },
};

Deno.test("isTelemetryMessage accepts the four types only", () => {
  assert.ok(isTelemetryMessage(metrics) && isTelemetryMessage(evalMsg));
  for (const v of [null, 3, "metrics", {}, { type: "other" }, { kind: "fake-done" }]) {
    assert.ok(!isTelemetryMessage(v));
  }
});

Deno.test("createTelemetrySink: dashboard gets everything, progress gets metrics, eval and final status lines", () => {
  const published: TelemetryMessage[] = [];
  const updates: unknown[] = [];
  const lines: string[] = [];
  const sink = createTelemetrySink({
    dashboard: { publish: (m) => published.push(m) },
    progress: { update: (u) => updates.push(u), log: (l) => lines.push(l) },
  });
  const status: TelemetryMessage = { type: "status", state: "done", runId: "r", message: "10 steps" };
  const pic: TelemetryMessage = { type: "picture", step: 5, kind: "ghp", file: "pictures/ghp_0000005.png" };
  for (const m of [metrics, evalMsg, pic, status]) assert.equal(sink(m), true);
  assert.equal(sink({ kind: "checkpoint-saved" }), false, "foreign messages are left to the caller");
  assert.deepEqual(published, [metrics, evalMsg, pic, status]);
  assert.deepEqual(updates, [{ step: 7, losses: metrics.losses, imagesPerSec: 9, stepMs: 11 }]);
  assert.deepEqual(lines, [
    "eval @ step 10: cluster acc 41.23 mIoU 12.50 | linear acc 55.00 mIoU -",
    "done: 10 steps",
  ]);
});

Deno.test("createTelemetrySink without a dashboard still writes the run log", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hpseg_sink_" });
  try {
    const log = new RunLog(dir);
    const sink = createTelemetrySink({ log });
    sink(metrics);
    sink(evalMsg);
    log.close();
    const back = await readRunLog(dir);
    assert.deepEqual(back.map((m) => m.type), ["metrics", "eval"]);
    assert.ok(back.every((m) => typeof m.time === "number"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

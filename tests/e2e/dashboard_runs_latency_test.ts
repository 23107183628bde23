/**
 * `/api/runs` latency with 10 runs of 14 MB logs (issue 14 §8 acceptance: ≤ 300 ms; the implementation it
 * replaces re-parsed every whole log on every request, 2.3–2.7 s for this folder). The logs are generated
 * here: realistic metrics messages (with GPU pass times) plus statuses, evaluations and pictures, written
 * through RunLog like a trainer's.
 *
 * Measured over HTTP against a runs browser (`startDashboard({ readOnly })`), as the page polls it:
 * - a cold server over runs whose summaries a trainer's server saved (dashboard/runs_index.ts): best of 3
 *   fresh servers ≤ 300 ms;
 * - warm requests: median of 5 ≤ 300 ms, also right after 1 MB was appended to a log (only the new lines
 *   are read);
 * - a folder without saved summaries (runs from before them, or `--no-serve`): the first request reads the
 *   logs once (reported, not bounded), then the median of 5 ≤ 300 ms.
 * For scale, the same folder re-parsed the old way is timed once and reported.
 * @module
 */
import assert from "node:assert/strict";
import {
  compactHistory,
  type MetricsMessage,
  parseRunLog,
  RUN_LOG_FILE,
  RunLog,
} from "../../core/telemetry.ts";
import { startDashboard } from "../../dashboard/server.ts";
import { RunsIndex } from "../../dashboard/runs_index.ts";
import { SUMMARY_FILE } from "../../dashboard/run_summary.ts";

const RUNS = 10;
const LOG_BYTES = 14 << 20;
const LIMIT_MS = 300;

function metrics(step: number, total: number): MetricsMessage {
  const r = (k: number) => Math.abs(Math.sin(step * 0.37 + k)) * 10;
  return {
    type: "metrics",
    step,
    epoch: Math.floor(step / 500),
    totalSteps: total,
    losses: { ghp: r(1), lhp: r(2), reg: r(3) / 10, lin: r(4), clu: r(5), total: r(6) * 3 },
    lambda: step / total,
    lr: 5e-4,
    positives: { ag: r(7) * 30, sp: r(8) * 20, lhp: 1 + r(9) / 2 },
    thresholds: {
      ag: { p10: 0.1 + r(10) / 100, p50: 0.5 + r(11) / 100, p90: 0.8 + r(12) / 100 },
      sp: { p10: 0.2 + r(13) / 100, p50: 0.6 + r(14) / 100, p90: 0.85 + r(15) / 100 },
    },
    imagesPerSec: 30 + r(16),
    stepMs: 200 + r(17),
    gpuPassMs: {
      backbone: 120 + r(18),
      heads: r(19),
      loss: r(20),
      probes: r(21) / 10,
      backward: r(22),
      optimiser: 1,
    },
    etaSeconds: (total - step) * 0.2,
    time: 1_750_000_000_000 + step * 200,
  };
}

/** Writes one ~14 MB run log the way a trainer does. */
function writeLog(runDir: string): number {
  const log = new RunLog(runDir);
  const total = 1_000_000;
  log.append({ type: "status", state: "starting", runId: "x", config: { train: { batch: 64 } }, time: 1 });
  let step = 0, bytes = 0;
  while (bytes < LOG_BYTES) {
    step++;
    const { json } = log.appendJson(metrics(step, total));
    bytes += json.length + 1;
    if (step % 2000 === 0) {
      log.append({
        type: "eval",
        step,
        metrics: { cluster_acc: 50, cluster_miou: 20, linear_acc: 60, linear_miou: 25 },
      });
      log.append({ type: "picture", step, kind: "ghp", file: `pictures/ghp_${step}.png` });
    }
  }
  log.append({ type: "status", state: "done", runId: "x", message: "finished", time: 2 });
  log.close();
  return step;
}

async function timeGet(url: string): Promise<{ ms: number; body: { runs: { id: string; step: number }[] } }> {
  const t0 = performance.now();
  const res = await fetch(url);
  const body = await res.json();
  const ms = performance.now() - t0;
  assert.equal(res.status, 200);
  return { ms, body };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

Deno.test({
  name: `/api/runs with ${RUNS} runs of 14 MB logs answers within ${LIMIT_MS} ms`,
  sanitizeResources: false,
  async fn() {
    const runsDir = await Deno.makeTempDir({ prefix: "hpseg_latency_" });
    try {
      const steps = writeLog(`${runsDir}/run-00`);
      for (let i = 1; i < RUNS; i++) {
        await Deno.mkdir(`${runsDir}/run-${String(i).padStart(2, "0")}`);
        await Deno.copyFile(
          `${runsDir}/run-00/${RUN_LOG_FILE}`,
          `${runsDir}/run-${String(i).padStart(2, "0")}/${RUN_LOG_FILE}`,
        );
      }
      const size = (await Deno.stat(`${runsDir}/run-00/${RUN_LOG_FILE}`)).size;
      assert.ok(size >= LOG_BYTES, `log is ${(size / 2 ** 20).toFixed(1)} MB`);

      // The way it was: every request parsed every whole log (timed once, for scale).
      const t0 = performance.now();
      for (let i = 0; i < RUNS; i++) {
        compactHistory(
          parseRunLog(
            await Deno.readTextFile(`${runsDir}/run-${String(i).padStart(2, "0")}/${RUN_LOG_FILE}`),
          ),
        );
      }
      const oldMs = performance.now() - t0;

      // Runs without saved summaries: one reading, then only stats.
      const browse = await startDashboard({ runsDir, port: 0, readOnly: true });
      let firstMs: number, warmMs: number;
      try {
        const first = await timeGet(`${browse.url}api/runs`);
        firstMs = first.ms;
        assert.equal(first.body.runs.length, RUNS);
        assert.ok(first.body.runs.every((r) => r.step === steps), "every run's last step");
        const warm: number[] = [];
        for (let k = 0; k < 5; k++) warm.push((await timeGet(`${browse.url}api/runs`)).ms);
        warmMs = median(warm);
      } finally {
        await browse.close();
      }

      // A trainer's server saves its run's summary; here the index saves every run's (as it would have).
      for (let i = 0; i < RUNS; i++) await new RunsIndex(runsDir).save(`run-${String(i).padStart(2, "0")}`);
      for (let i = 0; i < RUNS; i++) {
        assert.ok(Deno.statSync(`${runsDir}/run-${String(i).padStart(2, "0")}/${SUMMARY_FILE}`).isFile);
      }
      const cold: number[] = [];
      for (let k = 0; k < 3; k++) {
        const dash = await startDashboard({ runsDir, port: 0, readOnly: true });
        try {
          const r = await timeGet(`${dash.url}api/runs`);
          assert.ok(r.body.runs.every((x) => x.step === steps));
          cold.push(r.ms);
        } finally {
          await dash.close();
        }
      }
      const coldMs = Math.min(...cold);

      // One log grows by 1 MB: only the new lines are read.
      const dash = await startDashboard({ runsDir, port: 0, readOnly: true });
      let appendMs: number;
      try {
        await timeGet(`${dash.url}api/runs`);
        const log = new RunLog(`${runsDir}/run-03`);
        let bytes = 0, s = steps;
        while (bytes < 1 << 20) bytes += log.appendJson(metrics(++s, 1_000_000)).json.length + 1;
        log.close();
        const after: number[] = [];
        const first = await timeGet(`${dash.url}api/runs`);
        assert.equal(first.body.runs.find((r) => r.id === "run-03")?.step, s, "the appended steps are seen");
        after.push(first.ms);
        for (let k = 0; k < 4; k++) after.push((await timeGet(`${dash.url}api/runs`)).ms);
        appendMs = median(after);
      } finally {
        await dash.close();
      }
      console.log(
        `runs_latency: ${RUNS} runs × ${(size / 2 ** 20).toFixed(1)} MB: re-parsing all ${
          oldMs.toFixed(0)
        } ms (old way); ` +
          `no saved summaries: first ${firstMs.toFixed(0)} ms, then median ${warmMs.toFixed(1)} ms; ` +
          `saved summaries, cold server: best ${coldMs.toFixed(1)} ms of [${
            cold.map((x) => x.toFixed(0))
          }]; ` +
          `after +1 MB: median ${appendMs.toFixed(1)} ms`,
      );
      assert.ok(warmMs <= LIMIT_MS, `warm /api/runs took ${warmMs.toFixed(0)} ms`);
      assert.ok(coldMs <= LIMIT_MS, `cold /api/runs with saved summaries took ${coldMs.toFixed(0)} ms`);
      assert.ok(appendMs <= LIMIT_MS, `/api/runs after an append took ${appendMs.toFixed(0)} ms`);
    } finally {
      await Deno.remove(runsDir, { recursive: true });
    }
  },
});

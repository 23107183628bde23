/**
 * SSE fan-out under load (issue 7 acceptance): `/events` delivers every message to 20 concurrent loopback
 * clients while the fake trainer Worker's step rate drops by less than 10%.
 *
 * The fake Worker publishes one metrics message per step (stricter than the real trainer, which reads back
 * every N steps), each step blocking its thread like a GPU readback. Its run alternates phases of PHASE
 * steps: in "quiet" phases the main thread publishes to a dashboard with no clients, in "loaded" phases to
 * a second dashboard with 20 connected `/events` clients. Both dashboards write their run log, so the only
 * difference is the fan-out. The drop is 1 − the median over adjacent (quiet, loaded) pairs of the ratio of
 * their step rates: pairs 0.3 s apart see the same background load from other tests on a shared 2-core
 * machine, which a before/after comparison would not.
 * @module
 */
import assert from "node:assert/strict";
import { isTelemetryMessage, type MetricsMessage, startDashboard } from "../../core/telemetry.ts";
import type { FakeDone, FakeRunConfig } from "./fake_trainer_worker.ts";

const PHASE = 20;
const PHASES = 16; // quiet, loaded, quiet, loaded, …
const STEPS = PHASE * PHASES;
const STEP_MS = 8;
const CLIENTS = 20;

const loadedStep = (step: number) => Math.floor((step - 1) / PHASE) % 2 === 1;

interface Client {
  steps: number[];
  done: Promise<void>;
}

/** Connects one SSE client; records metrics steps until the run reports "done". */
async function connect(url: string): Promise<Client> {
  const res = await fetch(`${url}events`);
  assert.equal(res.status, 200);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const c: Client = { steps: [], done: Promise.resolve() };
  let live!: () => void;
  const isLive = new Promise<void>((r) => (live = r));
  c.done = (async () => {
    let buf = "";
    try {
      for (let i = 0; i < 100_000; i++) {
        const { value, done } = await reader.read();
        if (done) return;
        buf += value;
        let k;
        while ((k = buf.indexOf("\n\n")) >= 0) {
          const frame = buf.slice(0, k);
          buf = buf.slice(k + 2);
          if (frame.startsWith("event: live")) live();
          // Cheap parsing: these clients share the test's main thread with the server (a browser would not).
          // Telemetry JSON starts with "type" then "step" (metrics) or "state" (status).
          const step = frame.match(/^data: \{"type":"metrics","step":(\d+),/);
          if (step) c.steps.push(Number(step[1]));
          else if (frame.startsWith('data: {"type":"status","state":"done"')) return;
        }
      }
    } finally {
      await reader.cancel();
    }
  })();
  await isLive;
  return c;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

Deno.test({
  name: `/events delivers every message to ${CLIENTS} clients; trainer step rate drops < 10%`,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const runsDir = await Deno.makeTempDir({ prefix: "hpseg_sse_" });
    const quiet = await startDashboard({ runsDir, runDir: `${runsDir}/quiet`, port: 0 });
    const loaded = await startDashboard({ runsDir, runDir: `${runsDir}/loaded`, port: 0 });
    const worker = new Worker(new URL("./fake_trainer_worker.ts", import.meta.url), { type: "module" });
    try {
      const done = new Promise<FakeDone>((resolve, reject) => {
        worker.onmessage = (e) => {
          const m = e.data;
          if (isTelemetryMessage(m)) {
            if (m.type === "metrics") (loadedStep(m.step) ? loaded : quiet).publish(m);
            else loaded.publish(m); // status messages: the clients watch for "done"
          } else if (m?.kind === "fake-done") resolve(m as FakeDone);
        };
        worker.onerror = (e) => {
          e.preventDefault();
          reject(new Error(`fake trainer worker: ${e.message}`));
        };
      });
      const cfg: FakeRunConfig = {
        runId: "sse",
        runDir: `${runsDir}/loaded`,
        steps: STEPS,
        stepMs: STEP_MS,
        metricsEvery: 1,
        pictureEvery: 0,
        evalEvery: 0,
        waitForGo: true,
      };
      worker.postMessage(cfg);
      const clients = await Promise.all(Array.from({ length: CLIENTS }, () => connect(loaded.url)));
      worker.postMessage({ go: true });
      const result = await done;
      await Promise.all(clients.map((c) => c.done));

      const want = Array.from({ length: STEPS }, (_, i) => i + 1).filter(loadedStep);
      for (const [i, c] of clients.entries()) {
        assert.deepEqual(c.steps, want, `client ${i} got every message, in order`);
      }

      // Steps per second in each phase (the first step of a phase is skipped: messages still in flight), then
      // the loaded/quiet ratio of each adjacent pair, which saw the same background load.
      const rate = (p: number) => {
        const a = p * PHASE + 1, b = (p + 1) * PHASE;
        return (b - a) / ((result.stepEnds[b] - result.stepEnds[a]) / 1000);
      };
      const ratios: number[] = [];
      for (let p = 0; p < PHASES; p += 2) ratios.push(rate(p + 1) / rate(p));
      const drop = 1 - median(ratios);
      const all = Array.from({ length: PHASES }, (_, p) => rate(p).toFixed(0));
      console.log(
        `sse_load: ${STEPS} steps × ${STEP_MS} ms, 1 message/step, ${CLIENTS} clients in every 2nd phase of ` +
          `${PHASE} steps; median loaded/quiet ratio ${median(ratios).toFixed(3)} (drop ${
            (100 * drop).toFixed(1)
          }%); ` +
          `phase rates [${all.join(" ")}] steps/s`,
      );
      assert.ok(drop < 0.1, `step rate dropped ${(100 * drop).toFixed(1)}% with ${CLIENTS} clients`);
      const logged = (await Deno.readTextFile(`${runsDir}/loaded/metrics.jsonl`)).trim().split("\n")
        .map((l) => JSON.parse(l)).filter((m: MetricsMessage) => m.type === "metrics").length;
      assert.equal(logged, want.length, "the loaded dashboard logged what it streamed");
    } finally {
      worker.terminate();
      await quiet.close();
      await loaded.close();
      await Deno.remove(runsDir, { recursive: true });
    }
  },
});

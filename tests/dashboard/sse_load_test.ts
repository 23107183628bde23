/**
 * SSE fan-out under load (issue 7 acceptance): `/events` delivers every message to 20 concurrent loopback
 * clients while a tiny REAL training run (the trainer Worker, core/hp/train_worker.ts, on a small synthetic
 * config) loses less than 10% of its step rate.
 *
 * The run reads metrics back every step (one message per step). It alternates phases of PHASE steps (one
 * epoch each): the main thread publishes the metrics of "quiet" phases to a dashboard with no clients and
 * those of "loaded" phases to a second dashboard with 20 connected `/events` clients. Both dashboards write
 * their run log, so the only difference is the fan-out. Step times come from the trainer's own clock (ticks
 * stamped in the Worker); a phase's rate is 1 / its median step time. The drop is 1 − the median over adjacent
 * (quiet, loaded) phase pairs of the ratio of their step rates: neighbouring phases ~1 s apart see the same background load from other tests on a shared
 * 2-core machine, which a before/after comparison would not.
 * @module
 */
import assert from "node:assert/strict";
import { type MetricsMessage, startDashboard } from "../../core/telemetry.ts";
import { startRealRun } from "./_real_run.ts";

const PHASE = 8; // steps per phase = batches per epoch of the tiny run
const PHASES = 24; // quiet, loaded, quiet, loaded, … (23 adjacent pairs: the median needs many)
const STEPS = PHASE * PHASES;
const CLIENTS = 20;
/** Steps skipped at the start of each phase: the previous phase's last messages may still be in flight. */
const SETTLE = 2;

const loadedStep = (step: number) => Math.floor((step - 1) / PHASE) % 2 === 1;

interface Client {
  /** Steps of the metrics messages received, in order. */
  steps: number[];
  /** Every data frame received (all message types). */
  frames: number;
  done: Promise<void>;
}

/** Connects one SSE client; records messages until the run reports "done". */
async function connect(url: string): Promise<Client> {
  const res = await fetch(`${url}events`);
  assert.equal(res.status, 200);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const c: Client = { steps: [], frames: 0, done: Promise.resolve() };
  let live!: () => void;
  const isLive = new Promise<void>((r) => (live = r));
  c.done = (async () => {
    let buf = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buf += value;
        let k;
        while ((k = buf.indexOf("\n\n")) >= 0) {
          const frame = buf.slice(0, k);
          buf = buf.slice(k + 2);
          if (frame.startsWith("event: live")) live();
          if (!frame.startsWith("data: ")) continue;
          c.frames++;
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
  name: `/events delivers every message to ${CLIENTS} clients; a real run's step rate drops < 10%`,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    let toLoaded = 0;
    let quiet: Awaited<ReturnType<typeof startDashboard>> | null = null;
    const run = await startRealRun([
      `train.epochs=${PHASES}`,
      "train.checkpoint_every=100000", // only the final step: no checkpoint or picture inside the phases
      "eval.valid_freq=100000",
    ], {
      route: (m, loaded) => {
        if (m.type === "metrics" && !loadedStep(m.step)) quiet!.publish(m);
        else {
          loaded.publish(m); // status, eval, picture messages too: the clients watch for "done"
          toLoaded++;
        }
      },
    });
    quiet = await startDashboard({ runsDir: run.runsDir, runDir: `${run.runsDir}/quiet`, port: 0 });
    try {
      const clients = await Promise.all(Array.from({ length: CLIENTS }, () => connect(run.dash.url)));
      const t0 = performance.now();
      run.start();
      const result = await run.done;
      await Promise.all(clients.map((c) => c.done));
      const seconds = (performance.now() - t0) / 1000;
      assert.equal(result.step, STEPS);

      const want = Array.from({ length: STEPS }, (_, i) => i + 1).filter(loadedStep);
      for (const [i, c] of clients.entries()) {
        assert.deepEqual(c.steps, want, `client ${i} got every metrics message, in order`);
        assert.equal(c.frames, toLoaded, `client ${i} got every message`);
      }

      // Real step times from the trainer's clock.
      for (let s = 2; s <= STEPS; s++) {
        assert.ok(run.stepAt[s] > run.stepAt[s - 1], `step ${s} has a trainer timestamp after step ${s - 1}`);
      }
      // A phase's rate from its median step time: one slow step (a GC pause, another test's burst on the
      // shared cores) does not move it.
      const rate = (p: number) => {
        const a = p * PHASE + SETTLE, b = (p + 1) * PHASE;
        const ms = Array.from({ length: b - a }, (_, i) => run.stepAt[a + i + 1] - run.stepAt[a + i]);
        return 1000 / median(ms);
      };
      const rates = Array.from({ length: PHASES }, (_, p) => rate(p));
      const ratios: number[] = [];
      for (let p = 0; p + 1 < PHASES; p++) {
        ratios.push(p % 2 === 0 ? rates[p + 1] / rates[p] : rates[p] / rates[p + 1]); // loaded / quiet
      }
      const drop = 1 - median(ratios);
      console.log(
        `sse_load: real run, ${STEPS} steps in ${
          seconds.toFixed(1)
        } s, 1 message/step, ${CLIENTS} clients in ` +
          `every 2nd phase of ${PHASE} steps; median loaded/quiet ratio ${median(ratios).toFixed(3)} ` +
          `(drop ${(100 * drop).toFixed(1)}%); phase rates [${
            rates.map((r) => r.toFixed(2)).join(" ")
          }] steps/s`,
      );
      assert.ok(drop < 0.1, `step rate dropped ${(100 * drop).toFixed(1)}% with ${CLIENTS} clients`);
      const logged = (await Deno.readTextFile(`${run.runDir}/metrics.jsonl`)).trim().split("\n")
        .map((l) => JSON.parse(l)).filter((m: MetricsMessage) => m.type === "metrics").length;
      assert.equal(logged, want.length, "the loaded dashboard logged what it streamed");
    } finally {
      await quiet.close();
      await run.close();
    }
  },
});

/**
 * SSE fan-out under load (issue 7 acceptance): `/events` delivers every message to 20 concurrent loopback
 * clients while a tiny REAL training run (the trainer Worker, core/train/worker.ts, on a small synthetic
 * config) loses less than 10% of its step rate.
 *
 * The run reads metrics back every step (one message per step). It alternates phases of PHASE steps (one
 * epoch each): the main thread publishes the metrics of "quiet" phases to a dashboard with no clients and
 * those of "loaded" phases to a second dashboard with 20 `/events` clients, which run in their own process
 * (tests/dashboard/_sse_clients.ts) as browser pages would. Both dashboards write their run log, so the only
 * difference is the fan-out. Step times come from the trainer's own clock (ticks stamped in the Worker); the
 * drop compares the trimmed mean step time of the loaded phases with that of the quiet ones. Phases
 * alternate every ~1 s, so both conditions see the same background load from other tests on a shared 2-core
 * machine, which a before/after comparison would not.
 * @module
 */
import assert from "node:assert/strict";
import { type MetricsMessage } from "../../core/telemetry.ts";
import { startDashboard } from "../../dashboard/server.ts";
import { startRealRun } from "../dashboard/_real_run.ts";

const PHASE = 8; // steps per phase = batches per epoch of the tiny run
const PHASES = 24; // quiet, loaded, quiet, loaded, …
const STEPS = PHASE * PHASES;
const CLIENTS = 20;
/** Steps skipped at the start of each phase: the previous phase's last messages may still be in flight. */
const SETTLE = 2;

const loadedStep = (step: number) => Math.floor((step - 1) / PHASE) % 2 === 1;

/** The 20 clients run in their own process (tests/dashboard/_sse_clients.ts), as browser pages would. */
async function startClients(
  url: string,
): Promise<{ result: Promise<Array<{ steps: number[]; frames: number }>> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1",
      new URL("../dashboard/_sse_clients.ts", import.meta.url).pathname,
      url,
      `${CLIENTS}`,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  const nextLine = async (): Promise<string> => {
    for (;;) {
      const k = buf.indexOf("\n");
      if (k >= 0) {
        const line = buf.slice(0, k);
        buf = buf.slice(k + 1);
        return line;
      }
      const { value, done } = await lines.read();
      if (done) throw new Error("SSE client process ended early");
      buf += value;
    }
  };
  assert.equal(await nextLine(), "ready");
  const result = (async () => {
    const out = JSON.parse(await nextLine());
    await lines.cancel();
    assert.equal((await child.status).code, 0, "client process exit code");
    return out;
  })();
  return { result };
}

/** Mean of `xs` without its lowest and highest tenth (slow outlier steps, another test's burst). */
function trimmedMean(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b), cut = Math.floor(s.length / 10);
  const kept = s.slice(cut, s.length - cut);
  return kept.reduce((x, y) => x + y, 0) / kept.length;
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
      const clientProcess = await startClients(run.dash.url);
      const t0 = performance.now();
      run.start();
      const result = await run.done;
      const clients = await clientProcess.result;
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
      // Step times of the measured steps (after SETTLE in every phase), pooled per condition: quiet and loaded
      // phases alternate every ~1 s, so both see the same drift in background load.
      const times: Record<"quiet" | "loaded", number[]> = { quiet: [], loaded: [] };
      for (let p = 0; p < PHASES; p++) {
        for (let s = p * PHASE + SETTLE + 1; s <= (p + 1) * PHASE; s++) {
          times[p % 2 === 1 ? "loaded" : "quiet"].push(run.stepAt[s] - run.stepAt[s - 1]);
        }
      }
      const quietMs = trimmedMean(times.quiet), loadedMs = trimmedMean(times.loaded);
      const drop = 1 - quietMs / loadedMs; // 1 − loaded rate / quiet rate
      console.log(
        `sse_load: real run, ${STEPS} steps in ${seconds.toFixed(1)} s, 1 message/step, ${CLIENTS} clients ` +
          `(own process) in every 2nd phase of ${PHASE} steps; trimmed mean step ${
            quietMs.toFixed(1)
          } ms quiet, ` +
          `${loadedMs.toFixed(1)} ms loaded (rate drop ${(100 * drop).toFixed(1)}%)`,
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

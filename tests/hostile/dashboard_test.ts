/**
 * The dashboard's history (issue 11 finding 13): `/api/history?run=LINK` must not follow a symlink out of
 * the runs folder (the README says it is refused), and a resumed run's history shows each step once.
 */
import assert from "node:assert/strict";
import { createApp } from "../../dashboard/server.ts";
import { compactHistory, type TelemetryMessage } from "../../core/telemetry.ts";
import { acquireRunLock } from "../../core/train/run_lock.ts";
import { withTempDir } from "./_hostile.ts";

const get = (app: ReturnType<typeof createApp>, url: string) =>
  app.request(url, { headers: { host: "localhost" } });

const metrics = (step: number) =>
  ({ type: "metrics", step, epoch: 0, totalSteps: 9 }) as unknown as TelemetryMessage;

Deno.test("finding 13: /api/history?run=LINK does not follow a symlink out of the runs folder", async () => {
  await withTempDir("dash", async (dir) => {
    Deno.mkdirSync(`${dir}/runs/real`, { recursive: true });
    Deno.mkdirSync(`${dir}/outside`);
    const secret = JSON.stringify({ type: "status", state: "done", runId: "x", message: "secret" }) + "\n";
    Deno.writeTextFileSync(`${dir}/outside/metrics.jsonl`, secret);
    Deno.symlinkSync(`${dir}/outside`, `${dir}/runs/link`);
    // A real run folder whose log is a link to a file outside.
    Deno.symlinkSync(`${dir}/outside/metrics.jsonl`, `${dir}/runs/real/metrics.jsonl`);
    const app = createApp({ runsDir: `${dir}/runs` });
    for (const run of ["link", "real"]) {
      const res = await get(app, `/api/history?run=${run}`);
      const body = await res.text();
      assert.equal(res.status, 403, body);
      assert.ok(!body.includes("secret"), body);
    }
    // Inside the runs folder, a linked run is still served.
    Deno.mkdirSync(`${dir}/runs/inside`);
    Deno.writeTextFileSync(`${dir}/runs/inside/metrics.jsonl`, secret);
    Deno.symlinkSync(`${dir}/runs/inside`, `${dir}/runs/alias`);
    assert.equal((await get(app, "/api/history?run=alias")).status, 200);
  });
});

Deno.test("finding 13: after a resume the history repeats no step", async () => {
  const log: TelemetryMessage[] = [
    { type: "status", state: "running", runId: "r" },
    ...[1, 2, 3, 4, 5].map(metrics), // killed after step 5; its last checkpoint was step 3
    { type: "status", state: "starting", runId: "r", resumedFrom: 3 },
    ...[4, 5, 6].map(metrics),
    { type: "status", state: "starting", runId: "r", resumedFrom: 6 },
    ...[7, 8, 9].map(metrics),
  ];
  const steps = compactHistory(log).filter((m) => m.type === "metrics").map((m) =>
    (m as { step: number }).step
  );
  assert.deepEqual(steps, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  await withTempDir("dash-hist", async (dir) => {
    Deno.mkdirSync(`${dir}/runs/r`, { recursive: true });
    Deno.writeTextFileSync(
      `${dir}/runs/r/metrics.jsonl`,
      log.map((m) => JSON.stringify(m)).join("\n") + "\n",
    );
    const res = await get(createApp({ runsDir: `${dir}/runs` }), "/api/history?run=r");
    const got = (await res.json()).messages.filter((m: TelemetryMessage) => m.type === "metrics");
    assert.deepEqual(got.map((m: { step: number }) => m.step), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

Deno.test("finding 7: a run logged as running whose trainer is gone is listed as interrupted, a live one as running", async () => {
  await withTempDir("dash-runs", async (dir) => {
    const running = JSON.stringify({ type: "status", state: "running", runId: "x" }) + "\n";
    for (const id of ["dead", "live"]) {
      Deno.mkdirSync(`${dir}/runs/${id}`, { recursive: true });
      Deno.writeTextFileSync(`${dir}/runs/${id}/metrics.jsonl`, running);
    }
    const lock = acquireRunLock(`${dir}/runs/live`); // this process plays the live trainer
    try {
      const res = await get(createApp({ runsDir: `${dir}/runs` }), "/api/runs");
      const states = Object.fromEntries(
        (await res.json()).runs.map((r: { id: string; state: string }) => [r.id, r.state]),
      );
      assert.deepEqual(states, { dead: "interrupted", live: "running" });
    } finally {
      lock.release();
    }
  });
});

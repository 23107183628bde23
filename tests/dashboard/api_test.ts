/**
 * The dashboard server's routes added for issue 14: static files with ETags (304) and gzip; the runs
 * browser's data routes (`/api/snapshot`, `/api/series` with zoom windows and CSV/JSON downloads,
 * `PUT /api/runs/<id>/meta` from the page only); the `/events` stream's snapshot and `end` frames (a final
 * state is followed by `end`, a runs browser ends at once); and a closing server that still delivers the
 * final state to an open stream.
 * @module
 */
import assert from "node:assert/strict";
import { createApp, startDashboard } from "../../dashboard/server.ts";
import { type MetricsMessage, RUN_LOG_FILE, RunLog, type TelemetryMessage } from "../../core/telemetry.ts";

function metrics(step: number): MetricsMessage {
  return {
    type: "metrics",
    step,
    epoch: 0,
    totalSteps: 2000,
    losses: { ghp: Math.sin(step / 50), lhp: 2, reg: 0.1, lin: 3, clu: 4, total: 10 },
    lambda: step / 2000,
    lr: 1e-3,
    positives: { ag: 10, sp: 5, lhp: 3 },
    thresholds: { ag: { p10: 0.1, p50: 0.5, p90: 0.9 }, sp: { p10: 0.2, p50: 0.6, p90: 0.8 } },
    imagesPerSec: 12,
    stepMs: 80,
  };
}

async function runsFolder(steps = 1500) {
  const root = await Deno.makeTempDir({ prefix: "hpseg_api_" });
  const runsDir = `${root}/runs`;
  const log = new RunLog(`${runsDir}/r1`);
  log.append({ type: "status", state: "starting", runId: "r1", config: { train: { lr: 1e-3 } } });
  for (let s = 1; s <= steps; s++) log.append(metrics(s));
  log.append({
    type: "eval",
    step: steps,
    metrics: { cluster_acc: 50, cluster_miou: 20, linear_acc: 40, linear_miou: 10 },
  });
  log.append({ type: "status", state: "done", runId: "r1", message: "finished" });
  log.close();
  return { root, runsDir, cleanup: () => Deno.remove(root, { recursive: true }) };
}

/** SSE frames of a response until `until` holds or the stream ends. */
async function frames(res: Response, until: (f: { event?: string; data: unknown }[]) => boolean) {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const out: { event?: string; data: unknown }[] = [];
  let buf = "";
  try {
    while (!until(out)) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const raw = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (raw.startsWith(":")) continue;
        const event = raw.match(/^event: (.*)$/m)?.[1];
        const data = raw.match(/^data: (.*)$/m)?.[1];
        out.push({ event, data: data === undefined ? undefined : JSON.parse(data) });
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return out;
}

Deno.test("static files: strong ETag and 304, gzip when accepted, vendored libraries cacheable", async () => {
  const app = createApp({ runsDir: "/nonexistent" });
  for (const path of ["/", "/static/app.js", "/static/charts.js", "/static/vendor/chart.umd.min.js"]) {
    const plain = await app.request(path);
    assert.equal(plain.status, 200, path);
    const body = new Uint8Array(await plain.arrayBuffer());
    const etag = plain.headers.get("etag")!;
    assert.match(etag, /^"[0-9a-f]{32}"$/, `${path} ETag`);
    assert.equal(plain.headers.get("content-encoding"), null);
    const again = await app.request(path, { headers: { "if-none-match": etag } });
    assert.equal(again.status, 304, `${path} revalidated`);
    assert.equal((await again.arrayBuffer()).byteLength, 0);
    assert.equal((await app.request(path, { headers: { "if-none-match": '"other"' } })).status, 200);
    const gz = await app.request(path, { headers: { "accept-encoding": "gzip, deflate, br" } });
    assert.equal(gz.headers.get("content-encoding"), "gzip", `${path} compressed`);
    const zipped = new Uint8Array(await gz.arrayBuffer());
    assert.ok(zipped.length < body.length / 2, `${path}: ${zipped.length} of ${body.length} bytes`);
    const unzipped = new Uint8Array(
      await new Response(new Blob([zipped]).stream().pipeThrough(new DecompressionStream("gzip")))
        .arrayBuffer(),
    );
    assert.deepEqual(unzipped, body, `${path} decompresses to the file`);
    assert.match(gz.headers.get("vary") ?? "", /accept-encoding/i);
  }
  assert.equal((await app.request("/static/app.js")).headers.get("cache-control"), "no-cache");
  assert.match(
    (await app.request("/static/vendor/hammer.min.js")).headers.get("cache-control")!,
    /max-age=86400/,
  );
  assert.match((await app.request("/")).headers.get("content-security-policy")!, /script-src 'self'/);
});

Deno.test("/api/snapshot downsamples each series; /api/series zooms at full resolution and downloads", async () => {
  const fx = await runsFolder();
  try {
    const app = createApp({ runsDir: fx.runsDir });
    const snap = await (await app.request("/api/snapshot?run=r1&points=100")).json();
    assert.equal(snap.runId, "r1");
    assert.equal(snap.counts["losses.ghp"], 1500);
    assert.ok(snap.series["losses.ghp"].step.length <= 100);
    assert.deepEqual(snap.series["eval.cluster_acc"].y, [50]);
    assert.equal(snap.summary.state, "done");
    assert.deepEqual(snap.config, { train: { lr: 1e-3 } });
    // Compressed when asked.
    const gz = await app.request("/api/snapshot?run=r1", { headers: { "accept-encoding": "gzip" } });
    assert.equal(gz.headers.get("content-encoding"), "gzip");
    await gz.body?.cancel();
    // Zoom: steps 700…760 with their neighbours, every point.
    const zoom =
      await (await app.request("/api/series?run=r1&keys=losses.ghp,lambda&from=700&to=760&points=2000"))
        .json();
    assert.deepEqual(zoom.series["losses.ghp"].step, Array.from({ length: 63 }, (_, i) => 699 + i));
    assert.deepEqual(zoom.series.lambda.y.slice(0, 2), [699 / 2000, 700 / 2000]);
    // Downloads: full resolution, absolute times.
    const csv = await app.request("/api/series?run=r1&keys=losses.ghp&format=csv");
    assert.match(csv.headers.get("content-type")!, /text\/csv/);
    assert.match(csv.headers.get("content-disposition")!, /attachment; filename="r1_losses\.ghp\.csv"/);
    const rows = (await csv.text()).trim().split("\n");
    assert.equal(rows[0], "series,step,time_ms,value");
    assert.equal(rows.length, 1501);
    const [key, step, time, value] = rows[1].split(",");
    assert.deepEqual([key, Number(step), Number(value)], ["losses.ghp", 1, Math.sin(1 / 50)]);
    assert.ok(Number(time) > 1.6e12, "absolute time in ms");
    const json = await (await app.request("/api/series?run=r1&format=json")).json();
    assert.ok(Object.keys(json.series).length > 15, "every series");
    assert.equal(json.series["losses.ghp"].value.length, 1500);
    // Bad requests.
    assert.equal((await app.request("/api/snapshot?run=nope")).status, 404);
    assert.equal((await app.request("/api/snapshot?run=..")).status, 400);
    await Deno.mkdir(`${fx.root}/outside`);
    await Deno.writeTextFile(`${fx.root}/outside/${RUN_LOG_FILE}`, "");
    await Deno.symlink(`${fx.root}/outside`, `${fx.runsDir}/link`);
    assert.equal(
      (await app.request("/api/snapshot?run=link")).status,
      403,
      "a symlink out of the runs folder",
    );
  } finally {
    await fx.cleanup();
  }
});

Deno.test("PUT /api/runs/<id>/meta: names and notes from the page only", async () => {
  const fx = await runsFolder(3);
  try {
    const app = createApp({ runsDir: fx.runsDir });
    const put = (headers: Record<string, string>, body: string) =>
      app.request("/api/runs/r1/meta", { method: "PUT", headers, body });
    const json = { "content-type": "application/json", host: "127.0.0.1:8787" };
    assert.equal((await put({ "content-type": "text/plain" }, '{"name":"x"}')).status, 403, "not JSON");
    assert.equal(
      (await put({ ...json, origin: "http://evil.example" }, '{"name":"x"}')).status,
      403,
      "foreign origin",
    );
    assert.equal((await put(json, "{")).status, 400);
    const ok = await put({ ...json, origin: "http://127.0.0.1:8787" }, '{"name":"first","notes":"lr sweep"}');
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { name: "first", notes: "lr sweep" });
    const runs = await (await app.request("/api/runs")).json();
    assert.deepEqual([runs.runs[0].name, runs.runs[0].notes], ["first", "lr sweep"]);
    assert.equal(
      (await app.request("/api/runs/zz/meta", { method: "PUT", headers: json, body: "{}" })).status,
      404,
    );
  } finally {
    await fx.cleanup();
  }
});

Deno.test("/events?snapshot=1: a runs browser sends reset, snapshot, live, end; a live run ends after its final state", async () => {
  const fx = await runsFolder(20);
  try {
    const app = createApp({ runsDir: fx.runsDir, runDir: `${fx.runsDir}/r1` });
    const f = await frames(await app.request("/events?snapshot=1"), (x) => x.some((y) => y.event === "end"));
    assert.deepEqual(f.map((x) => x.event), ["reset", "snapshot", "live", "end"]);
    assert.deepEqual(f[0].data, {
      runId: "r1",
      live: false,
      trainer: false,
      keepServing: false,
      runsDir: fx.runsDir,
    });
    assert.equal((f[1].data as { counts: Record<string, number> }).counts["losses.ghp"], 20);

    // A trainer's server: live until the final status, which is followed by `end` at once.
    const dash = await startDashboard({
      runsDir: fx.runsDir,
      runDir: `${fx.runsDir}/r2`,
      port: 0,
      keepServing: true,
    });
    try {
      dash.publish({ type: "status", state: "running", runId: "r2" });
      const res = await fetch(`${dash.url}events?snapshot=1`);
      const got = frames(res, (x) => x.some((y) => y.event === "end"));
      await new Promise((r) => setTimeout(r, 50));
      dash.publish(metrics(1));
      dash.publish({ type: "status", state: "stopped", runId: "r2", message: "Ctrl-C" });
      const g = await got;
      assert.deepEqual(g.map((x) => x.event ?? (x.data as TelemetryMessage).type), [
        "reset",
        "snapshot",
        "live",
        "metrics",
        "status",
        "end",
      ]);
      assert.deepEqual(g[0].data, {
        runId: "r2",
        live: true,
        trainer: true,
        keepServing: true,
        runsDir: fx.runsDir,
      });
      // A page opened after the end gets the history and `end` right away.
      const late = await frames(
        await fetch(`${dash.url}events?snapshot=1`),
        (x) => x.some((y) => y.event === "end"),
      );
      assert.deepEqual(late.map((x) => x.event), ["reset", "snapshot", "live", "end"]);
      const runs = await (await fetch(`${dash.url}api/runs`)).json();
      const r2 = runs.runs.find((r: { id: string }) => r.id === "r2");
      assert.deepEqual([r2.state, r2.live, r2.current], ["stopped", false, true]);
    } finally {
      await dash.close();
    }
  } finally {
    await fx.cleanup();
  }
});

Deno.test("close() right after the final status still delivers it to an open page, then ends the stream", async () => {
  const root = await Deno.makeTempDir({ prefix: "hpseg_close_" });
  try {
    const dash = await startDashboard({ runsDir: root, runDir: `${root}/r`, port: 0 });
    dash.publish({ type: "status", state: "running", runId: "r" });
    const res = await fetch(`${dash.url}events?snapshot=1`);
    const got = frames(res, () => false); // read until the server ends the stream
    await new Promise((r) => setTimeout(r, 50));
    for (let s = 1; s <= 200; s++) dash.publish(metrics(s)); // a burst still in the flush queue…
    dash.publish({ type: "status", state: "done", runId: "r", message: "finished" });
    await dash.close(); // …and the process would exit right after this
    const f = await got;
    const types = f.map((x) => x.event ?? (x.data as TelemetryMessage).type);
    assert.equal(types.filter((t) => t === "metrics").length, 200);
    assert.deepEqual(
      types.slice(-2),
      ["status", "end"],
      "the final status and `end` arrived before the close",
    );
    // The run's summary was saved for a later runs browser.
    const saved = JSON.parse(await Deno.readTextFile(`${root}/r/summary.json`));
    assert.equal(saved.summary.state, "done");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

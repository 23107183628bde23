/**
 * Dashboard server tests (issue 7): embedded assets, path traversal refused (through `app.request()` and
 * through raw HTTP bytes on a bound socket, where the path reaches the server un-normalised), missing or
 * wrong token refused, non-loopback binding without a token refused, full history after a refresh and after
 * a server restart, SSE replay without gaps or duplicates, and the run list.
 * @module
 */
import assert from "node:assert/strict";
import {
  type MetricsMessage,
  parseRunLog,
  RUN_LOG_FILE,
  RunLog,
  type TelemetryMessage,
} from "../../core/telemetry.ts";
import { createApp, startDashboard, TelemetryHub } from "../../dashboard/server.ts";
import { InputError } from "../../core/errors.ts";

const PNG_BYTES = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3, 4]);
const SECRET = "TOP-SECRET-CONTENT-0123456789";

function metrics(step: number): MetricsMessage {
  return {
    type: "metrics",
    step,
    epoch: 0,
    totalSteps: 100,
    losses: { ghp: 1 / step, lhp: 2, reg: 0.1, lin: 3, clu: 4, total: 5 },
    lambda: step / 100,
    lr: 1e-3,
    positives: { ag: 10, sp: 5, lhp: 3 },
    thresholds: { ag: { p10: 0.1, p50: 0.5, p90: 0.9 }, sp: { p10: 0.2, p50: 0.6, p90: 0.8 } },
    imagesPerSec: 12,
    stepMs: 80,
  };
}

/** A runs folder with one run, a picture, a secret file beside the runs folder and a symlink out. */
async function fixture() {
  const root = await Deno.makeTempDir({ prefix: "hpseg_srv_" });
  const runsDir = `${root}/runs`;
  const runDir = `${runsDir}/r1`;
  await Deno.mkdir(`${runDir}/pictures/sub`, { recursive: true });
  await Deno.writeFile(`${runDir}/pictures/a.png`, PNG_BYTES);
  await Deno.writeFile(`${runDir}/pictures/sub/b.png`, PNG_BYTES);
  await Deno.writeTextFile(`${root}/secret.png`, SECRET);
  await Deno.writeTextFile(`${runDir}/secret.png`, SECRET); // inside the run but not under pictures/
  await Deno.symlink(`${root}/secret.png`, `${runDir}/pictures/link.png`);
  await Deno.symlink(root, `${runDir}/pictures/up`);
  return { root, runsDir, runDir, cleanup: () => Deno.remove(root, { recursive: true }) };
}

/** Sends a raw HTTP/1.1 request so the path reaches the server exactly as written. */
async function rawGet(
  port: number,
  path: string,
  extraHeaders = "",
): Promise<{ status: number; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const req = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${extraHeaders}Connection: close\r\n\r\n`;
    await conn.write(new TextEncoder().encode(req));
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(65536);
    for (let i = 0; i < 1000; i++) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
    const text = new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
    const status = Number(text.match(/^HTTP\/1\.1 (\d{3})/)?.[1] ?? 0);
    return { status, body: text.slice(text.indexOf("\r\n\r\n") + 4) };
  } finally {
    conn.close();
  }
}

const TRAVERSALS = [
  "/runs/r1/pictures/../../../secret.png",
  "/runs/r1/pictures/%2e%2e/%2e%2e/%2e%2e/secret.png",
  "/runs/r1/pictures/..%2f..%2f..%2fsecret.png",
  "/runs/r1/pictures/..%2F..%2Fsecret.png",
  "/runs/r1/pictures/%252e%252e/%252e%252e/secret.png",
  "/runs/r1/pictures/..%5c..%5c..%5csecret.png",
  "/runs/r1/pictures/%2f" + "etc%2fpasswd",
  "/runs/%2e%2e/pictures/secret.png",
  "/runs/..%2f..%2fsecret.png/pictures/x.png",
  "/runs/r1/pictures/link.png", // symlink to a file outside the runs folder
  "/runs/r1/pictures/up/secret.png", // symlinked folder pointing outside
  "/runs/r1/secret.png", // in the run, not a picture
  "/runs/r1/" + RUN_LOG_FILE,
  "/runs/r1/pictures/a.png%00.txt",
  "/runs/r1/pictures/.hidden.png",
  "/static/../../secret.png",
  "/static/%2e%2e/server.ts",
  "//etc/passwd",
];

Deno.test("embedded page, script, styles and Chart.js are served with safe headers", async () => {
  const app = createApp({ runsDir: "/nonexistent-runs" });
  const page = await app.request("/");
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type")!, /text\/html/);
  assert.match(page.headers.get("content-security-policy")!, /script-src 'self'/);
  const html = await page.text();
  assert.match(html, /<script src="\/static\/vendor\/chart\.umd\.min\.js"><\/script>/);
  assert.match(html, /<script type="module" src="\/static\/app\.js"><\/script>/);
  assert.match(html, /<main id="charts"/);
  const chart = await app.request("/static/vendor/chart.umd.min.js");
  assert.equal(chart.status, 200);
  assert.match((await chart.text()).slice(0, 200), /Chart\.js v4\.6\.1[\s\S]*MIT License/);
  assert.match(await (await app.request("/static/app.js")).text(), /EventSource/);
  assert.equal((await app.request("/static/nope.js")).status, 404);
  assert.equal((await app.request("/api/history")).status, 200);
  assert.deepEqual(await (await app.request("/api/runs")).json(), {
    runsDir: "/nonexistent-runs",
    current: null,
    live: false,
    keepServing: false,
    runs: [],
  });
});

Deno.test("picture files: served inside the runs folder, every traversal refused (app.request)", async () => {
  const fx = await fixture();
  try {
    const app = createApp({ runsDir: fx.runsDir, runDir: fx.runDir });
    const ok = await app.request("/runs/r1/pictures/a.png");
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get("content-type"), "image/png");
    assert.deepEqual(new Uint8Array(await ok.arrayBuffer()), PNG_BYTES);
    assert.equal((await app.request("/runs/r1/pictures/sub/b.png")).status, 200);
    assert.equal((await app.request("/runs/r1/pictures/missing.png")).status, 404);
    for (const path of TRAVERSALS) {
      const res = await app.request(path);
      const body = await res.text();
      assert.ok(res.status >= 400, `${path} refused (got ${res.status})`);
      assert.ok(!body.includes(SECRET), `${path} leaked the secret`);
    }
  } finally {
    await fx.cleanup();
  }
});

Deno.test("picture files: traversal refused on the bound server (raw request paths)", async () => {
  const fx = await fixture();
  const dash = await startDashboard({ runsDir: fx.runsDir, runDir: fx.runDir, port: 0 });
  try {
    const port = Number(new URL(dash.url).port);
    const ok = await rawGet(port, "/runs/r1/pictures/a.png");
    assert.equal(ok.status, 200);
    for (const path of TRAVERSALS) {
      const res = await rawGet(port, path);
      assert.ok(res.status >= 400, `${path} refused (got ${res.status})`);
      assert.ok(!res.body.includes(SECRET), `${path} leaked the secret`);
    }
  } finally {
    await dash.close();
    await fx.cleanup();
  }
});

Deno.test("token: missing or wrong token gets 401 on every route; header, bearer and ?token= pass", async () => {
  const fx = await fixture();
  try {
    const token = "s3cret-token-xyz";
    const app = createApp({ runsDir: fx.runsDir, runDir: fx.runDir, token });
    for (
      const path of ["/", "/static/app.js", "/events", "/api/history", "/api/runs", "/runs/r1/pictures/a.png"]
    ) {
      assert.equal((await app.request(path)).status, 401, `${path} without token`);
      const sep = path.includes("?") ? "&" : "?";
      assert.equal(
        (await app.request(`${path}${sep}token=wrong-token-xyz`)).status,
        401,
        `${path} wrong token`,
      );
      assert.equal(
        (await app.request(`${path}${sep}token=${token.slice(0, -1)}`)).status,
        401,
        `${path} prefix`,
      );
    }
    const first = await app.request(`/?token=${token}`);
    assert.equal(first.status, 200);
    const cookie = first.headers.get("set-cookie")!;
    assert.match(cookie, /^hpseg_token_80=s3cret-token-xyz; Path=\/; HttpOnly; SameSite=Strict$/);
    const jar = cookie.split(";")[0];
    // The page's sub-requests carry the token as that cookie.
    assert.equal((await app.request("/static/app.js", { headers: { cookie: jar } })).status, 200);
    assert.equal((await app.request("/events", { headers: { cookie: "a=b; " + jar } })).status, 200);
    assert.equal(
      (await app.request("/api/runs", { headers: { cookie: "hpseg_token_80=wrong-token-xyz" } })).status,
      401,
    );
    assert.equal(
      (await app.request("/api/runs", { headers: { cookie: jar.replace("_80", "_81") } })).status,
      401,
    );
    assert.equal((await app.request(`/api/runs?token=${token}`)).status, 200);
    assert.equal((await app.request("/api/runs", { headers: { "x-hpseg-token": token } })).status, 200);
    assert.equal(
      (await app.request("/api/runs", { headers: { authorization: `Bearer ${token}` } })).status,
      200,
    );
    const pic = await app.request(`/runs/r1/pictures/a.png?token=${token}`);
    assert.equal(pic.status, 200);
    // Even with a token, traversal stays refused.
    assert.ok((await app.request(`/runs/r1/pictures/link.png?token=${token}`)).status >= 400);
  } finally {
    await fx.cleanup();
  }
});

Deno.test("binding: non-loopback host needs a token; without a token a foreign Host header is refused", async () => {
  await assert.rejects(
    () => startDashboard({ runsDir: "/tmp", runDir: "/tmp/hpseg-never", host: "0.0.0.0", port: 0 }),
    (e) => e instanceof InputError && /non-loopback host 0\.0\.0\.0 without a token/.test(e.message),
  );
  await assert.rejects(
    () =>
      startDashboard({
        runsDir: "/tmp",
        runDir: "/tmp/hpseg-never",
        host: "0.0.0.0",
        port: 0,
        token: "short",
      }),
    (e) => e instanceof InputError && /too short/.test(e.message),
  );
  const app = createApp({ runsDir: "/nonexistent" });
  assert.equal((await app.request("/", { headers: { host: "evil.example:8787" } })).status, 403);
  assert.equal((await app.request("/", { headers: { host: "127.0.0.1:8787" } })).status, 200);
  assert.equal((await app.request("/", { headers: { host: "localhost" } })).status, 200);
});

Deno.test("port in use is one clear InputError", async () => {
  const fx = await fixture();
  const a = await startDashboard({ runsDir: fx.runsDir, runDir: fx.runDir, port: 0 });
  try {
    const port = Number(new URL(a.url).port);
    await assert.rejects(
      () => startDashboard({ runsDir: fx.runsDir, runDir: fx.runDir, port }),
      (e) => e instanceof InputError && e.message.includes(`127.0.0.1:${port}: address in use`),
    );
  } finally {
    await a.close();
    await fx.cleanup();
  }
});

/** Reads SSE frames from a response until `until` returns true (bounded by `maxFrames`). */
async function readFrames(
  res: Response,
  until: (frames: { event?: string; data: unknown }[]) => boolean,
  maxFrames = 10_000,
): Promise<{ event?: string; data: unknown }[]> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const frames: { event?: string; data: unknown }[] = [];
  let buf = "";
  try {
    while (frames.length < maxFrames && !until(frames)) {
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
        frames.push({ event, data: data === undefined ? undefined : JSON.parse(data) });
      }
    }
  } finally {
    await reader.cancel();
  }
  return frames;
}

Deno.test("history: /api/history and /events replay everything after a refresh and after a restart", async () => {
  const fx = await fixture();
  let dash = await startDashboard({ runsDir: fx.runsDir, runDir: fx.runDir, port: 0 });
  try {
    const sent: TelemetryMessage[] = [{
      type: "status",
      state: "running",
      runId: "r1",
      config: { lr: 1e-3 },
    }];
    dash.publish(sent[0]);
    for (let s = 1; s <= 50; s++) {
      const m = metrics(s);
      sent.push(m);
      dash.publish(m);
      if (s % 10 === 0) {
        const p: TelemetryMessage = { type: "picture", step: s, kind: "ghp", file: "pictures/a.png" };
        sent.push(p);
        dash.publish(p);
      }
    }
    const strip = (ms: TelemetryMessage[]) => ms.map(({ time: _t, ...rest }) => rest);
    // "Refresh": a new page load asks again.
    for (let k = 0; k < 2; k++) {
      const h = await (await fetch(`${dash.url}api/history`)).json();
      assert.equal(h.runId, "r1");
      assert.deepEqual(strip(h.messages), sent);
      assert.ok(h.messages.every((m: TelemetryMessage) => typeof m.time === "number"));
    }
    // SSE with ?history=1: reset, the whole log, live marker, then new messages — no gap, no duplicate.
    const res = await fetch(`${dash.url}events?history=1`);
    assert.equal(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
    dash.publish(metrics(51));
    sent.push(metrics(51));
    const frames = await readFrames(res, (f) => f.some((x) => (x.data as MetricsMessage)?.step === 51));
    assert.equal(frames[0].event, "reset");
    const liveAt = frames.findIndex((f) => f.event === "live");
    assert.equal(liveAt, sent.length - 1 + 1, "the live marker follows the replayed log");
    const msgs = frames.filter((f) => f.event === undefined).map((f) => f.data as TelemetryMessage);
    assert.deepEqual(strip(msgs), sent);

    // Server restart on the same run folder: the history is still complete.
    await dash.close();
    dash = await startDashboard({ runsDir: fx.runsDir, runDir: fx.runDir, port: 0 });
    const h2 = await (await fetch(`${dash.url}api/history`)).json();
    assert.deepEqual(strip(h2.messages), sent);
    const runs = await (await fetch(`${dash.url}api/runs`)).json();
    assert.equal(runs.runs.length, 1);
    assert.deepEqual(
      {
        id: runs.runs[0].id,
        current: runs.runs[0].current,
        state: runs.runs[0].state,
        step: runs.runs[0].step,
      },
      { id: "r1", current: true, state: "running", step: 51 },
    );
    const past = await (await fetch(`${dash.url}api/history?run=r1`)).json();
    assert.equal(past.messages.length, sent.length);
    assert.equal((await fetch(`${dash.url}api/history?run=..`)).status, 400);
  } finally {
    await dash.close();
    await fx.cleanup();
  }
});

Deno.test("RunLog: a torn last line is skipped and the next append starts on a fresh line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hpseg_log_" });
  try {
    const log = new RunLog(dir);
    log.append(metrics(1));
    log.append(metrics(2));
    log.close();
    // Simulate a crash mid-append: half a JSON object, no newline.
    const half = JSON.stringify(metrics(3)).slice(0, 40);
    await Deno.writeTextFile(`${dir}/${RUN_LOG_FILE}`, half, { append: true });
    assert.deepEqual((await log.read()).map((m) => (m as MetricsMessage).step), [1, 2]);
    const log2 = new RunLog(dir);
    log2.append(metrics(4));
    log2.close();
    const text = await Deno.readTextFile(`${dir}/${RUN_LOG_FILE}`);
    assert.equal(text.split("\n").length, 5, "2 good lines, the torn one, the new one, final newline");
    assert.deepEqual(parseRunLog(text).map((m) => (m as MetricsMessage).step), [1, 2, 4]);
    assert.deepEqual(parseRunLog('{"type":"nope"}\n[1]\n\n{"type":"eval","step":3,"metrics":{}}'), [
      { type: "eval", step: 3, metrics: {} },
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("TelemetryHub: a cancelled client is removed and a stalled one is dropped, not buffered forever", async () => {
  const hub = new TelemetryHub();
  const a = hub.open([]);
  const b = hub.open([]);
  assert.equal(hub.size, 2);
  await a.cancel();
  assert.equal(hub.size, 1);
  // b never reads: after enough messages it is dropped.
  for (let i = 0; i < 5000 && hub.size > 0; i++) {
    hub.broadcast(metrics(i + 1));
    hub.flush();
  }
  assert.equal(hub.size, 0);
  await b.cancel().catch(() => {});
  // A long replayed history is one queued chunk: the new client is not mistaken for a stalled one.
  const history = Array.from({ length: 6000 }, (_, i) => hub.frame(metrics(i + 1)));
  const c = hub.open(history);
  hub.broadcast(metrics(6001));
  hub.flush();
  assert.equal(hub.size, 1);
  const reader = c.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes('"step":6001')) text += (await reader.read()).value;
  assert.equal(text.split("\n\n").filter((f) => f.startsWith("data:")).length, 6001);
  await reader.cancel();
  assert.equal(hub.size, 0);
});

Deno.test("TelemetryHub: a burst goes out as one chunk per client; opening mid-burst neither loses nor doubles", async () => {
  const hub = new TelemetryHub();
  const a = hub.open([]).getReader();
  for (let s = 1; s <= 3; s++) hub.broadcast(metrics(s));
  hub.flush();
  const chunk = new TextDecoder().decode((await a.read()).value);
  assert.deepEqual(
    [...chunk.matchAll(/"step":(\d+)/g)].map((m) => Number(m[1])),
    [1, 2, 3],
    "one chunk, 3 events",
  );
  hub.broadcast(metrics(4)); // pending (already in the run log when published through startDashboard)
  const b = hub.open([hub.frame(metrics(4))]).getReader(); // its replayed history includes step 4
  hub.broadcast(metrics(5));
  hub.flush();
  const steps = async (r: ReadableStreamDefaultReader<Uint8Array>, n: number) => {
    let t = "";
    while ([...t.matchAll(/"step":/g)].length < n) t += new TextDecoder().decode((await r.read()).value);
    return [...t.matchAll(/"step":(\d+)/g)].map((m) => Number(m[1]));
  };
  assert.deepEqual(await steps(a, 2), [4, 5]);
  assert.deepEqual(await steps(b, 2), [4, 5]);
  await a.cancel();
  await b.cancel();
  assert.equal(hub.size, 0);
});

Deno.test("/events: a client that goes away is removed from the fan-out", async () => {
  const hub = new TelemetryHub();
  const app = createApp({ runsDir: "/nonexistent", hub });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  try {
    const ctl = new AbortController();
    const res = await fetch(`http://127.0.0.1:${server.addr.port}/events`, { signal: ctl.signal });
    const reader = res.body!.getReader();
    await reader.read(); // the reset frame
    assert.equal(hub.size, 1);
    ctl.abort();
    await reader.read().catch(() => {});
    for (let i = 0; i < 100 && hub.size > 0; i++) {
      hub.broadcast({ type: "status", state: "running", runId: "x" });
      hub.flush();
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(hub.size, 0, "aborted client dropped");
  } finally {
    await server.shutdown();
  }
});

/**
 * Dashboard server (issue 7, issue 14; style.md §2.3): Hono app with the embedded page, the runs browser's
 * data routes (dashboard/api.ts), the run history and a Server-Sent Events stream of telemetry
 * (dashboard/hub.ts). `createApp()` builds the app (tests drive it through `app.request()`);
 * `startDashboard()` binds it with `Deno.serve` on the main thread while the trainer runs in a Worker
 * (webgpu-notes.md §1.9: readback blocks the trainer's thread, so the server must not share it).
 *
 * The stream (`GET /events`): `event: reset` (which run, whether it is live, where runs are kept), then with
 * `?snapshot=1` an `event: snapshot` (the run's history, downsampled: dashboard/run_store.ts) or with
 * `?history=1` every logged message, then `event: live` and each new message as it is published. When the
 * run reaches a final state — or the server is only browsing runs on disk — `event: end` follows: the page
 * closes the stream instead of retrying (issue 14 §1). History and subscription happen in one synchronous
 * turn, so no message is lost or doubled.
 *
 * Security (dashboard/security.ts): static files are embedded (dashboard/static_files.ts); only pictures
 * come from disk, after every path segment is checked and the real path is confirmed to lie inside the runs
 * folder. A non-loopback bind requires a token that every request must carry; without one, requests whose
 * Host is not a loopback name are refused (DNS rebinding).
 * @module
 */
import { Hono } from "hono";
import { compress } from "hono/compress";
import { InputError } from "../core/errors.ts";
import {
  compactHistory,
  type DashboardHandle,
  type DashboardOptions,
  parseRunLog,
  readRunLog,
  RUN_LOG_FILE,
  RunLog,
  type TelemetryMessage,
} from "../core/telemetry.ts";
import { TelemetryHub } from "./hub.ts";
import { accessCheck, isInside, isLoopbackHost, SAFE_SEGMENT, safeSegments } from "./security.ts";
import { PAGE_CSP, serveStatic, STATIC_FILES } from "./static_files.ts";
import { RunsIndex } from "./runs_index.ts";
import { isFinalState } from "./run_summary.ts";
import { mountApi, StoreCache } from "./api.ts";

export type { DashboardHandle, DashboardOptions };
export { FLUSH_MS, TelemetryHub } from "./hub.ts";
export { isLoopbackHost } from "./security.ts";
export type { RunSummary } from "./run_summary.ts";

/** Picture file types served from run folders. */
const PICTURE_TYPES: Record<string, string> = { png: "image/png" };

/** Options of {@link createApp}. */
export interface AppOptions {
  /** Output folder with one directory per run. */
  runsDir: string;
  /** Directory of the current run; `/api/history` and `/events` replay its log. */
  runDir?: string;
  /** When set, every request must carry it (header `x-hpseg-token`, `Authorization: Bearer`, `?token=`). */
  token?: string;
  /** Fan-out used by `/events`; pass the one you publish to. */
  hub?: TelemetryHub;
  /** Whether this server trains the current run right now (default false: browsing runs on disk). */
  live?: () => boolean;
  /** The server stays up after the run (`train --keep-serving`); the page says so. */
  keepServing?: boolean;
  /** This server belongs to a trainer (`hpseg train`), not a runs browser (default false). */
  trainer?: boolean;
  /** Summaries of the runs (default: a new index over `runsDir`). */
  index?: RunsIndex;
}

function runIdOf(runDir: string): string {
  return runDir.replace(/\/+$/, "").split("/").pop() ?? "";
}

/**
 * Builds the dashboard app. Routes: `GET /` (page), `/static/*` (embedded files), `GET /events`,
 * `GET /api/history[?run=<id>]` (the whole compacted log), the data routes of dashboard/api.ts, and
 * `GET /runs/<id>/pictures/<file>.png`.
 */
export function createApp(opts: AppOptions): Hono {
  const runsDir = opts.runsDir.replace(/\/+$/, "") || "/";
  const runDir = opts.runDir?.replace(/\/+$/, "");
  const current = runDir ? runIdOf(runDir) : undefined;
  const hub = opts.hub ?? new TelemetryHub();
  const live = opts.live ?? (() => false);
  const keepServing = opts.keepServing ?? false;
  const index = opts.index ?? new RunsIndex(runsDir, { current, live });
  const stores = new StoreCache(runsDir, current);
  let realRunsDir: string | undefined;
  const app = new Hono();

  app.use("*", accessCheck(opts.token));
  app.use("/api/*", compress());

  for (const [path, file] of STATIC_FILES) {
    const extra: Record<string, string> = file.type.startsWith("text/html")
      ? { "content-security-policy": PAGE_CSP }
      : {};
    app.get(path, async (c) => {
      const res = await serveStatic(file, c.req.raw, extra);
      // The access check's headers (the token cookie, nosniff) go on the response built here.
      for (const [k, v] of c.res.headers) if (!res.headers.has(k)) res.headers.set(k, v);
      return res;
    });
  }

  app.get("/api/history", async (c) => {
    const run = c.req.query("run");
    let dir = runDir;
    if (run !== undefined) {
      if (!SAFE_SEGMENT.test(run)) return c.json({ error: "bad run id" }, 400);
      dir = `${runsDir}/${run}`;
      // A run folder (or its log) may be a symlink: only read what really lies inside the runs folder.
      try {
        realRunsDir ??= await Deno.realPath(runsDir);
        const real = await Deno.realPath(`${dir}/${RUN_LOG_FILE}`);
        if (!isInside(real, realRunsDir)) return c.json({ error: "forbidden" }, 403);
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
    }
    if (dir === undefined) return c.json({ runId: null, messages: [] });
    return c.json({ runId: runIdOf(dir), messages: compactHistory(await readRunLog(dir)) });
  });

  mountApi(app, { runsDir, index, current, live, keepServing }, stores);

  app.get("/events", (c) => {
    const isLive = live();
    const initial: Uint8Array[] = [
      hub.frame({
        runId: current ?? null,
        live: isLive,
        trainer: opts.trainer ?? false,
        keepServing,
        runsDir,
      }, "reset"),
    ];
    // Synchronous reads: history and subscription happen in one turn, so no message is lost or doubled.
    let ended = !isLive;
    if (runDir !== undefined && c.req.query("snapshot") === "1") {
      const store = stores.get(current!);
      store.refreshSync();
      const snap = store.snapshot(current!);
      initial.push(hub.frame(snap as unknown as Record<string, unknown>, "snapshot"));
      ended ||= isFinalState(snap.statuses.at(-1)?.state);
    } else if (runDir !== undefined && c.req.query("history") === "1") {
      let text = "";
      try {
        text = Deno.readTextFileSync(`${runDir}/${RUN_LOG_FILE}`);
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
      const msgs = compactHistory(parseRunLog(text));
      for (const m of msgs) initial.push(hub.frame(m));
      const last = msgs.findLast((m) => m.type === "status");
      ended ||= last?.type === "status" && isFinalState(last.state);
    }
    initial.push(hub.frame({}, "live"));
    if (ended && runDir !== undefined) initial.push(hub.frame({}, "end"));
    const body = hub.open(initial);
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        "x-accel-buffering": "no",
      },
    });
  });

  app.get("/runs/*", async (c) => {
    const rawPath = new URL(c.req.url).pathname.slice("/runs/".length);
    const segs = safeSegments(rawPath);
    // <id>/pictures/<name>.png, possibly with one subfolder level below pictures/.
    if (!segs || segs.length < 3 || segs.length > 4 || segs[1] !== "pictures") {
      return c.text("404 Not Found", 404);
    }
    const ext = segs[segs.length - 1].split(".").pop()!.toLowerCase();
    const type = PICTURE_TYPES[ext];
    if (!type) return c.text("404 Not Found", 404);
    try {
      realRunsDir ??= await Deno.realPath(runsDir);
      const real = await Deno.realPath(`${runsDir}/${segs.join("/")}`);
      // A symlink may point anywhere: only serve what really lies inside the runs folder.
      if (!isInside(real, realRunsDir)) return c.text("403 Forbidden", 403);
      const st = await Deno.stat(real);
      if (!st.isFile) return c.text("404 Not Found", 404);
      // Pictures are written atomically and rarely replaced (a resumed run redraws a step): revalidate.
      const etag = `W/"${st.size.toString(36)}-${(st.mtime?.getTime() ?? 0).toString(36)}"`;
      c.header("etag", etag);
      c.header("cache-control", "no-cache");
      if (c.req.header("if-none-match")?.split(",").some((t) => t.trim() === etag)) return c.body(null, 304);
      const bytes = await Deno.readFile(real);
      c.header("content-type", type);
      return c.body(bytes);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return c.text("404 Not Found", 404);
      throw err;
    }
  });

  app.notFound((c) => c.text("404 Not Found", 404));
  app.onError((err, c) => {
    console.error(`dashboard: ${c.req.method} ${new URL(c.req.url).pathname}: ${err.message}`);
    return c.text("500 Internal Server Error", 500);
  });
  return app;
}

/** After the last request, how long a closing server waits for a page's follow-up requests (ms). */
const QUIET_MS = 300;
/** Longest a closing server waits for open pages (final frames delivered, follow-up requests done). */
const CLOSE_WAIT_MS = 2000;

/**
 * Starts the dashboard on `host:port` (default 127.0.0.1:8787) for the run in `runDir`. `publish` appends the
 * message to `<runDir>/metrics.jsonl` and sends it to every open page. A non-loopback host needs a token.
 */
export async function startDashboard(opts: DashboardOptions): Promise<DashboardHandle> {
  const host = opts.host ?? "127.0.0.1";
  const port = opts.port ?? 8787;
  if (!isLoopbackHost(host) && !opts.token) {
    throw new InputError(
      `Refusing to serve the dashboard on non-loopback host ${host} without a token`,
      { hint: "pass --token <secret> (every request must then carry it), or keep --host 127.0.0.1" },
    );
  }
  if (opts.token !== undefined && opts.token.length < 8) {
    throw new InputError(`Dashboard token is too short (${opts.token.length} characters, need at least 8)`);
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InputError(`Dashboard port must be an integer in 0..65535, got ${port}`);
  }
  if (opts.runDir === undefined && !opts.readOnly) {
    throw new TypeError("startDashboard: runDir is required unless readOnly is set");
  }
  const log = opts.readOnly ? undefined : new RunLog(opts.runDir!);
  if (!opts.readOnly) await Deno.mkdir(opts.runDir!, { recursive: true });
  const runsDir = opts.runsDir.replace(/\/+$/, "") || "/";
  const current = opts.runDir ? runIdOf(opts.runDir) : undefined;
  let closed = false, ended = false;
  const live = () => !opts.readOnly && !closed && !ended;
  const hub = new TelemetryHub();
  const index = new RunsIndex(runsDir, { current, live });
  const app = createApp({
    runsDir,
    runDir: opts.runDir,
    token: opts.token,
    hub,
    live,
    keepServing: opts.keepServing,
    trainer: !opts.readOnly,
    index,
  });
  // Requests in flight and the last one's start: a closing server lets a page finish its follow-ups.
  let inFlight = 0, lastRequest = 0;
  const handler = async (req: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>) => {
    const sse = new URL(req.url).pathname === "/events";
    if (!sse) inFlight++;
    lastRequest = Date.now();
    try {
      return await app.fetch(req, info);
    } finally {
      if (!sse) inFlight--;
    }
  };
  const abort = new AbortController();
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({ hostname: host, port, signal: abort.signal, onListen: () => {} }, handler);
  } catch (err) {
    if (err instanceof Deno.errors.AddrInUse) {
      throw new InputError(`Cannot start the dashboard on ${host}:${port}: address in use`, {
        hint: "pass --port <n> (or --port 0 for any free port)",
      });
    }
    throw err;
  }
  const addr = server.addr;
  const shownHost = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  const q = opts.token ? `?token=${encodeURIComponent(opts.token)}` : "";
  return {
    url: `http://${shownHost}:${addr.port}/${q}`,
    publish(msg: TelemetryMessage): void {
      if (closed) return;
      if (!log) throw new Error("startDashboard: publish() on a read-only dashboard");
      const { message, json } = log.appendJson(msg);
      hub.broadcast(message, json); // serialised once for the log and every stream
      if (message.type === "status") {
        const final = isFinalState(message.state);
        ended = final;
        // The final state reaches every open page now, followed by `end`: they stop listening.
        if (final) hub.end();
      }
    },
    async close(): Promise<void> {
      if (closed) return;
      const pages = hub.size;
      closed = true;
      await hub.closeAll(CLOSE_WAIT_MS);
      if (current !== undefined && !opts.readOnly) await index.save(current).catch(() => {});
      // Open pages fetch once more after the end (the runs list, the last picture): let them finish.
      if (pages > 0) {
        const deadline = Date.now() + CLOSE_WAIT_MS;
        while (Date.now() < deadline && (inFlight > 0 || Date.now() - lastRequest < QUIET_MS)) {
          await new Promise((r) => setTimeout(r, 25));
        }
      }
      abort.abort();
      await server.finished;
      log?.close();
    },
  };
}

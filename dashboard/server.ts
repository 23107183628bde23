/**
 * Dashboard server (issue 7; style.md §2.3): Hono app with the embedded page, the run list, the run history
 * and a Server-Sent Events stream of telemetry. `createApp()` builds the app (tests drive it through
 * `app.request()`); `startDashboard()` binds it with `Deno.serve` on the main thread while the trainer runs in
 * a Worker (webgpu-notes.md §1.9: readback blocks the trainer's thread, so the server must not share it).
 *
 * Security: the page, script, styles and Chart.js are text imports (embedded in the module graph; no file is
 * read relative to the working directory). Only picture files come from disk, and only after every path
 * segment is checked and the resolved real path is confirmed to lie inside the runs folder. A non-loopback
 * bind requires a token that every request must carry. Without a token, requests whose Host header is not a
 * loopback name are refused (DNS rebinding). With a token, a request that carries it explicitly gets it back as
 * an HttpOnly, SameSite=Strict cookie, which then authorises the page's own sub-requests.
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { InputError } from "../core/errors.ts";
import { lockHolder } from "../core/train/run_lock.ts";
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
import indexHtml from "./static/index.html" with { type: "text" };
import appJs from "./static/app.js" with { type: "text" };
import styleCss from "./static/style.css" with { type: "text" };
import chartJs from "./static/vendor/chart.umd.min.js" with { type: "text" };

export type { DashboardHandle, DashboardOptions };

/** Embedded static assets: URL path → [content type, body]. Nothing else is served from memory. */
const STATIC: ReadonlyMap<string, [string, string]> = new Map([
  ["/", ["text/html; charset=utf-8", indexHtml]],
  ["/index.html", ["text/html; charset=utf-8", indexHtml]],
  ["/static/app.js", ["text/javascript; charset=utf-8", appJs]],
  ["/static/style.css", ["text/css; charset=utf-8", styleCss]],
  ["/static/vendor/chart.umd.min.js", ["text/javascript; charset=utf-8", chartJs]],
]);

/** Picture file types served from run folders. */
const PICTURE_TYPES: Record<string, string> = { png: "image/png" };

/** A run id or a path segment below it: no separators, no leading dot (rules out `.`, `..`, dotfiles). */
const SAFE_SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

/** Loopback host names accepted in the Host header when no token is set. */
const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

/** True for addresses that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return h === "localhost" || h === "::1" || h === "[::1]" || /^127(\.\d{1,3}){3}$/.test(h);
}

/** Compares two strings in time independent of where they first differ. */
function safeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/** Most chunks that may wait in one client's queue before that client is dropped (a stalled page). */
const MAX_QUEUED = 1024;

/** Frames published within this many ms go out as one write per client. */
export const FLUSH_MS = 25;

interface SseClient {
  controller: ReadableStreamDefaultController<Uint8Array>;
  closed: boolean;
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const all = new Uint8Array(parts.reduce((n, f) => n + f.length, 0));
  let off = 0;
  for (const f of parts) {
    all.set(f, off);
    off += f.length;
  }
  return all;
}

/**
 * Fan-out of telemetry to connected `/events` streams. Each message is encoded once; frames published within
 * {@link FLUSH_MS} are joined and the same bytes are queued on every stream, so a burst of messages costs one
 * write per page, not one per message and page (each message is still its own SSE event). A client whose
 * queue grows past {@link MAX_QUEUED} chunks (it stopped reading) is dropped rather than buffered without
 * bound.
 */
export class TelemetryHub {
  #clients = new Set<SseClient>();
  #enc = new TextEncoder();
  #ping: ReturnType<typeof setInterval> | undefined;
  #pending: Uint8Array[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** Number of connected streams. */
  get size(): number {
    return this.#clients.size;
  }

  /** Encodes one SSE frame. */
  frame(msg: TelemetryMessage | Record<string, unknown>, event?: string): Uint8Array {
    const head = event ? `event: ${event}\n` : "";
    return this.#enc.encode(`${head}data: ${JSON.stringify(msg)}\n\n`);
  }

  /** Queues `msg` for every connected stream. `json`, when given, is `msg` already serialised. */
  broadcast(msg: TelemetryMessage, json?: string): void {
    if (this.#clients.size === 0) return;
    this.#pending.push(json === undefined ? this.frame(msg) : this.#enc.encode(`data: ${json}\n\n`));
    this.#timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  /** Sends queued frames now. */
  flush(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.length === 0) return;
    const bytes = concat(this.#pending);
    this.#pending = [];
    for (const c of this.#clients) this.#send(c, bytes);
  }

  #send(c: SseClient, bytes: Uint8Array): void {
    if (c.closed) return;
    if ((c.controller.desiredSize ?? 0) < -MAX_QUEUED) {
      this.#drop(c, true);
      return;
    }
    try {
      c.controller.enqueue(bytes);
    } catch {
      this.#drop(c, false);
    }
  }

  #drop(c: SseClient, close: boolean): void {
    c.closed = true;
    this.#clients.delete(c);
    if (close) {
      try {
        c.controller.close();
      } catch { /* already closed */ }
    }
    if (this.#clients.size === 0) {
      if (this.#ping !== undefined) clearInterval(this.#ping);
      this.#ping = undefined;
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#pending = [];
    }
  }

  /**
   * Opens one stream. `initial` frames are queued (as one chunk) before any live message. Frames still
   * waiting for a flush go to the existing streams first: they are already in the run log, so a replayed
   * history includes them. Because this runs synchronously on the thread that also calls
   * {@link broadcast}, no message falls between the history and the live feed, and none arrives twice.
   * The stream ends when the client goes away: Deno.serve then cancels the response body.
   */
  open(initial: Uint8Array[]): ReadableStream<Uint8Array> {
    this.flush();
    let client: SseClient | undefined;
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        client = { controller, closed: false };
        if (initial.length > 0) controller.enqueue(concat(initial));
        this.#clients.add(client);
        if (this.#ping === undefined) {
          // A comment line every 15 s keeps proxies from closing an idle stream.
          const id = setInterval(() => {
            const ping = this.#enc.encode(": ping\n\n");
            for (const c of this.#clients) this.#send(c, ping);
          }, 15_000);
          Deno.unrefTimer(id);
          this.#ping = id;
        }
      },
      cancel: () => {
        if (client) this.#drop(client, false);
      },
    }, { highWaterMark: 1 });
    return stream;
  }

  /** Sends what is queued, then ends every stream (server shutdown). */
  closeAll(): void {
    this.flush();
    for (const c of [...this.#clients]) this.#drop(c, true);
  }
}

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
}

/** Summary of one run for `/api/runs`. */
export interface RunSummary {
  id: string;
  current: boolean;
  state?: string;
  step?: number;
  totalSteps?: number;
  messages: number;
  modified: number | null;
  lastEval?: Record<string, number>;
}

/** Name of the cookie that carries the token for the page's own requests (per port: one host, many runs). */
function cookieName(c: Context): string {
  return `hpseg_token_${new URL(c.req.url).port || "80"}`;
}

/** The token a request carries, and whether it came explicitly (header or query) rather than by cookie. */
function requestToken(c: Context): { token?: string; explicit: boolean } {
  const h = c.req.header("x-hpseg-token");
  if (h) return { token: h, explicit: true };
  const auth = c.req.header("authorization");
  if (auth?.startsWith("Bearer ")) return { token: auth.slice(7), explicit: true };
  const q = new URL(c.req.url).searchParams.get("token");
  if (q !== null) return { token: q, explicit: true };
  const name = cookieName(c);
  for (const part of (c.req.header("cookie") ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return { token: decodeURIComponent(v.join("=")), explicit: false };
  }
  return { explicit: false };
}

function runIdOf(runDir: string): string {
  return runDir.replace(/\/+$/, "").split("/").pop() ?? "";
}

/** Splits and decodes a URL path, refusing anything but plain safe segments. Returns undefined if refused. */
function safeSegments(rawPath: string): string[] | undefined {
  const out: string[] = [];
  for (const raw of rawPath.split("/")) {
    let seg: string;
    try {
      seg = decodeURIComponent(raw);
    } catch {
      return undefined;
    }
    if (!SAFE_SEGMENT.test(seg)) return undefined;
    out.push(seg);
  }
  return out;
}

async function summarise(runsDir: string, id: string, current: boolean): Promise<RunSummary | undefined> {
  const path = `${runsDir}/${id}/${RUN_LOG_FILE}`;
  let text: string;
  let modified: number | null = null;
  try {
    const st = await Deno.stat(path);
    modified = st.mtime?.getTime() ?? null;
    text = await Deno.readTextFile(path);
  } catch {
    return undefined;
  }
  const msgs = compactHistory(parseRunLog(text));
  const s: RunSummary = { id, current, messages: msgs.length, modified };
  for (const m of msgs) {
    if (m.type === "status") s.state = m.state;
    else if (m.type === "metrics") {
      s.step = m.step;
      s.totalSteps = m.totalSteps;
    } else if (m.type === "eval") s.lastEval = m.metrics;
  }
  // A trainer killed outright (SIGKILL, power loss) cannot log its end: no live lock means it is not running.
  if (
    !current && ["starting", "running", "evaluating"].includes(s.state ?? "") &&
    !lockHolder(`${runsDir}/${id}`)
  ) {
    s.state = "interrupted";
  }
  return s;
}

/**
 * Builds the dashboard app. Routes: `GET /` (page), `/static/*` (embedded assets), `GET /events` (SSE;
 * `?history=1` first replays the run log after an `event: reset` frame), `GET /api/history[?run=<id>]`,
 * `GET /api/runs`, `GET /runs/<id>/pictures/<file>.png`.
 */
export function createApp(opts: AppOptions): Hono {
  const runsDir = opts.runsDir.replace(/\/+$/, "") || "/";
  const runDir = opts.runDir?.replace(/\/+$/, "");
  const hub = opts.hub ?? new TelemetryHub();
  const token = opts.token;
  let realRunsDir: string | undefined;
  const app = new Hono();

  app.use("*", async (c, next) => {
    if (token !== undefined) {
      const got = requestToken(c);
      if (got.token === undefined || !safeEqual(got.token, token)) {
        return c.text("401 Unauthorized: this dashboard needs its token (?token=… or x-hpseg-token)", 401);
      }
      if (got.explicit) {
        // The page's own requests (scripts, styles, EventSource, pictures) then carry it as a cookie that
        // scripts cannot read and other sites cannot send.
        c.header(
          "set-cookie",
          `${cookieName(c)}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict`,
        );
      }
    } else {
      const host = (c.req.header("host") ?? new URL(c.req.url).host).replace(/:\d+$/, "");
      if (!LOOPBACK_NAMES.has(host.toLowerCase()) && !isLoopbackHost(host)) {
        return c.text(`403 Forbidden: host "${host}" is not a loopback name`, 403);
      }
    }
    await next();
    c.header("x-content-type-options", "nosniff");
    c.header("referrer-policy", "no-referrer");
  });

  for (const [path, [type, body]] of STATIC) {
    app.get(path, (c) => {
      c.header("content-type", type);
      c.header("cache-control", "no-cache");
      if (type.startsWith("text/html")) {
        c.header(
          "content-security-policy",
          "default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; connect-src 'self'",
        );
      }
      return c.body(body);
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
        if (!real.startsWith(realRunsDir.replace(/\/?$/, "/"))) return c.json({ error: "forbidden" }, 403);
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
    }
    if (dir === undefined) return c.json({ runId: null, messages: [] });
    return c.json({ runId: runIdOf(dir), messages: compactHistory(await readRunLog(dir)) });
  });

  app.get("/api/runs", async (c) => {
    const current = runDir ? runIdOf(runDir) : undefined;
    const runs: RunSummary[] = [];
    try {
      for await (const e of Deno.readDir(runsDir)) {
        if (!e.isDirectory || !SAFE_SEGMENT.test(e.name)) continue;
        const s = await summarise(runsDir, e.name, e.name === current);
        if (s) runs.push(s);
      }
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    runs.sort((a, b) => (b.modified ?? 0) - (a.modified ?? 0));
    return c.json({ runsDir, current: current ?? null, runs });
  });

  app.get("/events", (c) => {
    const initial: Uint8Array[] = [hub.frame({ runId: runDir ? runIdOf(runDir) : null }, "reset")];
    if (c.req.query("history") === "1" && runDir !== undefined) {
      // Synchronous read: history and subscription happen in one turn, so no message is lost or doubled.
      let text = "";
      try {
        text = Deno.readTextFileSync(`${runDir}/${RUN_LOG_FILE}`);
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
      for (const m of compactHistory(parseRunLog(text))) initial.push(hub.frame(m));
    }
    initial.push(hub.frame({}, "live"));
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
      if (!real.startsWith(realRunsDir.replace(/\/?$/, "/"))) return c.text("403 Forbidden", 403);
      const st = await Deno.stat(real);
      if (!st.isFile) return c.text("404 Not Found", 404);
      const bytes = await Deno.readFile(real);
      c.header("content-type", type);
      c.header("cache-control", "no-cache");
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
  const hub = new TelemetryHub();
  const app = createApp({ runsDir: opts.runsDir, runDir: opts.runDir, token: opts.token, hub });
  const abort = new AbortController();
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({ hostname: host, port, signal: abort.signal, onListen: () => {} }, app.fetch);
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
  let closed = false;
  return {
    url: `http://${shownHost}:${addr.port}/${q}`,
    publish(msg: TelemetryMessage): void {
      if (closed) return;
      if (!log) throw new Error("startDashboard: publish() on a read-only dashboard");
      const { message, json } = log.appendJson(msg);
      hub.broadcast(message, json); // serialised once for the log and every stream
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      hub.closeAll();
      abort.abort();
      await server.finished;
      log?.close();
    },
  };
}

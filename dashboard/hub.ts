/**
 * Fan-out of telemetry to the dashboard's open `/events` streams (issue 7; issue 14 §1). Split out of
 * dashboard/server.ts, which re-exports it.
 *
 * Issue 14 §1 (the open page never learned that the run finished): a final status is followed by an
 * `event: end` frame and sent at once (no flush delay), and {@link TelemetryHub.closeAll} waits — bounded —
 * until every stream has handed its last bytes to the connection before ending it, so a server that stops
 * right after a run (or a Ctrl-C) still delivers "done"/"stopped"/"failed" to every open page.
 * @module
 */
import type { TelemetryMessage } from "../core/telemetry.ts";

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

  /** Queues `event: end` (the run reached a final state: pages stop listening) and sends it at once. */
  end(): void {
    if (this.#clients.size === 0) return;
    this.#pending.push(this.frame({}, "end"));
    this.flush();
  }

  /** True when every stream's queue has been taken by its connection. */
  get drained(): boolean {
    for (const c of this.#clients) if ((c.controller.desiredSize ?? 1) < 1) return false;
    return true;
  }

  /**
   * Sends what is queued, waits until every stream has handed it to its connection (at most `waitMs`),
   * then ends every stream (server shutdown).
   */
  async closeAll(waitMs = 2000): Promise<void> {
    this.flush();
    const deadline = Date.now() + waitMs;
    while (!this.drained && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    for (const c of [...this.#clients]) this.#drop(c, true);
  }
}

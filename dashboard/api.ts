/**
 * The dashboard's data routes (issue 14 §2, §3, §8), mounted by dashboard/server.ts:
 *
 * - `GET /api/runs` — every run's summary (dashboard/runs_index.ts), cheap on long logs.
 * - `GET /api/snapshot?run=<id>[&points=N]` — a run's history for a page: statuses, evaluations (with
 *   per-class detail), pictures, configuration and every metrics series downsampled to N points
 *   (dashboard/run_store.ts), plus its summary.
 * - `GET /api/series?run=<id>&keys=a,b[&from=S&to=S][&points=N][&format=json|csv]` — series at full
 *   resolution in a step range (zooming), or as a download (`format`, every key when `keys` is absent).
 * - `PUT /api/runs/<id>/meta` — a run's name and notes (JSON `{name, notes}`), from the page only.
 * @module
 */
import type { Context, Hono } from "hono";
import { RUN_LOG_FILE } from "../core/telemetry.ts";
import { isInside, SAFE_SEGMENT, sameOriginWrite } from "./security.ts";
import { isPermissionError, type RunsIndex } from "./runs_index.ts";
import { MAX_POINTS, RunStore, SNAPSHOT_POINTS } from "./run_store.ts";

/** Run stores kept in memory besides the current run's (each holds a run's series). */
const MAX_STORES = 4;

/** Where the data routes find runs. */
export interface RunsData {
  runsDir: string;
  index: RunsIndex;
  /** The run this server trains (its store is kept), if any. */
  current?: string;
  /** Whether this server trains a run right now, and whether it stays up after the run. */
  live: () => boolean;
  keepServing: boolean;
}

/** Run stores by id: the current run's kept, others least-recently-used. */
export class StoreCache {
  #stores = new Map<string, RunStore>();
  constructor(readonly runsDir: string, readonly current?: string) {}

  get(id: string): RunStore {
    let s = this.#stores.get(id);
    if (s) {
      this.#stores.delete(id);
    } else {
      s = new RunStore(`${this.runsDir}/${id}`);
    }
    this.#stores.set(id, s);
    const others = [...this.#stores.keys()].filter((k) => k !== this.current);
    while (others.length > MAX_STORES) this.#stores.delete(others.shift()!);
    return s;
  }
}

function intParam(v: string | undefined, fallback: number, max: number): number {
  const n = v === undefined ? NaN : Number(v);
  return Number.isInteger(n) && n >= 0 ? Math.min(n, max) : fallback;
}

function numParam(v: string | undefined, fallback: number): number {
  const n = v === undefined || v === "" ? NaN : Number(v);
  return Number.isFinite(n) ? n : fallback;
}

/** Mounts the data routes on `app`. */
export function mountApi(app: Hono, data: RunsData, stores: StoreCache): void {
  const { runsDir, index } = data;
  let realRunsDir: string | undefined;

  /** The run id of the request, when it names a run folder really inside the runs folder. */
  async function runOf(c: Context): Promise<{ id: string } | Response> {
    const id = c.req.query("run") ?? c.req.param("id") ?? data.current;
    if (id === undefined) return c.json({ error: "no run" }, 404);
    if (!SAFE_SEGMENT.test(id)) return c.json({ error: "bad run id" }, 400);
    try {
      realRunsDir ??= await Deno.realPath(runsDir);
      const real = await Deno.realPath(`${runsDir}/${id}/${RUN_LOG_FILE}`);
      // A run folder (or its log) may be a symlink: only read what really lies inside the runs folder.
      if (!isInside(real, realRunsDir)) return c.json({ error: "forbidden" }, 403);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return c.json({ error: `no run ${id}` }, 404);
      throw err;
    }
    return { id };
  }

  app.get("/api/runs", async (c) => {
    c.header("cache-control", "no-store");
    return c.json({
      runsDir,
      current: data.current ?? null,
      live: data.live(),
      keepServing: data.keepServing,
      runs: await index.list(),
    });
  });

  app.get("/api/snapshot", async (c) => {
    const run = await runOf(c);
    if (run instanceof Response) return run;
    const store = stores.get(run.id);
    await store.refresh();
    const points = intParam(c.req.query("points"), SNAPSHOT_POINTS, MAX_POINTS);
    c.header("cache-control", "no-store");
    return c.json({ ...store.snapshot(run.id, points), summary: await index.summary(run.id) });
  });

  app.get("/api/series", async (c) => {
    const run = await runOf(c);
    if (run instanceof Response) return run;
    const store = stores.get(run.id);
    await store.refresh();
    const keys = c.req.query("keys")?.split(",").filter((k) => k.length > 0);
    const format = c.req.query("format");
    c.header("cache-control", "no-store");
    if (format === "csv" || format === "json") {
      // Downloads: full resolution, absolute times.
      const chosen = keys ?? store.keys();
      const name = `${run.id}${keys && keys.length <= 3 ? "_" + keys.join("_") : ""}`.replace(
        /[^\w.-]+/g,
        "_",
      );
      c.header("content-disposition", `attachment; filename="${name}.${format}"`);
      if (format === "json") {
        const series: Record<string, { step: number[]; time: number[]; value: number[] }> = {};
        for (const k of chosen) {
          const s = store.full(k);
          series[k] = { step: s.step, time: s.time, value: s.y };
        }
        return c.json({ runId: run.id, series });
      }
      const rows = ["series,step,time_ms,value"];
      for (const k of chosen) {
        const s = store.full(k);
        for (let i = 0; i < s.step.length; i++) rows.push(`${k},${s.step[i]},${s.time[i]},${s.y[i]}`);
      }
      c.header("content-type", "text/csv; charset=utf-8");
      return c.body(rows.join("\n") + "\n");
    }
    const points = intParam(c.req.query("points"), 2000, MAX_POINTS);
    const from = numParam(c.req.query("from"), -Infinity), to = numParam(c.req.query("to"), Infinity);
    return c.json({ runId: run.id, series: store.series(keys, points, from, to) });
  });

  app.put("/api/runs/:id/meta", async (c) => {
    if (!sameOriginWrite(c)) return c.json({ error: "send JSON from the dashboard page" }, 403);
    const run = await runOf(c);
    if (run instanceof Response) return run;
    let body: { name?: unknown; notes?: unknown };
    try {
      body = await c.req.json();
    } catch {
      return c.json({ error: "body is not JSON" }, 400);
    }
    const str = (v: unknown) => (typeof v === "string" ? v : undefined);
    try {
      const meta = await index.setMeta(run.id, { name: str(body?.name), notes: str(body?.notes) });
      return c.json(meta);
    } catch (err) {
      if (isPermissionError(err)) {
        return c.json({
          error:
            `this server may not write to ${runsDir}/${run.id} (start it with write access to the runs folder)`,
        }, 403);
      }
      throw err;
    }
  });
}

/**
 * The runs folder as the runs browser sees it (issue 14 §2, §8): one {@link RunSummary} per run folder with a
 * log, kept up to date by folding only the lines appended since the last look (dashboard/log_tail.ts,
 * dashboard/run_summary.ts), so `/api/runs` costs a `stat` per run rather than a parse of every log. Where
 * the server may write, summaries are saved to `<runDir>/summary.json` (every few MB of new log and at a
 * final state), so a server started later only reads what was appended since. Names and notes the user
 * gives a run live in `<runDir>/meta.json`.
 *
 * True statuses: a run is "live" only while this server trains it; a run whose log ends in a non-final state
 * and whose folder lock has no living owner was killed outright and is listed as "interrupted".
 * @module
 */
import { RUN_LOG_FILE } from "../core/telemetry.ts";
import { lockHolder } from "../core/train/run_lock.ts";
import { writeFileAtomic } from "../core/io/atomic.ts";
import { LogTail } from "./log_tail.ts";
import {
  emptySummary,
  foldBytes,
  isFinalState,
  readSavedSummary,
  type RunSummary,
  SUMMARY_FILE,
  SUMMARY_VERSION,
} from "./run_summary.ts";

/** File name of a run's user-given name and notes. */
export const META_FILE = "meta.json";
/** Longest name and notes accepted. */
export const MAX_NAME = 120;
export const MAX_NOTES = 4000;
/** A summary is saved again once this much new log was folded since the last save. */
const SAVE_EVERY_BYTES = 4 << 20;

/** A run id: one safe path segment (no separators, no leading dot). */
export const RUN_ID = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

/** What a user may set on a run. */
export interface RunMeta {
  name?: string;
  notes?: string;
}

interface Entry {
  tail: LogTail;
  summary: RunSummary;
  /** Log offset of the last saved summary (−1: none). */
  saved: number;
  /** Serialises refreshes of this entry (two requests must not fold the same lines twice). */
  queue: Promise<unknown>;
}

/** Options of {@link RunsIndex}. */
export interface RunsIndexOptions {
  /** The run this server trains (its lock is ours, so it is never "interrupted"). */
  current?: string;
  /** Whether the current run is being trained by this server right now. */
  live?: () => boolean;
  /** Save summaries to the run folders (default true; turned off at the first permission error). */
  persist?: boolean;
}

/** True for a refused write (no --allow-write, a read-only folder), also when wrapped by writeFileAtomic. */
export function isPermissionError(err: unknown): boolean {
  const cause = (err as { cause?: unknown })?.cause;
  if (cause !== undefined && cause !== err && isPermissionError(cause)) return true;
  return err instanceof Deno.errors.PermissionDenied || err instanceof Deno.errors.NotCapable ||
    /read-only file system/i.test((err as Error)?.message ?? "");
}

/** Summaries of every run in a runs folder; see the module comment. */
export class RunsIndex {
  #entries = new Map<string, Entry>();
  #persist: boolean;

  constructor(readonly runsDir: string, readonly opts: RunsIndexOptions = {}) {
    this.#persist = opts.persist ?? true;
  }

  /** Summaries of every run folder holding a log, most recently modified first. */
  async list(): Promise<RunSummary[]> {
    const ids: string[] = [];
    try {
      for await (const e of Deno.readDir(this.runsDir)) {
        if (e.isDirectory && RUN_ID.test(e.name)) ids.push(e.name);
      }
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    const all = await Promise.all(ids.map((id) => this.summary(id)));
    const runs = all.filter((s): s is RunSummary => s !== undefined);
    runs.sort((a, b) => (b.modified ?? 0) - (a.modified ?? 0) || (a.id < b.id ? -1 : 1));
    return runs;
  }

  /** The up-to-date summary of run `id` (a copy), or undefined when it has no log. */
  async summary(id: string): Promise<RunSummary | undefined> {
    if (!RUN_ID.test(id)) return undefined;
    const dir = `${this.runsDir}/${id}`;
    let st: Deno.FileInfo;
    try {
      st = await Deno.stat(`${dir}/${RUN_LOG_FILE}`);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return undefined;
      throw err;
    }
    if (!st.isFile) return undefined;
    const entry = await this.#refresh(id, st.size);
    const s: RunSummary = { ...entry.summary, modified: st.mtime?.getTime() ?? null };
    const current = id === this.opts.current;
    s.current = current;
    s.live = current && (this.opts.live?.() ?? false) && !isFinalState(s.state);
    // A trainer killed outright (SIGKILL, power loss) cannot log its end: no living lock owner, not running.
    if (!s.live && ["starting", "running", "evaluating"].includes(s.state) && !lockHolder(dir)) {
      s.state = "interrupted";
    }
    const meta = await this.#readMeta(dir);
    if (meta.name) s.name = meta.name;
    if (meta.notes) s.notes = meta.notes;
    return s;
  }

  /** Saves the summary of run `id` now when it covers more of the log than the saved one. */
  async save(id: string): Promise<void> {
    if (!this.#entries.has(id)) await this.summary(id);
    const entry = this.#entries.get(id);
    if (!entry) return;
    await this.#serial(entry, async () => {
      await this.#fold(id, entry);
      await this.#write(id, entry);
    });
  }

  /** Sets a run's name and notes (trimmed; empty removes them). */
  async setMeta(id: string, meta: RunMeta): Promise<RunMeta> {
    if (!RUN_ID.test(id)) throw new RangeError(`bad run id "${id}"`);
    const dir = `${this.runsDir}/${id}`;
    const st = await Deno.stat(`${dir}/${RUN_LOG_FILE}`); // NotFound: not a run
    if (!st.isFile) throw new Deno.errors.NotFound(`${id} is not a run`);
    const out: RunMeta = {};
    const name = meta.name?.trim(), notes = meta.notes?.trim();
    if (name) out.name = name.slice(0, MAX_NAME);
    if (notes) out.notes = notes.slice(0, MAX_NOTES);
    await writeFileAtomic(`${dir}/${META_FILE}`, JSON.stringify(out, null, 2) + "\n");
    return out;
  }

  async #readMeta(dir: string): Promise<RunMeta> {
    try {
      const v = JSON.parse(await Deno.readTextFile(`${dir}/${META_FILE}`));
      return {
        name: typeof v?.name === "string" ? v.name.slice(0, MAX_NAME) : undefined,
        notes: typeof v?.notes === "string" ? v.notes.slice(0, MAX_NOTES) : undefined,
      };
    } catch {
      return {};
    }
  }

  #serial<T>(entry: Entry, fn: () => Promise<T>): Promise<T> {
    const next = entry.queue.then(fn, fn);
    entry.queue = next.catch(() => {});
    return next;
  }

  async #refresh(id: string, size: number): Promise<Entry> {
    let entry = this.#entries.get(id);
    if (!entry) {
      const created = await this.#load(id);
      entry = this.#entries.get(id) ?? created; // another request may have loaded it meanwhile
      this.#entries.set(id, entry);
    }
    const e = entry;
    if (size === e.tail.offset) return e;
    await this.#serial(e, async () => {
      await this.#fold(id, e);
      const due = e.tail.offset - Math.max(0, e.saved) >= SAVE_EVERY_BYTES ||
        (isFinalState(e.summary.state) && e.saved !== e.tail.offset);
      if (due) await this.#write(id, e);
    });
    return e;
  }

  /** Folds what was appended to the log since the last look (from the start when it was replaced). */
  async #fold(id: string, e: Entry): Promise<void> {
    await e.tail.readBlocks((bytes) => foldBytes(e.summary, bytes), () => {
      e.summary = emptySummary(id);
      e.saved = -1;
    });
  }

  async #load(id: string): Promise<Entry> {
    const dir = `${this.runsDir}/${id}`;
    let saved: ReturnType<typeof readSavedSummary>;
    try {
      saved = readSavedSummary(await Deno.readTextFile(`${dir}/${SUMMARY_FILE}`));
    } catch { /* none yet */ }
    if (saved && saved.summary.id === id) {
      return {
        tail: new LogTail(`${dir}/${RUN_LOG_FILE}`, saved.logBytes),
        summary: saved.summary,
        saved: saved.logBytes,
        queue: Promise.resolve(),
      };
    }
    return {
      tail: new LogTail(`${dir}/${RUN_LOG_FILE}`),
      summary: emptySummary(id),
      saved: -1,
      queue: Promise.resolve(),
    };
  }

  async #write(id: string, e: Entry): Promise<void> {
    if (!this.#persist || e.saved === e.tail.offset) return;
    const body = { version: SUMMARY_VERSION, logBytes: e.tail.offset, summary: e.summary };
    try {
      await writeFileAtomic(`${this.runsDir}/${id}/${SUMMARY_FILE}`, JSON.stringify(body));
      e.saved = e.tail.offset;
    } catch (err) {
      if (isPermissionError(err)) this.#persist = false; // a read-only browser: keep summaries in memory
      else console.error(`dashboard: cannot save ${id}/${SUMMARY_FILE}: ${(err as Error).message}`);
    }
  }
}

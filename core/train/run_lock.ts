/**
 * One trainer per run folder: `<runDir>/run.lock` holds the owner's pid, its start
 * time and the boot id, created with O_EXCL and removed when the run ends. A second `train --resume` of the
 * same folder is refused with one line naming the owner. A lock left behind by a killed trainer is stale
 * when no process with that pid exists, or the pid now belongs to a process that started at another time
 * (pids are reused), or the machine has rebooted since: it is replaced without asking.
 *
 * Process start times come from Linux's /proc (`/proc/<pid>/stat` field 22, clock ticks since boot). Where
 * /proc does not exist the owner cannot be checked, so an existing lock is kept, and the message says how to
 * remove it by hand.
 * @module
 */
import { InputError } from "../errors.ts";

/** File name of the lock inside a run folder. */
export const RUN_LOCK_FILE = "run.lock";

/** What the lock file holds. */
export interface LockOwner {
  pid: number;
  /** Process start time in clock ticks since boot (/proc), or null where unknown. */
  start: string | null;
  /** /proc/sys/kernel/random/boot_id, or null where unknown. */
  boot: string | null;
  host: string;
  /** ISO time the lock was taken (for the message). */
  since: string;
}

/** A held lock; `release()` removes the file if it is still ours (safe to call twice). */
export interface RunLock {
  path: string;
  owner: LockOwner;
  release(): void;
}

function readText(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return null;
  }
}

/** Start time of process `pid` ("self" for this one), from /proc; null when there is no such process. */
export function processStart(pid: number | "self"): string | null {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === null) return null;
  // "pid (comm) state ppid …": comm may contain spaces and parentheses; fields resume after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return fields[19] ?? null; // field 22 of the whole line
}

function bootId(): string | null {
  return readText("/proc/sys/kernel/random/boot_id")?.trim() ?? null;
}

function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "";
  }
}

function hasProc(): boolean {
  return processStart("self") !== null;
}

/** This process as a lock owner. */
export function currentOwner(): LockOwner {
  return {
    pid: Deno.pid,
    start: processStart("self"),
    boot: bootId(),
    host: hostname(),
    since: new Date().toISOString(),
  };
}

function parseOwner(text: string | null): LockOwner | null {
  if (text === null) return null;
  try {
    const o = JSON.parse(text);
    if (typeof o === "object" && o !== null && Number.isInteger(o.pid)) return o as LockOwner;
  } catch { /* a torn or foreign file: treated as stale below */ }
  return null;
}

/**
 * Whether `owner` still runs: same host, same boot, a process with that pid that started at the same time.
 * Unknowable without /proc: then a lock is assumed live (refusing is safe; the message explains).
 */
export function ownerAlive(owner: LockOwner): boolean {
  if (!hasProc()) return true;
  const host = hostname(); // "" without --allow-sys (the dashboard task): then pid and boot decide
  if (owner.host && host && owner.host !== host) return true; // another machine's trainer (shared disk)
  if (owner.boot && owner.boot !== bootId()) return false; // rebooted since
  const start = processStart(owner.pid);
  if (start === null) return false; // no such process
  return owner.start === null || owner.start === start; // same pid, other start: a reused pid
}

/** The live owner of `runDir`'s lock, or null when it is free or stale. */
export function lockHolder(runDir: string): LockOwner | null {
  const text = readText(`${runDir.replace(/\/+$/, "")}/${RUN_LOCK_FILE}`);
  if (text === null) return null;
  const owner = parseOwner(text);
  return owner && ownerAlive(owner) ? owner : null;
}

/**
 * Takes `<runDir>/run.lock` for this process, replacing a stale one.
 * @throws InputError naming the folder and the live owner when another trainer holds it
 */
export function acquireRunLock(runDir: string): RunLock {
  const dir = runDir.replace(/\/+$/, "");
  const path = `${dir}/${RUN_LOCK_FILE}`;
  const owner = currentOwner();
  const text = JSON.stringify(owner) + "\n";
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      Deno.writeTextFileSync(path, text, { createNew: true });
      let released = false;
      return {
        path,
        owner,
        release() {
          if (released) return;
          released = true;
          // Only our own lock is removed (a stale-lock takeover by someone else is theirs now).
          if (readText(path) === text) {
            try {
              Deno.removeSync(path);
            } catch { /* already gone */ }
          }
        },
      };
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists)) {
        throw new InputError(`Cannot lock run folder ${dir}: ${(err as Error).message}`);
      }
    }
    const existing = readText(path);
    const other = parseOwner(existing);
    if (other && ownerAlive(other)) {
      throw new InputError(
        `Run folder ${dir} is in use by another trainer (pid ${other.pid}${
          other.host ? ` on ${other.host}` : ""
        }, since ${other.since})`,
        {
          hint: hasProc()
            ? "wait for it to finish or stop it (Ctrl-C saves a checkpoint); a lock left by a killed trainer is replaced automatically"
            : `if no trainer runs on this folder, delete ${path}`,
        },
      );
    }
    // Stale (or unreadable): remove it, unless it changed since we read it (someone else took it over).
    if (readText(path) === existing) {
      try {
        Deno.removeSync(path);
      } catch { /* removed by a concurrent taker; retry */ }
    }
  }
  throw new InputError(
    `Cannot lock run folder ${dir}: the lock file keeps changing (another trainer starting?)`,
  );
}

/**
 * Opening and closing a run folder for `hpseg train` (lock, resume point, clean-up of a failed start), on the main thread
 * before the trainer Worker starts and after it ends:
 *   - a new run gets a fresh folder, locked at once; a resumed run's folder is locked before anything in
 *     it is read or changed (core/train/run_lock.ts), so two trainers never share one;
 *   - under the lock, the temporary files an interrupted writer left are removed;
 *   - the checkpoint to resume from is the readable one with the highest step, or `--from-step N`; the
 *     later checkpoints of an abandoned timeline are set aside (kept, never deleted);
 *   - a new run that fails before writing any checkpoint leaves no folder behind.
 * @module
 */
import { InputError } from "../errors.ts";
import { canonicalPath } from "../io/paths.ts";
import type { HpConfig } from "../model/config_schema.ts";
import { acquireRunLock, type RunLock } from "./run_lock.ts";
import { checkpointDir } from "./run_checkpoints.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import {
  createRunDir,
  findResumePoint,
  newRunId,
  removeRunIfEmpty,
  removeStaleTemps,
  setAsideNewerCheckpoints,
} from "./run_dir.ts";

/**
 * An open run folder; disposing it (`using`) releases the lock and, for a new run that wrote no checkpoint
 * (it failed early), removes the folder.
 */
export interface RunSession extends Disposable {
  config: HpConfig;
  runDir: string;
  runId: string;
  /** The checkpoint a resumed run continues from (the Worker reads it), its step and the run's total. */
  resume: { path: string; step: number; totalSteps?: number } | null;
  /** Lines for stderr (what was resumed, skipped, cleaned up, set aside). */
  notes: string[];
}

function session(
  lock: RunLock,
  fields: Omit<RunSession, typeof Symbol.dispose>,
  created: boolean,
): RunSession {
  let closed = false;
  return {
    ...fields,
    [Symbol.dispose]() {
      if (closed) return;
      closed = true;
      lock.release();
      // Every run that got past its first step has a checkpoint (stops and ends write one), so an empty
      // folder means an early failure.
      if (created) removeRunIfEmpty(fields.runDir);
    },
  };
}

/** Creates `<outDir>/<new id>/` for `config` and locks it. */
export async function openNewRun(outDir: string, config: HpConfig): Promise<RunSession> {
  if (config.dataset.root) {
    // Pictures and checkpoints inside the dataset would be read back as images by folder datasets.
    const out = canonicalPath(outDir), root = canonicalPath(config.dataset.root);
    if (out === root || out.startsWith(root.replace(/\/?$/, "/"))) {
      throw new InputError(
        `Refusing --out ${outDir}: it lies inside the dataset root ${config.dataset.root}`,
      );
    }
  }
  const runId = newRunId();
  const runDir = await createRunDir(outDir, runId, config);
  let lock: RunLock;
  try {
    lock = acquireRunLock(runDir);
  } catch (err) {
    removeRunIfEmpty(runDir);
    throw err;
  }
  return session(lock, { config, runDir, runId, resume: null, notes: [] }, true);
}

/**
 * Locks an existing run folder and finds where to resume it (the newest readable checkpoint, or the one at
 * `fromStep`).
 * @throws InputError when another trainer holds the folder, or no readable checkpoint (at that step) exists
 */
export async function openResumedRun(dir: string, fromStep?: number): Promise<RunSession> {
  const runDir = dir.replace(/\/+$/, "");
  // The folder must exist before it can be locked; findResumePoint names the problem when it does not.
  let isDir = false;
  try {
    isDir = (await Deno.stat(runDir)).isDirectory;
  } catch { /* reported below */ }
  if (!isDir) await findResumePoint(runDir); // throws "Cannot resume DIR: no such directory" (or not one)
  const lock = acquireRunLock(runDir);
  try {
    const notes: string[] = [];
    for (const t of removeStaleTemps(runDir)) {
      notes.push(`removed an interrupted write's temporary file ${t}`);
    }
    const point = await findResumePoint(runDir, fromStep);
    for (const s of point.skipped) notes.push(`warning: skipped unreadable checkpoint: ${s}`);
    if (fromStep !== undefined) {
      const aside = setAsideNewerCheckpoints(runDir, fromStep);
      if (aside) notes.push(`checkpoints after step ${fromStep} moved to ${aside}`);
    }
    // `last` is the resume point from now on (it was older, torn, or set aside).
    const last = `${checkpointDir(runDir)}/last.safetensors`;
    if (point.checkpoint !== last) await writeFileAtomic(last, await Deno.readFile(point.checkpoint));
    notes.push(`resuming ${runDir} from ${point.checkpoint} (step ${point.state.step})`);
    const total = point.state.extra.totalSteps;
    const resume = {
      path: point.checkpoint,
      step: point.state.step,
      totalSteps: typeof total === "number" ? total : undefined,
    };
    return session(lock, { config: point.config, runDir, runId: point.runId, resume, notes }, false);
  } catch (err) {
    lock.release();
    throw err;
  }
}

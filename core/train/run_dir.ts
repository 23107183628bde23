/**
 * Run directories (README "Configs and checkpoints"): `<out>/<run-id>/` holds `config.yaml` (the resolved configuration),
 * `metrics.jsonl` (the dashboard's RunLog), `checkpoints/` and `pictures/`. A run id is the UTC start time
 * plus a short random suffix, e.g. `20261127-001502-3fa2`, so ids sort by time and never collide.
 * @module
 */
import { InputError } from "../errors.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { configFromObject, configToYaml, loadConfig } from "../model/config.ts";
import { type HpConfig } from "../model/config_schema.ts";
import type { TrainState } from "../model/checkpoint.ts";
import {
  checkpointDir,
  checkpointStep,
  checkpointSteps,
  findResumeCheckpoint,
  listStepCheckpoints,
} from "./run_checkpoints.ts";

/** A fresh run id (UTC time + 4 hex digits). */
export function newRunId(now = new Date()): string {
  const p = (v: number, w = 2) => String(v).padStart(w, "0");
  const t = `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}-` +
    `${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}`;
  return `${t}-${crypto.randomUUID().slice(0, 4)}`;
}

/** Creates `<outDir>/<runId>/` with its sub-folders and writes config.yaml atomically. */
export async function createRunDir(outDir: string, runId: string, config: HpConfig): Promise<string> {
  const runDir = `${outDir.replace(/\/+$/, "")}/${runId}`;
  try {
    await Deno.mkdir(`${runDir}/pictures`, { recursive: true });
    await Deno.mkdir(checkpointDir(runDir), { recursive: true });
  } catch (err) {
    throw new InputError(`Cannot create run directory ${runDir}: ${(err as Error).message}`);
  }
  await writeFileAtomic(`${runDir}/config.yaml`, configToYaml(config, `hpseg run ${runId}`));
  return runDir;
}

/** What resuming a run needs: its directory, id, config and the checkpoint to continue from. */
export interface ResumePoint {
  runDir: string;
  runId: string;
  config: HpConfig;
  checkpoint: string;
  state: TrainState;
  /** Unreadable checkpoint files that were skipped (messages). */
  skipped: string[];
}

/**
 * Finds where to resume `runDir`: the readable checkpoint with the highest step (last.safetensors or a step
 * file), or with `step`, the one at that step. The config comes from the checkpoint (it is what the run
 * trained with).
 * @throws InputError when the folder does not exist or holds no readable checkpoint (at that step).
 */
export async function findResumePoint(runDir: string, step?: number): Promise<ResumePoint> {
  const dir = runDir.replace(/\/+$/, "");
  try {
    if (!(await Deno.stat(dir)).isDirectory) throw new Error("not a directory");
  } catch (err) {
    const why = err instanceof Deno.errors.NotFound ? "no such directory" : (err as Error).message;
    throw new InputError(`Cannot resume ${dir}: ${why}`);
  }
  const found = await findResumeCheckpoint(dir, { step });
  if (!found) {
    if (step !== undefined) {
      const have = checkpointSteps(dir);
      throw new InputError(
        `Cannot resume ${dir} from step ${step}: no readable checkpoint at that step (readable: ${
          have.length ? have.join(", ") : "none"
        })`,
      );
    }
    throw new InputError(`Cannot resume ${dir}: no readable checkpoint in ${checkpointDir(dir)}`, {
      hint: "a run writes its first checkpoint after train.checkpoint_every steps",
    });
  }
  const config = configFromObject(found.state.config, `${found.path} (metadata)`);
  const runId = dir.split("/").pop()!;
  return { runDir: dir, runId, config, checkpoint: found.path, state: found.state, skipped: found.skipped };
}

/**
 * Removes the temporary files an interrupted writer left in a run folder (`*.tmp` beside checkpoints,
 * pictures and the config). Only call it while holding the run's lock (core/train/run_lock.ts): a live
 * trainer's temporaries would be removed too. Returns the names removed.
 */
export function removeStaleTemps(runDir: string): string[] {
  const removed: string[] = [];
  const sweep = (dir: string, depth: number) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      return;
    }
    for (const e of entries) {
      const p = `${dir}/${e.name}`;
      if (e.isFile && e.name.endsWith(".tmp")) {
        try {
          Deno.removeSync(p);
          removed.push(p);
        } catch { /* gone already */ }
      } else if (e.isDirectory && depth > 0) sweep(p, depth - 1);
    }
  };
  sweep(runDir.replace(/\/+$/, ""), 2);
  return removed;
}

/**
 * Resuming from an earlier step abandons the later checkpoints: they move to
 * `checkpoints/abandoned-<time>/` (kept, never deleted), so neither the rotation nor a later plain `--resume`
 * mixes them with the new timeline. Returns the folder, or null when nothing was newer than `step`.
 */
export function setAsideNewerCheckpoints(runDir: string, step: number, now = new Date()): string | null {
  const dir = checkpointDir(runDir.replace(/\/+$/, ""));
  const newer = listStepCheckpoints(runDir).filter((s) => s.step > step).map((s) => s.path);
  for (const name of ["last.safetensors", "best.safetensors"]) {
    const p = `${dir}/${name}`;
    const st = checkpointStep(p);
    if (st !== null && st > step) newer.push(p);
  }
  if (!newer.length) return null;
  const aside = `${dir}/abandoned-${now.toISOString().replace(/[:.]/g, "-")}`;
  Deno.mkdirSync(aside, { recursive: true });
  for (const p of newer) Deno.renameSync(p, `${aside}/${p.split("/").pop()}`);
  return aside;
}

/**
 * Removes a run folder this invocation created when the run failed before writing any checkpoint (an
 * early failure must not leave an empty run for the dashboard to list). A folder holding
 * anything but what a starting run writes is left alone. Returns true when it was removed.
 */
export function removeRunIfEmpty(runDir: string): boolean {
  const dir = runDir.replace(/\/+$/, "");
  const known = new Set(["config.yaml", "metrics.jsonl", "run.lock", "checkpoints", "pictures"]);
  try {
    for (const e of Deno.readDirSync(dir)) {
      if (!known.has(e.name) && !e.name.endsWith(".tmp")) return false;
    }
    for (const sub of ["checkpoints", "pictures"]) {
      try {
        for (const e of Deno.readDirSync(`${dir}/${sub}`)) if (!e.name.endsWith(".tmp")) return false;
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) return false;
      }
    }
    Deno.removeSync(dir, { recursive: true });
    return true;
  } catch {
    return false;
  }
}

/** Loads `--config` (name or path) with `--set` overrides; re-exported for the CLI. */
export function resolveConfig(nameOrPath: string, sets: readonly string[]): HpConfig {
  return loadConfig(nameOrPath, sets);
}

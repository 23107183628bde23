/**
 * Run directories (issue 5 item 6): `<out>/<run-id>/` holds `config.yaml` (the resolved configuration),
 * `metrics.jsonl` (the dashboard's RunLog), `checkpoints/` and `pictures/`. A run id is the UTC start time
 * plus a short random suffix, e.g. `20261127-001502-3fa2`, so ids sort by time and never collide.
 * @module
 */
import { InputError } from "../errors.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { configFromObject, configToYaml, type HpConfig, loadConfig } from "./config.ts";
import { checkpointDir, findResumeCheckpoint, type TrainState } from "./checkpoint.ts";

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
 * Finds where to resume `runDir`: the newest readable checkpoint (last.safetensors, else the newest
 * step file). The config comes from the checkpoint (it is what the run trained with).
 * @throws InputError when the folder does not exist or holds no readable checkpoint.
 */
export async function findResumePoint(runDir: string): Promise<ResumePoint> {
  const dir = runDir.replace(/\/+$/, "");
  try {
    if (!(await Deno.stat(dir)).isDirectory) throw new Error("not a directory");
  } catch (err) {
    const why = err instanceof Deno.errors.NotFound ? "no such directory" : (err as Error).message;
    throw new InputError(`Cannot resume ${dir}: ${why}`);
  }
  const found = await findResumeCheckpoint(dir);
  if (!found) {
    throw new InputError(`Cannot resume ${dir}: no readable checkpoint in ${checkpointDir(dir)}`, {
      hint: "a run writes its first checkpoint after train.checkpoint_every steps",
    });
  }
  const config = configFromObject(found.state.config, `${found.path} (metadata)`);
  const runId = dir.split("/").pop()!;
  return { runDir: dir, runId, config, checkpoint: found.path, state: found.state, skipped: found.skipped };
}

/** Loads `--config` (name or path) with `--set` overrides; re-exported for the CLI. */
export function resolveConfig(nameOrPath: string, sets: readonly string[]): HpConfig {
  return loadConfig(nameOrPath, sets);
}

/**
 * A run's checkpoint files (hp-method.md §8.7; README "Configs and checkpoints"): `<runDir>/checkpoints/` keeps
 * `last.safetensors`, the newest two `step-<n>.safetensors` and, with selection=val, `best.safetensors`.
 *
 * Order and choice: `last` is written before the step file, so whenever the process dies `last` is never
 * older than the newest intact step file; resume still takes the readable file with the highest step (so a
 * torn or non-finite `last` falls back to the newest good step file). A state holding NaN/Inf is never
 * written: the checkpoints on disk stay the last good ones.
 * @module
 */
import { InputError } from "../errors.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { readSafetensorsSync } from "../io/safetensors.ts";
import { countNonFinite } from "../io/tensor_data.ts";
import { encodeCheckpoint, loadCheckpoint, type TrainState } from "../model/checkpoint.ts";

function bad(path: string, why: string): never {
  throw new InputError(`Cannot load checkpoint ${path}: ${why}`);
}

/** `<runDir>/checkpoints`. */
export function checkpointDir(runDir: string): string {
  return `${runDir}/checkpoints`;
}

/** Step checkpoints of a run, oldest first ({ step, path }). */
export function listStepCheckpoints(runDir: string): { step: number; path: string }[] {
  const dir = checkpointDir(runDir);
  const out: { step: number; path: string }[] = [];
  try {
    for (const e of Deno.readDirSync(dir)) {
      const m = /^step-(\d+)\.safetensors$/.exec(e.name);
      if (e.isFile && m) out.push({ step: Number(m[1]), path: `${dir}/${e.name}` });
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return out.sort((a, b) => a.step - b.step);
}

/** The training state holds NaN/Inf values: it is not written (the previous checkpoints stay the good ones). */
export class NonFiniteStateError extends Error {
  override name = "NonFiniteStateError";
  constructor(readonly step: number, readonly parts: string[]) {
    super(`the training state holds NaN/Inf values (${parts.join("; ")})`);
  }
}

/** The state's tensors that hold NaN/Inf values, as "name: count" (empty when it can be saved as good). */
export function nonFiniteParts(s: TrainState): string[] {
  const out: string[] = [];
  const check = (name: string, d: Float32Array) => {
    const n = countNonFinite(d);
    if (n) out.push(`${name}: ${n} of ${d.length}`);
  };
  check("head", s.head);
  check("ema", s.ema);
  check("projection", s.projection);
  check("pool.ag", s.pools.ag);
  check("pool.sp", s.pools.sp);
  for (const [k, t] of Object.entries(s.probes)) check(`probe.${k}`, t.data);
  for (const [k, o] of Object.entries(s.optim)) {
    check(`optim.${k}.m`, o.m);
    check(`optim.${k}.v`, o.v);
  }
  return out;
}

/**
 * Saves `state` into `<runDir>/checkpoints/` as `last.safetensors` and `step-<step>.safetensors` (both
 * atomic, `last` first, so `last` is never older than the newest intact step file whenever the process
 * dies), keeps the newest `keep` step files, and also writes `best.safetensors` when `best`.
 * @throws NonFiniteStateError, writing nothing, when any tensor holds NaN/Inf
 * @returns the paths written.
 */
export async function saveRunCheckpoint(
  runDir: string,
  state: TrainState,
  opts: { keep?: number; best?: boolean } = {},
): Promise<string[]> {
  const bad = nonFiniteParts(state);
  if (bad.length) throw new NonFiniteStateError(state.step, bad);
  const dir = checkpointDir(runDir);
  await Deno.mkdir(dir, { recursive: true });
  const bytes = encodeCheckpoint(state);
  const written = [`${dir}/last.safetensors`, `${dir}/step-${state.step}.safetensors`];
  if (opts.best) written.push(`${dir}/best.safetensors`);
  for (const p of written) await writeFileAtomic(p, bytes);
  const keep = opts.keep ?? 2;
  const steps = listStepCheckpoints(runDir);
  for (const s of steps.slice(0, Math.max(0, steps.length - keep))) await Deno.remove(s.path).catch(() => {});
  return written;
}

/** Step recorded in a checkpoint's metadata, read from the header only (no tensor data). */
function headerStep(path: string): number {
  const st = readSafetensorsSync(path);
  try {
    const step = JSON.parse(st.metadata.hpseg ?? "null")?.step;
    if (!Number.isInteger(step) || step < 0) bad(path, "metadata has no step count");
    return step;
  } catch (err) {
    if (err instanceof InputError) throw err;
    return bad(path, `metadata is not valid JSON (${(err as Error).message})`);
  } finally {
    st.close();
  }
}

/** What {@link findResumeCheckpoint} found. */
export interface FoundCheckpoint {
  path: string;
  state: TrainState;
  /** Unreadable checkpoint files that were skipped (messages). */
  skipped: string[];
}

/**
 * The checkpoint to resume a run from: the readable one with the highest step among `last.safetensors`
 * and the step files (`last` on a tie), or with `step`, the one at that step. Unreadable files (torn,
 * NaN/Inf values, foreign) are skipped; their problems are returned. Null when none qualifies; then
 * `available` lists the steps that could be read.
 */
export async function findResumeCheckpoint(
  runDir: string,
  opts: { step?: number } = {},
): Promise<FoundCheckpoint | null> {
  const dir = checkpointDir(runDir);
  const paths = [`${dir}/last.safetensors`, ...listStepCheckpoints(runDir).reverse().map((s) => s.path)];
  const skipped: string[] = [];
  const found: { path: string; step: number; order: number }[] = [];
  paths.forEach((path, order) => {
    try {
      Deno.statSync(path);
    } catch {
      return;
    }
    try {
      found.push({ path, step: headerStep(path), order });
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      skipped.push(err.message);
    }
  });
  found.sort((a, b) => b.step - a.step || a.order - b.order);
  for (const c of found) {
    if (opts.step !== undefined && c.step !== opts.step) continue;
    try {
      return { path: c.path, state: await loadCheckpoint(c.path), skipped };
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      skipped.push(err.message);
    }
  }
  return null;
}

/** The step a checkpoint file's header records, or null when it is missing or unreadable. */
export function checkpointStep(path: string): number | null {
  try {
    return headerStep(path);
  } catch {
    return null;
  }
}

/** Steps of the run's checkpoints whose headers read (for messages), newest first, without repeats. */
export function checkpointSteps(runDir: string): number[] {
  const dir = checkpointDir(runDir);
  const steps = new Set<number>();
  for (const p of [`${dir}/last.safetensors`, ...listStepCheckpoints(runDir).map((s) => s.path)]) {
    const s = checkpointStep(p);
    if (s !== null) steps.add(s);
  }
  return [...steps].sort((a, b) => b - a);
}

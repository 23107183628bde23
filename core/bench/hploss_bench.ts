/**
 * `hpseg bench hploss [--json] [--quick] [B=64 S=28 Df=384 D=512 K=2048 rho=0.02 reps=5] [impl=sparse|dense|both]
 * [ref=DIR] [mask=f32|f16]`: time of one HP loss forward + backward (core/model/loss.ts: all dispatches in one submit) and of
 * each pass alone, for the sparse (default) and/or the dense implementation, in the same run.
 * `ref=DIR` also times the HpLoss of another checkout (e.g. `git worktree add /tmp/hp_old <commit>`) on the
 * same device and inputs, its steps interleaved with ours (old, new, old, new, …, so machine load hits both
 * alike), and reports `ref_step_ms_median` and `speedup` (reference median / ours) per implementation.
 * `mask=f16` runs the sparse path's threshold and mask passes on f16 copies (hp.mask_precision) and reports
 * `mask_flips`: the P_ag and P_sp entries that differ from the f32 masks of the same inputs and seed.
 * Defaults: the COCO ViT-S/8 batch-64 shape (N = 50,176) on a real GPU, N = 392 on a software adapter.
 * Reference point: the official PyTorch code spends ≈ 0.95 s of its 1.01 s H100 step in this loss
 * (webgpu-notes.md §8).
 * @module
 */
import type { BenchOptions } from "./suite.ts";
import { UsageError } from "../errors.ts";
import { openGpu } from "../gpu/device.ts";
import { BufferArena } from "../gpu/buffers.ts";
import { StepRecorder } from "../gpu/step_recorder.ts";
import { readF32, readTensor } from "../gpu/readback.ts";
import { type HpDims, HpLoss, hpLossFlops, type HpLossImpl, type HpLossInputs } from "../model/loss.ts";
import type { Gpu } from "../gpu/device.ts";
import { hashUniform } from "../rng.ts";
import { pathToFileURL } from "node:url";

/**
 * The reference checkout's HpLoss, BufferArena and StepRecorder (same APIs as ours; its own classes, since
 * its kernels check `instanceof` against its own GpuTensor), or null without `ref=`.
 */
async function loadRef(
  rest: string[],
): Promise<
  { HpLoss: typeof HpLoss; BufferArena: typeof BufferArena; StepRecorder: typeof StepRecorder } | null
> {
  const dir = rest.find((r) => r.startsWith("ref="))?.slice(4);
  if (!dir) return null;
  const file = `${dir.replace(/\/$/, "")}/core/model/loss.ts`;
  try {
    Deno.statSync(file);
  } catch {
    throw new UsageError(`bench hploss: ref=${dir}: no ${file} (give the root of another hpseg checkout)`);
  }
  const root = Deno.realPathSync(dir);
  const load = (f: string) => import(pathToFileURL(`${root}/core/${f}`).href);
  const [loss, buffers, recorder] = await Promise.all([
    load("model/loss.ts"),
    load("gpu/buffers.ts"),
    load("gpu/step_recorder.ts"),
  ]);
  return { HpLoss: loss.HpLoss, BufferArena: buffers.BufferArena, StepRecorder: recorder.StepRecorder };
}

/** Unit rows from a hash (cheap enough for 50,176 × 512). */
function unitRows(n: number, d: number, seed: number): Float32Array {
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    let nn = 0;
    for (let t = 0; t < d; t++) {
      const v = hashUniform(seed, i * d + t) - 0.5 + (t % 7 === i % 7 ? 0.5 : 0); // a little cluster structure
      out[i * d + t] = v;
      nn += v * v;
    }
    const inv = 1 / Math.sqrt(nn);
    for (let t = 0; t < d; t++) out[i * d + t] *= inv;
  }
  return out;
}

function parseRest(rest: string[], defaults: Record<string, number>): Record<string, number> {
  const out = { ...defaults };
  for (const a of rest) {
    if (/^impl=(sparse|dense|both)$/.test(a) || /^mask=(f32|f16)$/.test(a) || a.startsWith("ref=")) continue;
    const m = /^(\w+)=([\d.e+-]+)$/.exec(a);
    if (!m || !(m[1] in out) || !Number.isFinite(Number(m[2]))) {
      throw new UsageError(
        `bench hploss: bad argument "${a}" (expected KEY=NUMBER, keys ${Object.keys(out).join(", ")})`,
      );
    }
    out[m[1]] = Number(m[2]);
  }
  return out;
}

/** P_ag and P_sp entries of `half`'s masks (f16 inputs) that differ from the f32 masks of the same step. */
async function maskFlips(
  half: HpLoss,
  gpu: Gpu,
  arena: BufferArena,
  dims: HpDims,
  rho: number,
  inputs: HpLossInputs,
  run: (record: (rec: StepRecorder) => void) => Promise<number>,
): Promise<{ ag: number; sp: number; pairs: number }> {
  const exact = await HpLoss.create(gpu, arena, dims, { tau: 0.8, rho }, inputs, { impl: "sparse" });
  try {
    half.setStep(0.5, 777);
    exact.setStep(0.5, 777);
    await run((rec) => (half.recordForward(rec), exact.recordForward(rec)));
    const out = { ag: 0, sp: 0, pairs: half.N * (half.N - 1) };
    for (let k = 0; k < half.maskPlanes.length; k++) {
      const x = (await readTensor(gpu, half.maskPlanes[k])) as Uint32Array;
      const y = (await readTensor(gpu, exact.maskPlanes[k])) as Uint32Array;
      let n = 0;
      for (let w = 0; w < x.length; w++) {
        let v = x[w] ^ y[w];
        while (v) {
          v &= v - 1;
          n++;
        }
      }
      if (k % 2 === 0) out.ag += n;
      else out.sp += n;
    }
    return out;
  } finally {
    exact.destroy();
  }
}

export async function bench(opts: BenchOptions): Promise<Record<string, unknown>> {
  const Ref = await loadRef(opts.rest); // a bad ref= fails before any GPU work
  const gpu = await openGpu({ announce: !opts.json });
  const defaults = opts.quick
    ? { B: 2, S: 5, Df: 24, D: 16, K: 13, rho: 0.3, reps: 2 }
    : gpu.isSoftware
    ? { B: 2, S: 14, Df: 64, D: 64, K: 128, rho: 0.02, reps: 3 }
    : { B: 64, S: 28, Df: 384, D: 512, K: 2048, rho: 0.02, reps: 5 };
  const a = parseRest(opts.rest, defaults);
  const dims: HpDims = { B: a.B, S: a.S, Df: a.Df, D: a.D, K: a.K };
  const N = dims.B * dims.S * dims.S;
  const arena = new BufferArena(gpu, "hploss-bench");
  let refArena: BufferArena | null = null;
  try {
    const up = (x: Float32Array, r: number, c: number, l: string) => arena.upload(x, [r, c], "f32", l);
    const inputs = {
      fhat: up(unitRows(N, dims.Df, 1), N, dims.Df, "fhat"),
      shat: up(unitRows(N, dims.D, 2), N, dims.D, "shat"),
      poolAg: up(unitRows(dims.K, dims.Df, 3), dims.K, dims.Df, "poolAg"),
      poolSp: up(unitRows(dims.K, dims.D, 4), dims.K, dims.D, "poolSp"),
      z: up(unitRows(N, dims.D, 5), N, dims.D, "z"),
      zt: up(unitRows(N, dims.D, 6), N, dims.D, "zt"),
    };
    const inputBytes = arena.liveBytes;
    const run = async (record: (rec: StepRecorder) => void) => {
      const rec = new StepRecorder(gpu, "hploss-bench");
      record(rec);
      const t0 = performance.now();
      rec.submit();
      await gpu.device.queue.onSubmittedWorkDone();
      return performance.now() - t0;
    };
    const implArg = opts.rest.find((r) => r.startsWith("impl="))?.slice(5) ?? "sparse";
    refArena = Ref ? new Ref.BufferArena(gpu, "hploss-bench-ref") : null;
    const refInputs = refArena
      ? Object.fromEntries(
        await Promise.all(
          Object.entries(inputs).map(async ([k, t]) => {
            const data = await readF32(gpu, t);
            return [k, refArena!.upload(data, t.shape, "f32", `ref-${k}`)];
          }),
        ),
      ) as typeof inputs
      : null;
    const runRef = async (record: (rec: StepRecorder) => void) => {
      const rec = new Ref!.StepRecorder(gpu, "hploss-bench-ref");
      record(rec);
      const t0 = performance.now();
      rec.submit();
      await gpu.device.queue.onSubmittedWorkDone();
      return performance.now() - t0;
    };
    const impls: HpLossImpl[] = implArg === "both" ? ["sparse", "dense"] : [implArg as HpLossImpl];
    const result: Record<string, unknown> = {
      suite: "hploss",
      adapter: gpu.description,
      software: gpu.isSoftware,
      dims: { ...dims, N, rho: a.rho },
      dense_tflop: Number((hpLossFlops(dims).total / 1e12).toFixed(4)),
      input_bytes: inputBytes,
    };
    const mask = opts.rest.includes("mask=f16") ? "f16" : "f32";
    for (const impl of impls) {
      const before = arena.liveBytes;
      const maskPrecision = impl === "sparse" ? mask : "f32";
      const hp = await HpLoss.create(gpu, arena, dims, { tau: 0.8, rho: a.rho }, inputs, {
        impl,
        maskPrecision,
      });
      const ownBytes = arena.liveBytes - before;
      const ref = Ref
        ? await Ref.HpLoss.create(gpu, refArena!, dims, { tau: 0.8, rho: a.rho }, refInputs!, { impl })
        : null;
      hp.setStep(0.5, 12345);
      const warm = await run((rec) => hp.record(rec)); // compiles on first use (lavapipe)
      if (ref) {
        ref.setStep(0.5, 12345);
        await runRef((rec) => ref.record(rec));
      }
      const times: number[] = [], refTimes: number[] = [];
      for (let r = 0; r < a.reps; r++) {
        if (ref) {
          ref.setStep(0.5, 12345 + r);
          refTimes.push(await runRef((rec) => ref.record(rec)));
        }
        hp.setStep(0.5, 12345 + r);
        times.push(await run((rec) => hp.record(rec)));
      }
      const refStats = ref ? await readF32(gpu, ref.stats) : null;
      const refPerPass: Record<string, number> = {};
      for (let i = 0; ref && i < ref.passes.length; i++) {
        refPerPass[ref.passes[i]] = Number((await runRef((rec) => ref.recordPass(rec, i))).toFixed(3));
      }
      ref?.destroy();
      const perPass: Record<string, number> = {};
      for (let i = 0; i < hp.passes.length; i++) {
        perPass[hp.passes[i]] = Number((await run((rec) => hp.recordPass(rec, i))).toFixed(3));
      }
      const stats = await readF32(gpu, hp.stats);
      times.sort((x, y) => x - y);
      refTimes.sort((x, y) => x - y);
      const median = (t: number[]) => t[Math.floor(t.length / 2)];
      const vsRef = ref
        ? {
          ref_dir: opts.rest.find((x) => x.startsWith("ref="))!.slice(4),
          ref_step_ms_median: Number(median(refTimes).toFixed(3)),
          ref_step_ms_min: Number(refTimes[0].toFixed(3)),
          ref_per_pass_ms: refPerPass,
          speedup: Number((median(refTimes) / median(times)).toFixed(2)),
          // Same inputs and seed: the losses agree up to float order.
          ref_loss_hp: refStats![2],
        }
        : {};
      const r = {
        first_run_ms: Number(warm.toFixed(1)),
        step_ms_median: Number(times[Math.floor(times.length / 2)].toFixed(3)),
        step_ms_min: Number(times[0].toFixed(3)),
        per_pass_ms: perPass,
        gpu_bytes_allocated: ownBytes,
        loss_hp: stats[2],
        mean_pos_ag: stats[3],
        mean_pos_sp: stats[4],
        mean_denominator: stats[6],
        mask_precision: maskPrecision,
        ...(maskPrecision === "f16"
          ? { mask_flips: await maskFlips(hp, gpu, arena, dims, a.rho, inputs, run) }
          : {}),
        ...vsRef,
      };
      result[impl] = r;
      hp.destroy();
      if (!opts.json) {
        console.log(
          `hploss ${impl} N=${N} D=${dims.D} Df=${dims.Df} K=${dims.K} ρ=${a.rho} on ${gpu.description}`,
        );
        console.log(`  step (one submit): median ${r.step_ms_median} ms, min ${r.step_ms_min} ms`);
        console.log(`  per pass: ${JSON.stringify(perPass)}`);
        if (ref) {
          console.log(
            `  reference ${vsRef.ref_dir}: median ${vsRef.ref_step_ms_median} ms → ${vsRef.speedup}×`,
          );
        }
        console.log(
          `  own buffers ${
            (ownBytes / 2 ** 20).toFixed(1)
          } MiB; mean |P_ag| ${r.mean_pos_ag}, |D| ${r.mean_denominator}`,
        );
      }
    }
    return result;
  } finally {
    refArena?.destroyAll();
    arena.destroyAll();
    gpu.destroy();
  }
}

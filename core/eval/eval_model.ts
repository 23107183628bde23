/**
 * Loads what evaluation needs from a checkpoint (hp-method.md §8.1, §8.6, §8.7) and builds the eval-mode
 * model (frozen ViT → segmentation head θ without dropout) for evaluate.ts.
 *
 * Accepted: our run folders (`<run>/checkpoints/{best,last}.safetensors`, picked by `selection`), our
 * `.safetensors` training states (core/model/checkpoint.ts; the backbone comes from the stored config) and
 * official HP `ckpt.pth` files (ViT, head and probes from the same file).
 * @module
 */
import { join } from "node:path";
import type { Gpu } from "../gpu/device.ts";
import type { BufferArena, GpuTensor } from "../gpu/buffers.ts";
import type { StepRecorder } from "../gpu/step_recorder.ts";
import { InputError } from "../errors.ts";
import { importOfficialHpCheckpoint, loadCheckpoint } from "../model/checkpoint.ts";
import type { HpConfig } from "../model/config_schema.ts";
import { prepareHeadForward } from "../model/heads.ts";
import { embeddedVitWeights } from "../vit/embedded.ts";
import { loadVitWeights, VitBackbone, type VitWeights } from "../vit/vit.ts";
import { resolvePrecision } from "../vit/precision.ts";
import { resolveBackbone } from "../model/backbone.ts";
import type { EvalModel, ProbeParams } from "./evaluate.ts";
import { classNamesOf } from "../../datasets/layouts.ts";

/** A checkpoint's evaluation parts, on the CPU. */
export interface LoadedModel {
  path: string;
  vit: VitWeights;
  /** θ flat in headLayout(D_f, D). */
  head: Float32Array;
  Df: number;
  D: number;
  n: number;
  probes: ProbeParams;
  /** Our checkpoints carry their run configuration; official ones do not. */
  config: HpConfig | null;
  /** Class names of the probes' classes when the checkpoint knows them (its run's dataset), else null. */
  classNames: string[] | null;
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await Deno.stat(p)).isDirectory;
  } catch {
    return false;
  }
}

/**
 * Resolves RUN_OR_FILE: a run folder gives `checkpoints/best.safetensors` for selection "val" (falling
 * back to last) or `checkpoints/last.safetensors` for "last".
 */
export async function resolveCheckpoint(pathOrRun: string, selection: "val" | "last"): Promise<string> {
  if (!(await isDir(pathOrRun))) {
    try {
      await Deno.stat(pathOrRun);
    } catch {
      throw new InputError(`Cannot read checkpoint ${pathOrRun}: no such file or run folder`);
    }
    return pathOrRun;
  }
  const names = selection === "val" ? ["best.safetensors", "last.safetensors"] : ["last.safetensors"];
  for (const n of names) {
    const p = join(pathOrRun, "checkpoints", n);
    try {
      await Deno.stat(p);
      return p;
    } catch { /* try the next */ }
  }
  throw new InputError(
    `Cannot find a checkpoint in run folder ${pathOrRun}: no checkpoints/${names.join(" or ")}`,
  );
}

type NamedTensors = Record<string, { shape: number[]; data: Float32Array }>;

/**
 * The probes of one of our checkpoints as {@link ProbeParams}. Two layouts of the linear probe are read:
 * `linear.params` [n·D + n] (weight [n, D] then bias [n], flat — what the trainer writes, core/train/
 * state.ts captureState, the layout of core/model/probes.ts LinearProbe) and separate `linear.weight`
 * [n, D] + `linear.bias` [n] (hand-built or converted checkpoints). The cluster probe is
 * `cluster.clusters` [n, D] in both.
 * @throws InputError naming the file when a probe is missing or the shapes disagree with D or each other
 */
export function probesFromState(
  probes: NamedTensors,
  D: number,
  path: string,
): { n: number; probes: ProbeParams } {
  const fail = (why: string): never => {
    throw new InputError(`Cannot evaluate ${path}: ${why}`);
  };
  const c = probes["cluster.clusters"];
  if (!c) fail(`the checkpoint has no cluster probe "cluster.clusters" (it has: ${listNames(probes)})`);
  if (c.shape.length !== 2 || c.shape[1] !== D || c.data.length !== c.shape[0] * D) {
    fail(`cluster probe "cluster.clusters" has shape [${c.shape}], expected [n, ${D}]`);
  }
  const n = c.shape[0];
  let linear: Float32Array;
  const flat = probes["linear.params"], w = probes["linear.weight"], b = probes["linear.bias"];
  if (flat) {
    if (flat.data.length !== n * D + n) {
      fail(
        `linear probe "linear.params" has ${flat.data.length} values, expected n·D + n = ${
          n * D + n
        } (n ${n} from the cluster probe, D ${D})`,
      );
    }
    linear = flat.data;
  } else if (w && b) {
    if (w.shape[0] !== n || w.shape[1] !== D || w.data.length !== n * D || b.data.length !== n) {
      fail(
        `probe shapes disagree (linear [${w.shape}] + [${b.shape}], clusters [${c.shape}], D ${D})`,
      );
    }
    linear = new Float32Array(n * D + n);
    linear.set(w.data);
    linear.set(b.data, n * D);
  } else {
    fail(
      `the checkpoint has no linear probe ("linear.params", or "linear.weight" + "linear.bias"; it has: ${
        listNames(probes)
      })`,
    );
  }
  return { n, probes: { clusters: c.data, linear: linear! } };
}

function listNames(probes: NamedTensors): string {
  const k = Object.keys(probes);
  return k.length ? k.join(", ") : "no probes";
}

/** The class names a training state knows: stored by the trainer, else those of its run's dataset. */
async function namesOf(
  st: { extra: Record<string, unknown>; config: HpConfig },
  n: number,
): Promise<string[] | null> {
  const stored = st.extra.classNames;
  if (Array.isArray(stored) && stored.length === n && stored.every((x) => typeof x === "string")) {
    return stored as string[];
  }
  const d = st.config.dataset;
  if (d.name === "folder") return null;
  try {
    const names = await classNamesOf({ dataset: d.name, root: d.root || undefined, split: "val" });
    return names.length === n ? names : null;
  } catch {
    return null;
  }
}

/**
 * Reads a checkpoint file (ours or official). Sizes are cross-checked: head D_f vs backbone width, probe
 * widths vs D, cluster count vs linear classes.
 * @throws InputError naming the file for corrupt, truncated or mismatched checkpoints
 */
export async function loadEvalModel(path: string): Promise<LoadedModel> {
  let out: LoadedModel;
  if (path.endsWith(".pth")) {
    const heads = importOfficialHpCheckpoint(path);
    const vit = await loadVitWeights(path);
    const { Df, D, nClasses: n } = heads.dims;
    const linear = new Float32Array(n * D + n);
    linear.set(heads.linear.weight);
    linear.set(heads.linear.bias, n * D);
    out = {
      path,
      vit,
      head: heads.head,
      Df,
      D,
      n,
      probes: { clusters: heads.clusters, linear },
      config: null,
      classNames: null,
    };
  } else {
    const st = await loadCheckpoint(path);
    const { Df, D } = st.dims;
    const { n, probes } = probesFromState(st.probes, D, path);
    const bb = st.config.backbone;
    const vit = bb.arch === "embedded" ? embeddedVitWeights() : await loadVitWeights(bb.weights);
    // The weights file may have been replaced since training: the checkpoint's arch/patch must still hold.
    resolveBackbone(st.config, vit);
    out = { path, vit, head: st.head, Df, D, n, probes, config: st.config, classNames: await namesOf(st, n) };
  }
  if (out.vit.config.dim !== out.Df) {
    throw new InputError(
      `Cannot evaluate ${path}: the head expects backbone width D_f ${out.Df} but the backbone (${out.vit.source}) has ${out.vit.config.dim}`,
    );
  }
  return out;
}

/** An eval-mode model on the GPU: ViT → head θ (no dropout). Call `destroy()` when done. */
export interface GpuEvalModel extends EvalModel {
  destroy(): void;
}

/**
 * Builds the GPU model for a fixed batch and input `height`×`width` (square 320 in HP's protocol; any
 * multiple of the patch size; position embeddings interpolated by the backbone).
 */
export async function buildEvalModel(
  gpu: Gpu,
  arena: BufferArena,
  m: LoadedModel,
  B: number,
  height: number,
  width = height,
): Promise<GpuEvalModel> {
  // The precision the checkpoint was trained with (auto for official .pth files and runs that say so).
  const precision = resolvePrecision(m.config?.backbone.precision ?? "auto", gpu);
  const vit = await VitBackbone.create(gpu, arena, m.vit, { batch: B, height, width, precision });
  const Sh = height / m.vit.config.patch, Sw = width / m.vit.config.patch, P = Sh * Sw;
  const params = arena.upload(m.head, [m.head.length], "f32", "eval-head");
  const head = await prepareHeadForward(gpu, arena, { rows: B * P, Df: m.Df, D: m.D, P }, "eval", {
    params,
    features: vit.features,
  });
  return {
    code: head.code as GpuTensor,
    D: m.D,
    Sh,
    Sw,
    encode(rec: StepRecorder, images: GpuTensor) {
      vit.encode(rec, images);
      head.record(rec);
    },
    destroy() {
      vit.destroy();
    },
  };
}

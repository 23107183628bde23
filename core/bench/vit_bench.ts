/**
 * `deno task bench vit [--json] [--quick] [S/16] [S/8] [B/8] [S/14] [B/14] [baseline=DIR] [rounds=N]`:
 * frozen ViT forward throughput at 224² (dino-backbone.md §6): images/s for DINO ViT-S/16, ViT-S/8, ViT-B/8 and
 * DINOv2 ViT-S/14, ViT-B/14 (with 4 registers and LayerScale: 1 + 4 + 256 tokens at 224), with the HP
 * attention logits on. Naming models (`S/8` or `ViT-S/8`) times only those.
 *
 * Batch 32 on a real GPU. On a software adapter (lavapipe, ~1–10 GFLOP/s) the batch is 1 and each model
 * runs `rounds` times (best kept) after a warm-up; `--quick` times only ViT-S/16. Weights are random (shape is all that matters
 * for speed). Timing records `reps` forwards into one encoder, submits once and awaits
 * onSubmittedWorkDone, so Deno's ~10 ms poll floor is amortised.
 *
 * Also reported per model: `dispatchesPerForward` and `dispatchesPerBlock` (counted from a profiled
 * forward), and `kernels`, the GPU time per dispatch role (qkv, attention, fc1, …) from timestamp queries
 * of one forward with one pass per dispatch (null, with `kernelsNote`, where the adapter lacks them).
 * Precision: the main fields are the f32 backbone; on adapters with shader-f16 the f16 backbone
 * (core/vit/precision.ts) is timed too, alternating with it in the same rounds, and reported as `f16`
 * (msPerBatch, imagesPerSec, samples, speedupVsF32, kernels); otherwise `f16` is null with `f16Note`.
 *
 * Baseline, same invocation: `baseline=<dir>` (a checkout of an older hpseg, e.g.
 * `git worktree add /tmp/vit_old <commit>`) times that checkout's VitBackbone on the same device,
 * alternating with ours, and reports `baselineMsPerBatch` and `speedupVsBaseline` (best of the runs each;
 * `rounds=N` alternating rounds, default 2 on a software adapter, 3 on a GPU).
 *
 * PyTorch reference, same invocation: when a python3 with torch and a CUDA device is present, the same
 * models (timm's vit_*_patch*_224 when timm is installed, else an equivalent clean-room pre-norm ViT of
 * identical shapes) run in fp32 with TF32 off in a subprocess, and the ratio ours/torch is reported.
 * Otherwise `torch` is null and `torchReason` says why.
 * @module
 */
import type { BenchOptions } from "./suite.ts";
import { UsageError } from "../errors.ts";
import { describeGpu, type Gpu, openGpu } from "../gpu/device.ts";
import { BufferArena } from "../gpu/buffers.ts";
import { StepRecorder } from "../gpu/step_recorder.ts";
import { dinoShapes, variantName, type VitConfig, type VitWeights } from "../vit/weights.ts";
import { VitBackbone, type VitPrecision } from "../vit/vit.ts";
import { torchReference } from "./torch_reference.ts";
import { type KernelTime, profileKernels } from "./gpu_profile.ts";

interface ModelSpec {
  name: string;
  timm: string;
  patch: number;
  dim: number;
  /** DINOv2 with this many registers (LayerScale on, 37×37 position grid resized to 16×16). */
  dinov2Registers?: number;
}

const MODELS: ModelSpec[] = [
  { name: "ViT-S/16", timm: "vit_small_patch16_224", patch: 16, dim: 384 },
  { name: "ViT-S/8", timm: "vit_small_patch8_224", patch: 8, dim: 384 },
  { name: "ViT-B/8", timm: "vit_base_patch8_224", patch: 8, dim: 768 },
  { name: "ViT-S/14", timm: "vit_small_patch14_reg4_dinov2", patch: 14, dim: 384, dinov2Registers: 4 },
  { name: "ViT-B/14", timm: "vit_base_patch14_reg4_dinov2", patch: 14, dim: 768, dinov2Registers: 4 },
];

interface Result {
  model: string;
  variant: string;
  batch: number;
  reps: number;
  chunk: number;
  dispatches: number;
  dispatchesPerForward: number;
  dispatchesPerBlock: number;
  msPerBatch: number;
  /** Every timed run (ms per batch). */
  samples: number[];
  precision: "f32";
  kernels: KernelTime[] | null;
  kernelsNote?: string;
  /** The f16 backbone, timed in the same rounds (null where the adapter lacks shader-f16). */
  f16: {
    msPerBatch: number;
    samples: number[];
    imagesPerSec: number;
    speedupVsF32: number;
    /** GPU time per dispatch role of one f16 forward (as `kernels`). */
    kernels: KernelTime[] | null;
  } | null;
  f16Note?: string;
  baselineMsPerBatch?: number;
  baselineSamples?: number[];
  speedupVsBaseline?: number;
  imagesPerSec: number;
  gflopPerImage: number;
  tflops: number;
  torchImagesPerSec?: number;
  ratioToTorch?: number;
}

/** Forward FLOPs per image (dino-backbone.md §6.1: multiply-add = 2). */
export function vitFlops(c: VitConfig, size: number): number {
  const g = Math.floor(size / c.patch), n = g * g, N = n + 1 + (c.registers ?? 0), C = c.dim;
  return c.depth * (24 * N * C * C + 4 * N * N * C) + 2 * n * 3 * c.patch * c.patch * C;
}

/** The architecture a bench model stands for. */
function specConfig(spec: ModelSpec): VitConfig {
  const config: VitConfig = {
    patch: spec.patch,
    dim: spec.dim,
    depth: 12,
    heads: spec.dim / 64,
    eps: 1e-6,
    posGrid: spec.dinov2Registers === undefined ? 224 / spec.patch : 37,
    mlpDim: 4 * spec.dim,
  };
  if (spec.dinov2Registers !== undefined) {
    const R = spec.dinov2Registers;
    Object.assign(config, { registers: R, layerScale: true, posResize: R ? "antialias" : "offset" });
  }
  return config;
}

/**
 * Random weights of the right shapes (LCG, scaled by 1/√fan_in; LayerNorm weights and LayerScale γ 1) —
 * much faster than the §5.1 formula. Also used by tests that need full-size weights of any variant.
 */
export function randomVitWeights(config: VitConfig, seed = 12345): VitWeights {
  let s = seed;
  const tensors = new Map<string, Float32Array>();
  for (const [name, shape] of dinoShapes(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const a = new Float32Array(n);
    if (/norm\d?\.weight$|\.gamma$/.test(name)) a.fill(1);
    else {
      const scale = 1 / Math.sqrt(n / shape[0]);
      for (let i = 0; i < n; i++) {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        a[i] = ((s / 4294967296) * 2 - 1) * scale;
      }
    }
    tensors.set(name, a);
  }
  return { config, tensors, source: "random", format: "random" };
}

const TORCH_SCRIPT = `
import json, sys, time, math
import torch, torch.nn as nn, torch.nn.functional as F
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
dev = torch.device("cuda")
cfg = json.loads(sys.argv[1])
class Block(nn.Module):
    def __init__(s, C, ls):
        super().__init__(); s.n1 = nn.LayerNorm(C, eps=1e-6); s.qkv = nn.Linear(C, 3*C); s.proj = nn.Linear(C, C)
        s.n2 = nn.LayerNorm(C, eps=1e-6); s.fc1 = nn.Linear(C, 4*C); s.fc2 = nn.Linear(4*C, C); s.h = C // 64
        s.g1 = nn.Parameter(torch.ones(C)) if ls else None; s.g2 = nn.Parameter(torch.ones(C)) if ls else None
    def forward(s, x):
        B, N, C = x.shape
        q, k, v = s.qkv(s.n1(x)).reshape(B, N, 3, s.h, 64).permute(2, 0, 3, 1, 4)
        if hasattr(F, "scaled_dot_product_attention"): o = F.scaled_dot_product_attention(q, k, v)
        else: o = ((q @ k.transpose(-2, -1)) * 0.125).softmax(-1) @ v
        a = s.proj(o.transpose(1, 2).reshape(B, N, C)); x = x + (a if s.g1 is None else s.g1 * a)
        m = s.fc2(F.gelu(s.fc1(s.n2(x)))); return x + (m if s.g2 is None else s.g2 * m)
class ViT(nn.Module):
    def __init__(s, p, C, R):
        super().__init__(); s.pe = nn.Conv2d(3, C, p, p); s.cls = nn.Parameter(torch.zeros(1, 1, C))
        s.reg = nn.Parameter(torch.zeros(1, R, C)) if R is not None else None
        s.pos = nn.Parameter(torch.zeros(1, (224 // p) ** 2 + 1, C))
        s.blocks = nn.Sequential(*[Block(C, R is not None) for _ in range(12)]); s.norm = nn.LayerNorm(C, eps=1e-6)
    def forward(s, x):
        t = s.pe(x).flatten(2).transpose(1, 2)
        t = torch.cat([s.cls.expand(t.shape[0], -1, -1), t], 1) + s.pos
        if s.reg is not None: t = torch.cat([t[:, :1], s.reg.expand(t.shape[0], -1, -1), t[:, 1:]], 1)
        return s.norm(s.blocks(t))
out = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "results": []}
try:
    import timm; out["module"] = "timm " + timm.__version__
except Exception:
    timm = None; out["module"] = "clean-room ViT (same shapes)"
for m in cfg["models"]:
    R = m.get("dinov2Registers")
    kw = {"img_size": 224} if R is not None else {}
    model = (timm.create_model(m["timm"], pretrained=False, num_classes=0, **kw) if timm else ViT(m["patch"], m["dim"], R))
    model = model.to(dev).eval()
    x = torch.randn(cfg["batch"], 3, 224, 224, device=dev)
    with torch.no_grad():
        for _ in range(3): model(x)
        torch.cuda.synchronize(); reps = 0; t0 = time.perf_counter()
        while reps < 5 or time.perf_counter() - t0 < 2.0:
            model(x); reps += 1
        torch.cuda.synchronize(); dt = (time.perf_counter() - t0) / reps
    out["results"].append({"model": m["name"], "msPerBatch": dt * 1e3, "imagesPerSec": cfg["batch"] / dt})
    del model; torch.cuda.empty_cache()
print(json.dumps(out))
`;

/** The models named on the command line (`S/8` or `ViT-S/8`, any case), in the suite's order. */
function pickModels(names: string[]): ModelSpec[] {
  const want = new Set<string>();
  for (const n of names) {
    const key = n.toUpperCase().replace(/^VIT-/, "");
    const m = MODELS.find((x) => x.name.toUpperCase() === `VIT-${key}`);
    if (!m) {
      throw new UsageError(
        `bench vit: unknown model "${n}" (known: ${MODELS.map((x) => x.name.slice(4)).join(", ")})`,
      );
    }
    want.add(m.name);
  }
  return MODELS.filter((m) => want.has(m.name));
}

/** The roles of one block's dispatches (core/vit/vit.ts labels). */
const BLOCK_ROLES = new Set(["ln1", "qkv", "attention", "proj", "ln2", "fc1", "fc2"]);

/** A VitBackbone-like forward: builds, encodes into a recorder, frees. */
interface Impl {
  name: string;
  create(w: VitWeights, batch: number, precision?: VitPrecision): Promise<{
    run(reps: number): Promise<number>;
    dispatches: number;
    chunk: number;
    encode?(rec: StepRecorder): void;
    destroy(): void;
  }>;
}

/** Our VitBackbone, or an older checkout's (`dir`: its modules share the device, not their classes). */
async function impl(gpu: Gpu, dir?: string): Promise<Impl> {
  const base = dir ? new URL(`${dir.replace(/\/$/, "")}/core/`, `file://${Deno.cwd()}/`).href : "";
  const vitMod = dir ? await import(`${base}vit/vit.ts`) : { VitBackbone };
  const bufMod = dir ? await import(`${base}gpu/buffers.ts`) : { BufferArena };
  const recMod = dir ? await import(`${base}gpu/step_recorder.ts`) : { StepRecorder };
  return {
    name: dir ?? "current",
    async create(w, batch, precision) {
      const arena = new bufMod.BufferArena(gpu, "bench-vit");
      const vit = await vitMod.VitBackbone.create(gpu, arena, w, {
        batch,
        height: 224,
        width: 224,
        attn: true,
        ...(precision ? { precision } : {}),
      });
      const images = arena.tensor([batch, 3, 224, 224], "f32", "images");
      const x = new Float32Array(batch * 3 * 224 * 224);
      for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37);
      images.write(x);
      return {
        dispatches: vit.dispatchCount,
        chunk: vit.chunk,
        async run(reps: number) {
          const rec = new recMod.StepRecorder(gpu, "vit-bench");
          for (let i = 0; i < reps; i++) vit.encode(rec, images);
          const t0 = performance.now();
          rec.submit();
          await gpu.device.queue.onSubmittedWorkDone();
          return performance.now() - t0;
        },
        encode: dir ? undefined : (rec: StepRecorder) => vit.encode(rec, images),
        destroy() {
          vit.destroy();
          arena.destroyAll();
        },
      };
    },
  };
}

/** Best ms per batch over `rounds` alternating rounds of every live forward (reps grow to ≥ 1 s on a GPU). */
async function timeAlternating(
  gpu: Gpu,
  live: Array<{ run(reps: number): Promise<number> }>,
  rounds: number,
): Promise<{ reps: number; samples: number[][] }> {
  for (const f of live) await f.run(1); // warm-up: first use of every pipeline
  let reps = 1;
  if (!gpu.isSoftware) {
    while (reps < 64 && (await live[0].run(reps)) < 1000) reps *= 2;
  }
  const samples = live.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < live.length; i++) samples[i].push((await live[i].run(reps)) / reps);
  }
  return { reps, samples };
}

/** Runs the suite; prints a table (or returns the JSON record for --json). */
export async function bench(opts: BenchOptions): Promise<Record<string, unknown>> {
  const option = (k: string) => opts.rest.find((a) => a.startsWith(`${k}=`))?.slice(k.length + 1);
  const baseDir = option("baseline"), roundsArg = option("rounds");
  const names = opts.rest.filter((a) => !/^(baseline|rounds)=/.test(a));
  if (roundsArg !== undefined && !/^[1-9]\d*$/.test(roundsArg)) {
    throw new UsageError(`bench vit: rounds must be a positive integer, got "${roundsArg}"`);
  }
  const models = names.length ? pickModels(names) : opts.quick ? MODELS.slice(0, 1) : MODELS;
  if (baseDir !== undefined) {
    try {
      Deno.statSync(`${baseDir}/core/vit/vit.ts`);
    } catch {
      throw new UsageError(`bench vit: baseline=${baseDir} has no core/vit/vit.ts (an hpseg checkout)`);
    }
  }
  const gpu = await openGpu({ announce: !opts.json });
  const say = (s: string) => opts.json ? undefined : console.log(s);
  const batch = gpu.isSoftware ? 1 : 32;
  const rounds = roundsArg !== undefined ? Number(roundsArg) : gpu.isSoftware ? 2 : 3;
  const results: Result[] = [];
  try {
    const ours = await impl(gpu), theirs = baseDir !== undefined ? await impl(gpu, baseDir) : null;
    for (const m of models) {
      const w = randomVitWeights(specConfig(m));
      const a = await ours.create(w, batch);
      const b = theirs ? await theirs.create(w, batch) : null;
      const h = gpu.hasF16 ? await ours.create(w, batch, "f16") : null;
      try {
        const prof = await profileKernels(gpu, a.dispatches, (rec) => a.encode!(rec));
        const prof16 = h ? await profileKernels(gpu, h.dispatches, (rec) => h.encode!(rec)) : null;
        const live = [a, ...(b ? [b] : []), ...(h ? [h] : [])];
        const { reps, samples } = await timeAlternating(gpu, live, rounds);
        const f16Samples = h ? samples[live.length - 1] : null;
        const msPerBatch = Math.min(...samples[0]);
        const flops = vitFlops(w.config, 224);
        const perBlock = prof.kernels
          ? prof.kernels.filter((k) => BLOCK_ROLES.has(k.name)).reduce((s, k) => s + k.dispatches, 0) /
            (w.config.depth * Math.ceil(batch / a.chunk))
          : NaN;
        const r: Result = {
          model: m.name,
          variant: variantName(w.config),
          precision: "f32",
          batch,
          reps,
          chunk: a.chunk,
          dispatches: a.dispatches,
          dispatchesPerForward: a.dispatches,
          dispatchesPerBlock: perBlock,
          msPerBatch,
          samples: samples[0],
          imagesPerSec: (batch * 1000) / msPerBatch,
          gflopPerImage: flops / 1e9,
          tflops: (flops * batch) / (msPerBatch * 1e9),
          kernels: prof.kernels,
          kernelsNote: prof.reason,
          f16: null,
          f16Note: h ? undefined : `adapter ${gpu.description} lacks shader-f16`,
        };
        if (f16Samples) {
          const ms16 = Math.min(...f16Samples);
          r.f16 = {
            msPerBatch: ms16,
            samples: f16Samples,
            imagesPerSec: (batch * 1000) / ms16,
            speedupVsF32: msPerBatch / ms16,
            kernels: prof16?.kernels ?? null,
          };
        }
        if (b) {
          r.baselineMsPerBatch = Math.min(...samples[1]);
          r.baselineSamples = samples[1];
          r.speedupVsBaseline = r.baselineMsPerBatch / msPerBatch;
        }
        results.push(r);
        say(
          `${m.name}: ${r.imagesPerSec.toFixed(2)} img/s (batch ${batch}, ${msPerBatch.toFixed(0)} ms, ` +
            `${a.dispatches} dispatches)` +
            (r.f16
              ? `; f16 ${r.f16.imagesPerSec.toFixed(2)} img/s (×${r.f16.speedupVsF32.toFixed(2)})`
              : "") +
            (b
              ? `; baseline ${r.baselineMsPerBatch!.toFixed(0)} ms (×${r.speedupVsBaseline!.toFixed(2)})`
              : ""),
        );
        for (const k of prof.kernels ?? []) {
          const k16 = prof16?.kernels?.find((x) => x.name === k.name);
          say(
            `    ${k.name.padEnd(12)} ${String(k.dispatches).padStart(4)} × ${
              k.ms.toFixed(2).padStart(9)
            } ms ${(100 * k.share).toFixed(1).padStart(5)} %` + (k16 ? `   f16 ${k16.ms.toFixed(2)} ms` : ""),
          );
        }
      } finally {
        a.destroy();
        b?.destroy();
        h?.destroy();
      }
    }
  } finally {
    gpu.destroy();
  }
  const { torch, reason } = await torchReference(TORCH_SCRIPT, { models, batch });
  if (torch) {
    for (const r of results) {
      const t = (torch.results as Array<{ model: string; imagesPerSec: number }>).find((x) =>
        x.model === r.model
      );
      if (t) {
        r.torchImagesPerSec = t.imagesPerSec;
        r.ratioToTorch = r.imagesPerSec / t.imagesPerSec;
      }
    }
  }
  say("model      batch  chunk  ms/batch    img/s   TFLOP/s  f16 img/s  torch img/s  ratio");
  for (const r of results) {
    say(
      `${r.model.padEnd(9)} ${String(r.batch).padStart(6)} ${String(r.chunk).padStart(6)} ${
        r.msPerBatch.toFixed(1).padStart(9)
      } ${r.imagesPerSec.toFixed(2).padStart(8)} ${r.tflops.toFixed(3).padStart(9)} ${
        (r.f16?.imagesPerSec.toFixed(2) ?? "-").padStart(10)
      } ${(r.torchImagesPerSec?.toFixed(1) ?? "-").padStart(12)} ${
        (r.ratioToTorch?.toFixed(3) ?? "-").padStart(6)
      }`,
    );
  }
  if (!torch) say(`torch: not measured (${reason})`);
  return {
    suite: "vit",
    adapter: describeGpu(gpu),
    software: gpu.isSoftware,
    size: 224,
    batch,
    batchNote: gpu.isSoftware
      ? `software adapter: batch 1, best of ${rounds} timed forwards per model`
      : "batch 32",
    rounds,
    models: models.map((m) => m.name),
    baseline: baseDir ?? null,
    results,
    torch,
    torchReason: torch ? undefined : reason,
  };
}

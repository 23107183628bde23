/**
 * `deno task bench gemm [--json] [--quick] [full]`: f32 GEMM throughput (webgpu-notes.md §2, §8).
 *
 * Reports GFLOP/s for the square 4096³ case and the ViT-S/8 shapes (M = 785·32 token rows; K=384 →
 * N=1152, 384, 1536 and K=1536 → N=384, dino-backbone.md §6), plus the cost of many tiny dispatches in
 * one submit. Timing records `reps` dispatches into one encoder, submits once and awaits
 * onSubmittedWorkDone once, so Deno's ~10 ms poll floor (webgpu-notes.md §1.9) is amortised; the floor
 * itself is reported as `submitWaitMs`.
 *
 * On a software adapter the sizes are scaled down (square 512, M = 785) unless `full` is given; the JSON
 * says so. When python3 with torch and a CUDA device are present, the same shapes are timed in PyTorch
 * fp32 with TF32 off in a subprocess of this invocation and the ratio is printed; otherwise `torch` is
 * null and `torchReason` says why.
 * @module
 */
import type { BenchOptions } from "./suite.ts";
import { describeGpu, type Gpu, openGpu } from "../gpu/device.ts";
import { BufferArena } from "../gpu/buffers.ts";
import type { Dispatch } from "../gpu/pipelines.ts";
import { readF32 } from "../gpu/readback.ts";
import { StepRecorder } from "../gpu/step_recorder.ts";
import {
  chooseGemmVariant,
  gemmFlops,
  type GemmShape,
  type GemmVariant,
  prepareGemm,
} from "../kernels/gemm.ts";
import { torchReference } from "./torch_reference.ts";

/** One timed GEMM shape. */
interface ShapeResult {
  name: string;
  M: number;
  N: number;
  K: number;
  /** B stored [N, K] (the ViT shapes, as nn.Linear weights). */
  transB: boolean;
  kernel: string;
  /** The variant prepareGemm picks for this shape (chooseGemmVariant), whose numbers these are. */
  variant: GemmVariant;
  /** The other variant timed on the same shape (full runs only), to check the choice. */
  other?: { variant: GemmVariant; ms: number; gflops: number };
  /** The chosen variant with A and B stored as f16 (full runs on adapters with shader-f16). */
  f16?: { ms: number; gflops: number; sampleMaxRelErr: number };
  reps: number;
  ms: number;
  gflops: number;
  /** Max relative error of 16 sampled outputs against float64 dot products. */
  sampleMaxRelErr: number;
  torchMs?: number;
  torchGflops?: number;
  /** ours / torch throughput. */
  ratioToTorch?: number;
}

/** The ViT-S/8 weight GEMMs: [M×K]·[K×N] with M = tokens·images. */
const VIT_SHAPES: Array<{ name: string; K: number; N: number }> = [
  { name: "qkv", K: 384, N: 1152 },
  { name: "proj", K: 384, N: 384 },
  { name: "fc1", K: 384, N: 1536 },
  { name: "fc2", K: 1536, N: 384 },
];
const TOKENS = 785; // 28×28 patches + CLS at 224 px, patch 8

function fillRandom(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296) * 2 - 1;
  }
  return out;
}

async function submitAndWait(gpu: Gpu, ds: Dispatch[], reps: number): Promise<number> {
  const rec = new StepRecorder(gpu, "bench");
  for (let i = 0; i < reps; i++) rec.dispatch(...ds);
  const t0 = performance.now();
  rec.submit();
  await gpu.device.queue.onSubmittedWorkDone();
  return performance.now() - t0;
}

/** Times `ds` by doubling the batch until one submit takes ≥ targetMs (or maxReps); ms per repetition. */
async function timeDispatches(
  gpu: Gpu,
  ds: Dispatch[],
  targetMs: number,
  maxReps: number,
): Promise<{ ms: number; reps: number }> {
  if (maxReps > 1) await submitAndWait(gpu, ds, 1); // warm-up (pipeline first use)
  let reps = 1;
  for (;;) {
    const t = await submitAndWait(gpu, ds, reps);
    if (t >= targetMs || reps >= maxReps) return { ms: t / reps, reps };
    reps = Math.min(maxReps, reps * Math.max(2, Math.min(16, Math.ceil(targetMs / Math.max(t, 1)))));
  }
}

async function timeGemm(
  gpu: Gpu,
  name: string,
  M: number,
  N: number,
  K: number,
  targetMs: number,
  maxReps: number,
  variant: GemmVariant,
  half = false,
  transB = false,
): Promise<ShapeResult> {
  const arena = new BufferArena(gpu, `bench-${name}`);
  try {
    let a = fillRandom(M * K, 1), b = fillRandom(K * N, 2);
    let ta, tb;
    if (half) {
      const a16 = Float16Array.from(a), b16 = Float16Array.from(b);
      ta = arena.upload(new Uint16Array(a16.buffer), [M, K], "f16", "A16");
      tb = arena.upload(new Uint16Array(b16.buffer), transB ? [N, K] : [K, N], "f16", "B16");
      a = Float32Array.from(a16); // the values the kernel sees, for the spot check
      b = Float32Array.from(b16);
    } else {
      ta = arena.upload(a, [M, K], "f32", "A");
      tb = arena.upload(b, transB ? [N, K] : [K, N], "f32", "B");
    }
    const tc = arena.tensor([M, N], "f32", "C");
    const shape: GemmShape = { M, N, K, transB };
    const d = await prepareGemm(gpu, arena, shape, { a: ta, b: tb, c: tc }, { variant });
    const { ms, reps } = await timeDispatches(gpu, [d], targetMs, maxReps);
    // Spot-check 16 outputs so a fast but wrong kernel cannot report a number.
    const c = await readF32(gpu, tc);
    let maxRel = 0;
    for (let i = 0; i < 16; i++) {
      const m = Math.floor((i * 7919) % M), n = Math.floor((i * 104729) % N);
      let acc = 0, mag = 0;
      for (let k = 0; k < K; k++) {
        const bv = transB ? b[n * K + k] : b[k * N + n];
        acc += a[m * K + k] * bv;
        mag += Math.abs(a[m * K + k] * bv);
      }
      maxRel = Math.max(maxRel, Math.abs(c[m * N + n] - acc) / Math.max(mag, 1e-30));
    }
    return {
      name,
      M,
      N,
      K,
      transB,
      kernel: d.kernel.label,
      variant,
      reps,
      ms,
      gflops: gemmFlops(shape) / (ms * 1e6),
      sampleMaxRelErr: maxRel,
    };
  } finally {
    arena.destroyAll();
  }
}

async function dispatchOverhead(gpu: Gpu, count: number): Promise<Record<string, number>> {
  const arena = new BufferArena(gpu, "bench-dispatch");
  try {
    const t = arena.tensor([1], "f32", "t");
    const d = await prepareGemm(gpu, arena, { M: 1, N: 1, K: 1 }, {
      a: t,
      b: t,
      c: arena.tensor([1], "f32", "c"),
    });
    await submitAndWait(gpu, [d], 1);
    // The floor: one empty submit + onSubmittedWorkDone.
    const floors: number[] = [];
    for (let i = 0; i < 3; i++) floors.push(await submitAndWait(gpu, [], 0));
    const total = await submitAndWait(gpu, [d], count);
    const floor = Math.min(...floors);
    return {
      dispatches: count,
      totalMs: total,
      usPerDispatch: ((total - floor) / count) * 1000,
      submitWaitMs: floor,
    };
  } finally {
    arena.destroyAll();
  }
}

// ---------------------------------------------------------------------------------------------------
// PyTorch reference (subprocess)

const TORCH_SCRIPT = `
import json, sys, time
import torch
shapes = json.loads(sys.argv[1])
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
dev = torch.device("cuda")
out = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "results": []}
for s in shapes:
    M, N, K = s["M"], s["N"], s["K"]
    a = torch.randn(M, K, device=dev, dtype=torch.float32)
    if s.get("transB"):  # weights [N, K] as nn.Linear keeps them; a @ b.t() is a transposed cuBLAS call
        b = torch.randn(N, K, device=dev, dtype=torch.float32).t()
    else:
        b = torch.randn(K, N, device=dev, dtype=torch.float32)
    for _ in range(3): c = a @ b
    torch.cuda.synchronize()
    reps = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(reps): c = a @ b
        torch.cuda.synchronize()
        t = time.perf_counter() - t0
        if t > 0.3 or reps >= 4096: break
        reps *= 2
    ms = t / reps * 1000
    out["results"].append({"name": s["name"], "ms": ms, "gflops": 2 * M * N * K / (ms * 1e6)})
print(json.dumps(out))
`;

// ---------------------------------------------------------------------------------------------------

/** Runs the GEMM suite; returns the JSON record (see module doc). */
export async function bench(opts: BenchOptions): Promise<Record<string, unknown>> {
  const say = opts.json ? console.error : console.log;
  const gpu = await openGpu({ announce: true });
  try {
    const full = opts.rest.includes("full");
    const scaled = !full && (opts.quick || gpu.isSoftware);
    const notes: string[] = [];
    let n = 4096, images = 32;
    if (opts.quick) {
      n = 64;
      images = 0; // M = 33 below
      notes.push(
        "--quick: square 64³ and ViT shapes with M = 33, one repetition (smoke test, not a measurement)",
      );
    } else if (scaled) {
      n = 512;
      images = 1;
      notes.push(
        "software adapter: square 512³ instead of 4096³ and ViT shapes with M = 785 (1 image) instead of " +
          "25,120 (32 images); pass `full` to force the full sizes",
      );
    }
    const M = images === 0 ? 33 : TOKENS * images;
    const maxBinding = gpu.limits.maxStorageBufferBindingSize;
    const targetMs = opts.quick ? 0 : 300;
    const maxReps = opts.quick ? 1 : 256;
    // The variant the program would use, then (full runs) the other one for comparison.
    const timeShape = async (name: string, m: number, nn: number, k: number, transB = false) => {
      const chosen = chooseGemmVariant({ M: m, N: nn, K: k }, gpu.isSoftware);
      const r = await timeGemm(gpu, name, m, nn, k, targetMs, maxReps, chosen, false, transB);
      if (!opts.quick) {
        const otherVariant: GemmVariant = chosen === "tile64" ? "tile128" : "tile64";
        const o = await timeGemm(gpu, name, m, nn, k, targetMs, maxReps, otherVariant, false, transB);
        r.other = { variant: otherVariant, ms: o.ms, gflops: o.gflops };
        if (gpu.hasF16) {
          const h = await timeGemm(gpu, name, m, nn, k, targetMs, maxReps, chosen, true, transB);
          r.f16 = { ms: h.ms, gflops: h.gflops, sampleMaxRelErr: h.sampleMaxRelErr };
        }
      }
      return r;
    };
    const square = await timeShape(`square${n}`, n, n, n);
    const vit: ShapeResult[] = [];
    for (const s of VIT_SHAPES) {
      let m = M;
      // Keep every operand within one binding (128 MiB on lavapipe).
      while (m * Math.max(s.K, s.N) * 4 > maxBinding) m = Math.floor(m / 2);
      if (m !== M) notes.push(`${s.name}: M reduced to ${m} to fit the ${maxBinding}-byte binding limit`);
      // As core/vit/vit.ts calls them: weights stored [N, K] (nn.Linear layout), so B is transposed.
      vit.push(await timeShape(`vit_${s.name}`, m, s.N, s.K, true));
    }
    const dispatch = await dispatchOverhead(gpu, opts.quick ? 50 : 2000);
    const all = [square, ...vit];
    const { torch, reason } = await torchReference(
      TORCH_SCRIPT,
      all.map(({ name, M, N, K, transB }) => ({ name, M, N, K, transB })),
    );
    if (torch) {
      const results = torch.results as Array<{ name: string; ms: number; gflops: number }>;
      for (const r of all) {
        const t = results.find((x) => x.name === r.name);
        if (t) {
          r.torchMs = t.ms;
          r.torchGflops = t.gflops;
          r.ratioToTorch = r.gflops / t.gflops;
        }
      }
    }
    if (!opts.json) say(describeGpu(gpu));
    for (const note of notes) say(`note: ${note}`);
    say(
      "shape          M      N      K    ms/GEMM   GFLOP/s   torch GFLOP/s  ratio  variant  (other variant)",
    );
    for (const r of all) {
      const cells = [
        r.name.padEnd(11),
        String(r.M).padStart(6),
        String(r.N).padStart(6),
        String(r.K).padStart(6),
        r.ms.toFixed(3).padStart(10),
        r.gflops.toFixed(1).padStart(9),
        (r.torchGflops?.toFixed(1) ?? "-").padStart(15),
        (r.ratioToTorch?.toFixed(3) ?? "-").padStart(6),
        ` ${r.variant}`,
        r.other ? `(${r.other.variant}: ${r.other.gflops.toFixed(1)} GFLOP/s)` : "",
        r.f16 ? `f16 A/B: ${r.f16.gflops.toFixed(1)} GFLOP/s` : "",
      ];
      say(cells.join(" "));
    }
    say(
      `dispatch overhead: ${dispatch.usPerDispatch.toFixed(1)} µs per 1×1×1 GEMM dispatch ` +
        `(${dispatch.dispatches} in one submit); submit + onSubmittedWorkDone floor ${
          dispatch.submitWaitMs.toFixed(1)
        } ms`,
    );
    if (!torch) say(`torch: not measured (${reason})`);
    return {
      suite: "gemm",
      // date, command, deno, loadavg: added by core/cli/bench.ts for every suite
      adapter: gpu.description,
      software: gpu.isSoftware,
      quick: opts.quick,
      scaled,
      notes,
      square,
      vit,
      dispatch,
      torch,
      torchReason: torch ? undefined : reason,
    };
  } finally {
    gpu.destroy();
  }
}

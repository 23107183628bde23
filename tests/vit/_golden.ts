/**
 * The §5.1 golden cases of dino-backbone.md (formula weights, formula input, numbers from the PyTorch
 * reference quoted in the spec) and the forward helper shared by tests/vit/vit_test.ts and
 * tests/vit/vit_golden_big_test.ts.
 * @module
 */
import { formulaVitWeights, type VitWeights } from "../../core/vit/weights.ts";
import { positionTable } from "../../core/vit/pos_embed.ts";
import { VitBackbone, type VitGpuWeights } from "../../core/vit/vit.ts";
import type { Gpu } from "../../core/gpu/device.ts";
import type { BufferArena } from "../../core/gpu/buffers.ts";
import { StepRecorder } from "../../core/gpu/step_recorder.ts";
import { readF32 } from "../../core/gpu/readback.ts";
import { assertAllClose } from "../_util.ts";

export async function forward(
  gpu: Gpu,
  arena: BufferArena,
  w: VitWeights | VitGpuWeights,
  input: Float32Array,
  shape: [number, number, number],
  extra: { chunk?: number; cls?: boolean } = {},
) {
  const [B, H, W] = shape;
  const vit = await VitBackbone.create(gpu, arena, w, {
    batch: B,
    height: H,
    width: W,
    attn: true,
    ...extra,
  });
  try {
    const images = arena.upload(input, [B, 3, H, W], "f32", "images");
    const rec = new StepRecorder(gpu);
    vit.encode(rec, images);
    rec.submit();
    return {
      feat: await readF32(gpu, vit.features),
      attn: await readF32(gpu, vit.attn!),
      cls: vit.cls ? await readF32(gpu, vit.cls) : null,
      chunk: vit.chunk,
    };
  } finally {
    vit.destroy();
  }
}

interface Golden {
  pos1: number[];
  posLast: number[];
  cls: number[];
  feat1: number[];
  featLast: number[];
  sum: number;
  sumAbs: number;
  hp0: number[];
  hpLast: number[];
}

const GOLDEN: Record<string, Golden> = {
  "tiny 64²": {
    pos1: [-0.437269, -0.163668, 0.193565, 0.451889],
    posLast: [-0.233719, 0.121088, 0.414022, 0.495396],
    cls: [-0.00143208, 1.33126, 0.696518, -1.41916],
    feat1: [-0.0293569, 1.06909, -0.990083, 0.306652],
    featLast: [-1.09435, 0.926682, -0.852757, 1.91094],
    sum: 7.2869478,
    sumAbs: 3461.3597,
    hp0: [-46.5435, 30.0068, -18.2472, 3.08871],
    hpLast: [20.8979, -44.5791, 39.8158, -76.8755],
  },
  "tiny 80×96": {
    pos1: [-0.573969, -0.215858, 0.252553, 0.591914],
    posLast: [-0.264985, 0.146823, 0.483607, 0.573274],
    cls: [-0.292559, 1.4696, 0.478957, -1.18129],
    feat1: [-0.752136, 1.21528, -0.980716, 0.735527],
    featLast: [-1.11119, -0.475747, 0.872588, 1.51005],
    sum: 15.636678,
    sumAbs: 6420.2428,
    hp0: [-28.5366, -5.27827, 27.9866, -11.9815],
    hpLast: [-43.3937, 39.6051, 11.5073, -83.1063],
  },
  "S/8 224²": {
    pos1: [0.184374, 0.447551, 0.482037, 0.270208],
    posLast: [-0.237766, 0.116631, 0.411431, 0.495996],
    cls: [0.758865, 0.469302, -0.791629, 0.092827],
    feat1: [0.818496, 0.254301, -0.678095, 0.271782],
    featLast: [0.692248, 0.104935, -0.496908, 0.231384],
    sum: -80.580103,
    sumAbs: 245280.79,
    hp0: [-4.7041, -8.29339, 0.260198, -3.98381],
    hpLast: [-7.90711, -6.58043, 1.48976, -7.12837],
  },
  "S/8 320²": {
    pos1: [0.264652, 0.532348, 0.528023, 0.253885],
    posLast: [-0.290181, 0.0896157, 0.42362, 0.54116],
    cls: [0.764557, 0.477112, -0.804522, 0.0966775],
    feat1: [0.828781, 0.268471, -0.682928, 0.272416],
    featLast: [0.722733, 0.109893, -0.537923, 0.267716],
    sum: -165.21972,
    sumAbs: 500371.28,
    hp0: [-4.93735, -7.70547, -6.78607, 0.228246],
    hpLast: [-6.94475, 0.644872, -0.826431, -7.80019],
  },
  "B/16 224²": {
    pos1: [-0.497937, -0.401012, -0.0991767, 0.253337],
    posLast: [0.409801, 0.496349, 0.32927, -0.00606121],
    cls: [-1.24322, 0.721367, 0.449782, -1.56],
    feat1: [-1.21772, 0.669997, 0.345584, -1.43653],
    featLast: [-1.20961, 0.711339, 0.448414, -1.51255],
    sum: -34.566381,
    sumAbs: 122945.23,
    hp0: [-14.5479, -4.8911, -4.38535, -14.6508],
    hpLast: [-8.34766, -1.07874, -8.89133, -6.901],
  },
};

function formulaInput(H: number, W: number): Float32Array {
  const x = new Float32Array(3 * H * W);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < H; y++) {
      for (let xx = 0; xx < W; xx++) x[(c * H + y) * W + xx] = 1.5 * Math.sin(0.05 * xx + 0.09 * y + 1.3 * c);
    }
  }
  return x;
}

export async function golden(
  gpu: Gpu,
  arena: BufferArena,
  name: string,
  cfg: { patch: number; dim: number; heads: number; posGrid: number; depth: number },
  H: number,
  W: number,
) {
  const g = GOLDEN[name];
  const w = formulaVitWeights(cfg);
  const C = cfg.dim, gh = H / cfg.patch, gw = W / cfg.patch, P = gh * gw;
  const pos = positionTable(w.tensors.get("pos_embed")!, cfg.posGrid, C, gh, gw);
  assertAllClose(pos.subarray(C, C + 4), g.pos1, { atol: 1e-5, rtol: 0, label: `${name} pos[1]` });
  assertAllClose(pos.subarray(P * C, P * C + 4), g.posLast, {
    atol: 1e-5,
    rtol: 0,
    label: `${name} pos[last]`,
  });
  const t0 = performance.now();
  const r = await forward(gpu, arena, w, formulaInput(H, W), [1, H, W], { cls: true });
  const ms = performance.now() - t0;
  const tol = { atol: 1e-4, rtol: 0 };
  assertAllClose(r.cls!.subarray(0, 4), g.cls, { ...tol, label: `${name} feat[CLS]` });
  assertAllClose(r.feat.subarray(0, 4), g.feat1, { ...tol, label: `${name} feat[1]` });
  assertAllClose(r.feat.subarray((P - 1) * C, (P - 1) * C + 4), g.featLast, {
    ...tol,
    label: `${name} feat[last]`,
  });
  let sum = 0, sumAbs = 0;
  for (const v of [...r.cls!, ...r.feat]) {
    sum += v;
    sumAbs += Math.abs(v);
  }
  assertAllClose([sum], [g.sum], { atol: 1e-2, rtol: 0, label: `${name} Σ feat` });
  assertAllClose([sumAbs], [g.sumAbs], { atol: 0, rtol: 1e-5, label: `${name} Σ|feat|` });
  // hp logits: 1e-3 relative (dino-backbone.md §5.1), with an absolute floor for entries near zero.
  const hpTol = { atol: 1e-3, rtol: 1e-3 };
  assertAllClose(r.attn.subarray(0, 4), g.hp0, { ...hpTol, label: `${name} hp[0, 0:4]` });
  assertAllClose(r.attn.subarray(P * P - 4), g.hpLast, { ...hpTol, label: `${name} hp[last, -4:]` });
  console.error(`  §5.1 ${name}: forward ${ms.toFixed(0)} ms, Σfeat ${sum.toFixed(4)} (golden ${g.sum})`);
}

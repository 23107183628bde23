/**
 * ViT forward pass against real PyTorch (tests/fixtures/vit/make_fixtures.py: clean-room torch module,
 * float64) and the formula-weight golden numbers of dino-backbone.md §5.1; position tables against
 * torch's bicubic interpolate; the patchify kernel against its CPU reference.
 *
 * The larger §5.1 cases (ViT-S/8 at 224² and 320², ViT-B/16 at 224²) take minutes on lavapipe; they run
 * only with HPSEG_VIT_GOLDEN_BIG=1.
 * @module
 */
import assert from "node:assert/strict";
import { readSafetensorsSync } from "../../core/io/safetensors.ts";
import { formulaVitWeights, loadVitWeights, type VitWeights } from "../../core/io/vit_weights.ts";
import { positionTable, resizeGrid } from "../../core/vit/pos_embed.ts";
import { patchifyRef, prepareClsRows, preparePatchify } from "../../core/vit/embed.ts";
import { chunkSize, VitBackbone, VitGpuWeights } from "../../core/vit/vit.ts";
import { StepRecorder } from "../../core/gpu/step_recorder.ts";
import { readF32 } from "../../core/gpu/readback.ts";
import type { Gpu } from "../../core/gpu/device.ts";
import type { BufferArena } from "../../core/gpu/buffers.ts";
import { assertAllClose, gpuTest, randnF32 } from "../_util.ts";

const FIX = new URL("../fixtures/vit/", import.meta.url).pathname;
const exp = readSafetensorsSync(FIX + "tiny_expected.safetensors");
const expected = (k: string) => exp.getF32(k);
globalThis.addEventListener("unload", () => exp.close());

async function forward(
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

Deno.test("positionTable() matches torch bicubic interpolate with the +0.1 scale", () => {
  for (
    const [tag, G, gh, gw] of [["28_40x40", 28, 40, 40], ["14_20x30", 14, 20, 30], [
      "28_28x40",
      28,
      28,
      40,
    ]] as const
  ) {
    const src = expected(`interp_src_${tag}`); // [1, 2, G, G] channels-first
    const want = expected(`interp_out_${tag}`); // [1, 2, gh, gw]
    // resizeGrid works channels-last: transpose in and out.
    const cl = new Float64Array(G * G * 2);
    for (let ch = 0; ch < 2; ch++) for (let i = 0; i < G * G; i++) cl[i * 2 + ch] = src[ch * G * G + i];
    const out = resizeGrid(cl, G, 2, gh, gw);
    const got = new Float64Array(2 * gh * gw);
    for (let ch = 0; ch < 2; ch++) for (let i = 0; i < gh * gw; i++) got[ch * gh * gw + i] = out[i * 2 + ch];
    assertAllClose(got, want, { atol: 2e-6, rtol: 0, label: `resize ${tag}` });
  }
});

gpuTest("patchify kernel matches its CPU reference on awkward sizes", async ({ gpu, arena }) => {
  for (const [B, first, n, H, W, p] of [[3, 1, 2, 24, 40, 8], [2, 0, 2, 15, 21, 5]]) {
    const img = randnF32(B * 3 * H * W, 4);
    const plan = await preparePatchify(gpu, arena, { images: n, first, height: H, width: W, patch: p });
    const want = patchifyRef({ images: n, first, height: H, width: W, patch: p }, img);
    const images = arena.upload(img, [B, 3, H, W], "f32", "img");
    const out = arena.tensor([want.length], "f32", "patches");
    const rec = new StepRecorder(gpu);
    rec.dispatch(plan.bind(images, out)).submit();
    assertAllClose(await readF32(gpu, out), want, {
      atol: 0,
      rtol: 0,
      label: `patchify ${B}×${H}×${W}/p${p}`,
    });
  }
});

gpuTest("cls_rows kernel writes row 0 of every token block and nothing else", async ({ gpu, arena }) => {
  const [B, N, C] = [3, 5, 7];
  const x0 = randnF32(B * N * C, 8), cls = randnF32(C, 9);
  const want = Float64Array.from(x0);
  for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) want[b * N * C + c] = cls[c];
  const x = arena.upload(x0, [B * N, C], "f32", "x");
  const d = await prepareClsRows(gpu, arena, { images: B, tokens: N, dim: C }, {
    clsPos: arena.upload(cls, [C], "f32", "cls"),
    x,
  });
  new StepRecorder(gpu).dispatch(d).submit();
  assertAllClose(await readF32(gpu, x), want, { atol: 0, rtol: 0, label: "cls rows" });
});

gpuTest(
  "VitBackbone matches PyTorch on the tiny fixture model (square, resized, chunked, f16)",
  async (ctx) => {
    const { gpu, arena } = ctx;
    const w = await loadVitWeights(FIX + "tiny_plain.pth", { heads: 3 });
    // 16×16: the 4×4 grid needs no resize; batch 2 in one chunk and in chunks of one.
    for (const chunk of [undefined, 1]) {
      const r = await forward(gpu, arena, w, expected("input_a"), [2, 16, 16], { chunk });
      const e = assertAllClose(r.feat, expected("feat_a"), {
        atol: 1e-4,
        rtol: 0,
        label: `features a (chunk ${r.chunk})`,
      });
      assertAllClose(r.attn, expected("attn_a"), { atol: 1e-4, rtol: 1e-4, label: "attn a" });
      console.error(`  tiny 16×16 chunk ${r.chunk}: max |Δfeat| ${e.toExponential(2)}`);
    }
    // 20×24: 5×6 grid, +0.1 bicubic resize of the position table.
    const pos = positionTable(w.tensors.get("pos_embed")!, 4, 24, 5, 6);
    assertAllClose(pos, expected("pos_b"), { atol: 1e-6, rtol: 0, label: "pos table 5×6" });
    const rb = await forward(gpu, arena, w, expected("input_b"), [1, 20, 24]);
    assertAllClose(rb.feat, expected("feat_b"), { atol: 1e-4, rtol: 0, label: "features b" });
    assertAllClose(rb.attn, expected("attn_b"), { atol: 1e-4, rtol: 1e-4, label: "attn b" });
    // f16 checkpoint: converted weights give PyTorch's output for the same f16 weights.
    const w16 = await loadVitWeights(FIX + "tiny_f16.pth", { heads: 3 });
    const r16 = await forward(gpu, arena, w16, expected("input_a"), [2, 16, 16]);
    assertAllClose(r16.feat, expected("feat_f16_a"), { atol: 1e-4, rtol: 0, label: "features f16" });
    assertAllClose(r16.attn, expected("attn_f16_a"), { atol: 1e-4, rtol: 1e-4, label: "attn f16" });
    // And the wrong head count visibly fails (heads are not stored in checkpoints, §5.3).
    const wrong = await loadVitWeights(FIX + "tiny_plain.pth", { heads: 1 });
    const rw = await forward(gpu, arena, wrong, expected("input_a"), [2, 16, 16]);
    assert.throws(() => assertAllClose(rw.feat, expected("feat_a"), { atol: 1e-4, rtol: 0 }));
  },
);

gpuTest(
  "VitBackbone shares uploaded weights between input sizes and leaves them alive",
  async ({ gpu, arena }) => {
    const w = VitGpuWeights.upload(gpu, await loadVitWeights(FIX + "tiny_plain.pth", { heads: 3 }));
    try {
      const a = await forward(gpu, arena, w, expected("input_a"), [2, 16, 16]);
      const b = await forward(gpu, arena, w, expected("input_b"), [1, 20, 24]); // first backbone destroyed
      assertAllClose(a.feat, expected("feat_a"), { atol: 1e-4, rtol: 0, label: "shared weights, 16×16" });
      assertAllClose(b.feat, expected("feat_b"), { atol: 1e-4, rtol: 0, label: "shared weights, 20×24" });
      assert.ok(!w.get("norm.weight").destroyed);
    } finally {
      w.destroy();
    }
    assert.ok(w.get("norm.weight").destroyed);
  },
);

gpuTest(
  "VitBackbone.encode() alternates between input tensors without mixing them up",
  async ({ gpu, arena }) => {
    const w = await loadVitWeights(FIX + "tiny_plain.pth", { heads: 3 });
    const vit = await VitBackbone.create(gpu, arena, w, { batch: 2, height: 16, width: 16, chunk: 1 });
    try {
      const a = expected("input_a"), n = a.length / 2;
      const swapped = new Float32Array(a.length);
      swapped.set(a.subarray(n), 0);
      swapped.set(a.subarray(0, n), n);
      const ta = arena.upload(a, [2, 3, 16, 16], "f32", "a"),
        tb = arena.upload(swapped, [2, 3, 16, 16], "f32", "b");
      const run = async (t: typeof ta) => {
        const rec = new StepRecorder(gpu);
        vit.encode(rec, t);
        rec.submit();
        return await readF32(gpu, vit.features);
      };
      const fa = await run(ta), fb = await run(tb), fa2 = await run(ta);
      const half = fa.length / 2;
      assertAllClose(fa, expected("feat_a"), { atol: 1e-4, rtol: 0, label: "first A" });
      assertAllClose(fb.subarray(0, half), fa.subarray(half), { atol: 0, rtol: 0, label: "B = swapped A" });
      assertAllClose(fa2, fa, { atol: 0, rtol: 0, label: "A again" });
      assert.throws(
        () => vit.encode(new StepRecorder(gpu), arena.tensor([1, 3, 16, 16])),
        /expected f32\[2, 3, 16, 16\]/,
      );
    } finally {
      vit.destroy();
    }
  },
);

gpuTest(
  "VitBackbone rejects sizes that are not patch multiples and reports chunking",
  async ({ gpu, arena }) => {
    const w = await loadVitWeights(FIX + "tiny_plain.pth", { heads: 3 });
    await assert.rejects(
      VitBackbone.create(gpu, arena, w, { batch: 1, height: 18, width: 16 }),
      /18×16 is not a positive multiple of the patch size 4/,
    );
    // S/8 at 224 on a 128 MiB adapter: 8 images per chunk (scores 6·785²·4 B = 14.8 MB per image).
    const s8 = { patch: 8, dim: 384, depth: 12, heads: 6, eps: 1e-6, posGrid: 28, mlpDim: 1536 };
    assert.equal(chunkSize(s8, 28, 28, 64, 128 * 2 ** 20), 9);
    assert.equal(chunkSize(s8, 28, 28, 4, 128 * 2 ** 20), 4);
    assert.throws(
      () => chunkSize(s8, 40, 40, 1, 32 * 2 ** 20),
      /over the adapter's 33554432-byte binding limit/,
    );
  },
);

// ---------------------------------------------------------------------------------------------------
// dino-backbone.md §5.1 golden numbers (formula weights, computed with DINO's module in float64).

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

async function golden(
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

const TINY = { patch: 8, dim: 64, depth: 2, heads: 4, posGrid: 8 };
gpuTest(
  "VitBackbone reproduces the §5.1 golden numbers: tiny model at 64² and 80×96",
  async ({ gpu, arena }) => {
    await golden(gpu, arena, "tiny 64²", TINY, 64, 64);
    await golden(gpu, arena, "tiny 80×96", TINY, 80, 96);
  },
);

const big = Deno.env.get("HPSEG_VIT_GOLDEN_BIG") === "1";
const S8 = { patch: 8, dim: 384, depth: 12, heads: 6, posGrid: 28 };
Deno.test({
  name:
    "VitBackbone reproduces the §5.1 golden numbers: ViT-S/8 224², 320², ViT-B/16 224² (HPSEG_VIT_GOLDEN_BIG=1)",
  ignore: !big,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () => {},
});
if (big) {
  gpuTest("§5.1 golden: ViT-S/8 224²", ({ gpu, arena }) => golden(gpu, arena, "S/8 224²", S8, 224, 224));
  gpuTest("§5.1 golden: ViT-S/8 320²", ({ gpu, arena }) => golden(gpu, arena, "S/8 320²", S8, 320, 320));
  gpuTest(
    "§5.1 golden: ViT-B/16 224²",
    ({ gpu, arena }) =>
      golden(gpu, arena, "B/16 224²", { patch: 16, dim: 768, depth: 12, heads: 12, posGrid: 14 }, 224, 224),
  );
}

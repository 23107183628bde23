/**
 * Tests for core/eval/evaluate.ts: the GPU upsampling / argmax / confusion path against a float64 CPU
 * reference on a stand-in model whose "forward" copies its input into the code (hp-method.md §8.1–§8.4).
 * @module
 */
import { deepEqual as assertEquals, ok, rejects } from "node:assert/strict";
import { Interrupted } from "../../core/errors.ts";
import { type EvalModel, evaluate, Predictor } from "../../core/eval/evaluate.ts";
import { upsampleRef } from "../../core/model/probes.ts";
import { Confusion, scoreConfusion } from "../../core/eval/metrics.ts";
import { CrfPool } from "../../core/eval/crf_pool.ts";
import type { BufferArena } from "../../core/gpu/buffers.ts";
import type { StepRecorder } from "../../core/gpu/step_recorder.ts";
import type { GpuTensor } from "../../core/gpu/buffers.ts";
import { assertAllClose, gpuTest, randnF32, rng } from "../_util.ts";

function copyModel(arena: BufferArena, B: number, Sh: number, Sw: number, D: number): EvalModel {
  const code = arena.tensor([B * Sh * Sw, D], "f32", "mock-code");
  return { code, D, Sh, Sw, encode: (rec: StepRecorder, images: GpuTensor) => void rec.copy(images, code) };
}

function argmax(x: Float64Array, n: number): Uint8Array {
  const out = new Uint8Array(x.length / n);
  for (let i = 0; i < out.length; i++) {
    let b = 0;
    for (let k = 1; k < n; k++) if (x[i * n + k] > x[i * n + b]) b = k;
    out[i] = b;
  }
  return out;
}

const B = 2, Sh = 3, Sw = 5, H = 11, W = 17, n = 4, D = 7;

function reference(code: Float32Array, clusters: Float32Array, linear: Float32Array) {
  const N = B * Sh * Sw, g = { B, Sh, Sw, H, W };
  const cz = new Float64Array(N * n), lz = new Float64Array(N * n);
  for (let i = 0; i < N; i++) {
    for (let k = 0; k < n; k++) {
      let cn = 0, dc = 0, dl = linear[n * D + k];
      for (let d = 0; d < D; d++) {
        cn += clusters[k * D + d] ** 2;
        dc += code[i * D + d] * clusters[k * D + d];
        dl += code[i * D + d] * linear[k * D + d];
      }
      cz[i * n + k] = dc / Math.sqrt(cn);
      lz[i * n + k] = dl;
    }
  }
  const ucz = upsampleRef(cz, n, g), ulz = upsampleRef(lz, n, g), ucode = upsampleRef(code, D, g);
  const probsC = new Float64Array(ucz.length), probsL = new Float64Array(ulz.length);
  for (let o = 0; o < B * H * W; o++) {
    let s2 = 0;
    for (let d = 0; d < D; d++) s2 += ucode[o * D + d] ** 2;
    const inv = 2 / Math.sqrt(s2);
    let sc = 0, sl = 0;
    for (let k = 0; k < n; k++) {
      probsC[o * n + k] = Math.exp(ucz[o * n + k] * inv);
      probsL[o * n + k] = Math.exp(ulz[o * n + k]);
      sc += probsC[o * n + k];
      sl += probsL[o * n + k];
    }
    for (let k = 0; k < n; k++) {
      probsC[o * n + k] /= sc;
      probsL[o * n + k] /= sl;
    }
  }
  return { cluster: argmax(ucz, n), linear: argmax(ulz, n), probsC, probsL };
}

gpuTest(
  "Predictor upsamples, takes argmaxes, counts confusion and softmaxes like the CPU reference",
  async ({ gpu, arena }) => {
    const code = randnF32(B * Sh * Sw * D, 1), clusters = randnF32(n * D, 2), linear = randnF32(n * D + n, 3);
    const r = rng(4);
    const labels = Int32Array.from({ length: B * H * W }, () => Math.floor(r() * (n + 1)) - 1);
    const model = copyModel(arena, B, Sh, Sw, D);
    const images = arena.upload(code, [B * Sh * Sw, D]);
    const p = await Predictor.create(gpu, arena, model, { clusters, linear }, { B, H, W, n, probs: true });
    const got = await p.run(images, labels);
    const ref = reference(code, clusters, linear);
    assertEquals(got.cluster, ref.cluster);
    assertEquals(got.linear, ref.linear);
    const cc = new Confusion(n), cl = new Confusion(n);
    cc.add(ref.cluster, labels);
    cl.add(ref.linear, labels);
    assertEquals([...got.confusion!.subarray(0, n * n)], [...cc.counts]);
    assertEquals([...got.confusion!.subarray(n * n)], [...cl.counts]);
    const pix = B * H * W;
    assertAllClose(got.probs!.subarray(0, pix * n), ref.probsC, {
      atol: 1e-5,
      rtol: 1e-4,
      label: "cluster probs",
    });
    assertAllClose(got.probs!.subarray(pix * n), ref.probsL, {
      atol: 1e-5,
      rtol: 1e-4,
      label: "linear probs",
    });
  },
);

gpuTest(
  "evaluate() accumulates a global matching over batches and runs the CRF in workers",
  async ({ gpu, arena }) => {
    const clusters = randnF32(n * D, 12), linear = randnF32(n * D + n, 13);
    const r = rng(14);
    const batches = [0, 1, 2].map((i) => ({
      images: randnF32(B * Sh * Sw * D, 20 + i),
      labels: Int32Array.from({ length: B * H * W }, () => Math.floor(r() * (n + 1)) - 1),
      rgb: Uint8Array.from({ length: B * H * W * 3 }, () => Math.floor(r() * 256)),
      count: B,
    }));
    const model = copyModel(arena, B, Sh, Sw, D);
    const pool = new CrfPool(2);
    try {
      const res = await evaluate(gpu, arena, model, { clusters, linear }, batches, {
        B,
        H,
        W,
        n,
        imageShape: [B * Sh * Sw, D],
        crf: pool,
      });
      const cc = new Confusion(n), cl = new Confusion(n);
      for (const b of batches) {
        const ref = reference(b.images, clusters, linear);
        cc.add(ref.cluster, b.labels);
        cl.add(ref.linear, b.labels);
      }
      const wantC = scoreConfusion(cc.counts, n, "cluster"), wantL = scoreConfusion(cl.counts, n, "linear");
      assertAllClose([res.cluster.acc, res.cluster.miou], [wantC.acc, wantC.miou], { label: "cluster" });
      assertAllClose([res.linear.acc, res.linear.miou], [wantL.acc, wantL.miou], { label: "linear" });
      assertEquals(res.images, 6);
      ok(res.crf && Number.isFinite(res.crf.cluster.acc) && Number.isFinite(res.crf.linear.miou));
    } finally {
      pool.close();
    }
  },
);

gpuTest(
  "Predictor linearOnly gives the linear slot's maps and counts unchanged; read() can skip the maps",
  async ({ gpu, arena }) => {
    const code = randnF32(B * Sh * Sw * D, 31),
      clusters = randnF32(n * D, 32),
      linear = randnF32(n * D + n, 33);
    const r = rng(34);
    const labels = Int32Array.from({ length: B * H * W }, () => Math.floor(r() * (n + 1)) - 1);
    const model = copyModel(arena, B, Sh, Sw, D);
    const images = arena.upload(code, [B * Sh * Sw, D]);
    const p = await Predictor.create(gpu, arena, model, { clusters, linear }, {
      B,
      H,
      W,
      n,
      linearOnly: true,
    });
    const got = await p.run(images, labels);
    const ref = reference(code, clusters, linear);
    assertEquals(got.linear, ref.linear);
    const cl = new Confusion(n);
    cl.add(ref.linear, labels);
    assertEquals([...got.confusion!.subarray(n * n)], [...cl.counts]);
    const counts = await p.run(images, labels, { predictions: false });
    assertEquals([counts.cluster.length, counts.linear.length], [0, 0]);
    assertEquals([...counts.confusion!], [...got.confusion!]);
  },
);

gpuTest(
  "evaluate() scores an extra model's linear slot with the matching, reports progress and stops when asked",
  async ({ gpu, arena }) => {
    const clusters = randnF32(n * D, 41),
      linear = randnF32(n * D + n, 42),
      extraLin = randnF32(n * D + n, 43);
    const r = rng(44);
    const batches = [0, 1, 2].map((i) => ({
      images: randnF32(B * Sh * Sw * D, 50 + i),
      labels: Int32Array.from({ length: B * H * W }, () => Math.floor(r() * (n + 1)) - 1),
      count: i < 2 ? B : 1,
    }));
    const model = copyModel(arena, B, Sh, Sw, D);
    // The extra model reads the main model's code (its forward is recorded after the main one).
    const extraModel: EvalModel = { code: model.code, D, Sh, Sw, encode: () => {} };
    const seen: number[] = [];
    const opts = { B, H, W, n, imageShape: [B * Sh * Sw, D] };
    const res = await evaluate(gpu, arena, model, { clusters, linear }, batches, {
      ...opts,
      extra: { model: extraModel, probes: { clusters, linear: extraLin } },
      onBatch: (images) => seen.push(images),
    });
    assertEquals(seen, [2, 4, 5]);
    const ce = new Confusion(n);
    for (const b of batches) ce.add(reference(b.images, clusters, extraLin).linear, b.labels);
    const want = scoreConfusion(ce.counts, n, "cluster");
    assertAllClose([res.extra!.nearest.acc, res.extra!.nearest.miou], [want.acc, want.miou], {
      label: "extra",
    });
    let polls = 0;
    await rejects(
      evaluate(gpu, arena, model, { clusters, linear }, batches, { ...opts, shouldStop: () => ++polls > 1 }),
      (e: Error) => e instanceof Interrupted,
    );
    assertEquals(polls, 2, "stopped before the second batch");
  },
);

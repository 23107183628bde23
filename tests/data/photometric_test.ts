/**
 * The GPU batch assembler (core/data/photometric.ts, shaders/data/photometric.wgsl) against the CPU
 * path it replaces (core/image/transforms.ts normalizeImageNet / toTensor01 + core/data/augment.ts
 * applyAug): the clean view and the labels bit-exact, the augmented view within a stated f32 tolerance,
 * the reference clamp quirk's exact 0/1 values, on image sizes that are not multiples of the 256-thread
 * workgroup or of the blur's 5-tap footprint.
 * @module
 */
import assert from "node:assert/strict";
import { StepRecorder } from "../../core/gpu/step_recorder.ts";
import { readF32, readTensor } from "../../core/gpu/readback.ts";
import { packLabels, preparePhotometric } from "../../core/data/photometric.ts";
import { applyAug, type AugMode, type AugParams, sampleAugParams } from "../../core/data/augment.ts";
import { normalizeImageNet, toTensor01 } from "../../core/image/transforms.ts";
import { Rng } from "../../core/rng.ts";
import { type Batch, Loader } from "../../core/data/loader.ts";
import { openDataset } from "../../datasets/registry.ts";
import { assertAllClose, gpuTest } from "../_util.ts";
import type { GpuTestContext } from "../_util.ts";

/**
 * Tolerance of the augmented view. The CPU reference works in float64 inside each op and rounds to f32
 * between ops; the GPU works in f32 throughout (WGSL division may be 2.5 ulp off). Values are O(1) (the
 * normalised range is ≈ [−2.1, 2.7]); a few ulps per op over ≤ 7 ops plus a 25-tap blur stay far below 1e-5.
 */
const AUG_ATOL = 2e-5;

function cpuBatch(rgb: Uint8Array, B: number, H: number, W: number, params: AugParams[], mode: AugMode) {
  const P = H * W;
  const clean = new Float32Array(B * 3 * P), aug = new Float32Array(B * 3 * P);
  for (let b = 0; b < B; b++) {
    const img = { width: W, height: H, data: rgb.subarray(b * P * 3, (b + 1) * P * 3) };
    normalizeImageNet(img, clean, b * 3 * P);
    if (mode === "reference") aug.set(clean.subarray(b * 3 * P, (b + 1) * 3 * P), b * 3 * P);
    else toTensor01(img, aug, b * 3 * P);
    applyAug(aug, W, H, params[b], mode, b * 3 * P);
  }
  return { clean, aug };
}

async function gpuBatch(
  { gpu, arena }: GpuTestContext,
  rgb: Uint8Array,
  labels: Int32Array,
  shape: { B: number; H: number; W: number; nClasses: number; mode: AugMode },
  params: AugParams[],
) {
  const { B, H, W } = shape, P = H * W;
  const out = {
    clean: arena.tensor([B, 3, H, W], "f32", "clean"),
    aug: arena.tensor([B, 3, H, W], "f32", "aug"),
    labels: arena.tensor([B, H, W], "i32", "labels"),
  };
  const ph = await preparePhotometric(gpu, arena, { ...shape, augment: true }, out);
  ph.upload(rgb, labels, params);
  new StepRecorder(gpu).dispatch(...ph.dispatches).submit();
  const res = {
    clean: await readF32(gpu, out.clean),
    aug: await readF32(gpu, out.aug),
    labels: new Int32Array((await readTensor(gpu, out.labels)).buffer, 0, B * P),
    bits: ph.labelBits,
  };
  ph.destroy();
  return res;
}

function randomBytes(n: number, rng: Rng): Uint8Array {
  return Uint8Array.from({ length: n }, () => rng.int(256));
}

gpuTest(
  "preparePhotometric() matches the CPU batch: clean view and labels exact, augmented view within 2e-5",
  async (ctx) => {
    const rng = new Rng(11);
    // Pixel counts 247, 10, 899 (not multiples of 256); sides 2 and 13 exercise the reflect padding.
    for (const [B, H, W] of [[3, 13, 19], [2, 2, 5], [1, 31, 29]]) {
      const P = H * W;
      const rgb = randomBytes(B * P * 3, rng);
      const labels = Int32Array.from({ length: B * P }, () => rng.int(28) - 1);
      for (const mode of ["reference", "clean"] as const) {
        // Several draws per image count, plus every flag and a few permutations forced on.
        for (let trial = 0; trial < 4; trial++) {
          const params = Array.from({ length: B }, (_, b) => {
            const p = sampleAugParams(rng);
            if (trial === 1) p.blur = true;
            if (trial === 2) (p.gray = b % 2 === 0), (p.blur = true);
            return p;
          });
          const want = cpuBatch(rgb, B, H, W, params, mode);
          const got = await gpuBatch(ctx, rgb, labels, { B, H, W, nClasses: 27, mode }, params);
          const tag = `${B}x${H}x${W} ${mode} trial ${trial}`;
          assert.deepEqual(got.clean, want.clean, `clean view ${tag}`);
          assert.deepEqual(got.labels, labels, `labels ${tag}`);
          const e = assertAllClose(got.aug, want.aug, { atol: AUG_ATOL, rtol: 0, label: `aug ${tag}` });
          if (Deno.env.get("PHOTOMETRIC_LOG")) console.error(`${tag}: max |Δ| ${e}`);
        }
      }
    }
  },
);

gpuTest("preparePhotometric() reproduces the reference clamp quirk's exact 0 and 1", async (ctx) => {
  const rng = new Rng(5);
  const B = 2, H = 23, W = 17, P = H * W;
  const rgb = randomBytes(B * P * 3, rng);
  const labels = new Int32Array(B * P).fill(-1);
  // Brightness last, no grayscale or blur: every output is a clamp of a normalised value to [0, 1].
  const params: AugParams[] = [
    {
      order: [3, 1, 2, 0],
      brightness: 1.2,
      contrast: 0.8,
      saturation: 1.1,
      hue: 0.05,
      gray: false,
      blur: false,
      sigma: 1,
    },
    {
      order: [1, 3, 0, 2],
      brightness: 0.9,
      contrast: 1.3,
      saturation: 0.7,
      hue: -0.08,
      gray: false,
      blur: false,
      sigma: 1,
    },
  ];
  const want = cpuBatch(rgb, B, H, W, params, "reference");
  const got = await gpuBatch(ctx, rgb, labels, { B, H, W, nClasses: 27, mode: "reference" }, params);
  let clamped = 0, exact = 0;
  for (let i = 0; i < want.aug.length; i++) {
    assert.ok(got.aug[i] >= 0 && got.aug[i] <= 1, `aug[${i}] = ${got.aug[i]} outside [0, 1]`);
    if (want.aug[i] === 0 || want.aug[i] === 1) {
      clamped++;
      if (got.aug[i] === want.aug[i]) exact++;
      else assert.ok(Math.abs(got.aug[i] - want.aug[i]) <= AUG_ATOL, `clamp boundary at ${i}`);
    }
  }
  // The quirk bites: a normalised image has most values outside [0, 1].
  assert.ok(clamped > 0.2 * want.aug.length, `only ${clamped} of ${want.aug.length} values clamped`);
  assert.equal(exact, clamped, `${clamped - exact} clamped values not exactly 0 or 1 on the GPU`);
});

gpuTest(
  "preparePhotometric() widens i16 labels (more than 255 classes) and maps ignore to −1",
  async (ctx) => {
    const rng = new Rng(3);
    const B = 2, H = 7, W = 9, P = H * W;
    const labels = Int32Array.from({ length: B * P }, () => rng.int(301) - 1);
    labels[0] = 299;
    labels[1] = -1;
    const params = Array.from({ length: B }, () => sampleAugParams(rng));
    const got = await gpuBatch(ctx, randomBytes(B * P * 3, rng), labels, {
      B,
      H,
      W,
      nClasses: 300,
      mode: "reference",
    }, params);
    assert.equal(got.bits, 16);
    assert.deepEqual(got.labels, labels);
  },
);

Deno.test("packLabels() turns values the probes ignore into the ignore code", () => {
  const l = Int32Array.from([0, 26, -1, 254, 255, 1000, -7]);
  assert.deepEqual(Array.from(packLabels(l, 8)).slice(0, 7), [0, 26, 255, 254, 255, 255, 255]);
  assert.deepEqual(Array.from(packLabels(l, 16)).slice(0, 7), [0, 26, -1, 254, 255, 1000, -1]);
  // The trainer's buffer from the last step is overwritten in place; a buffer of another size or width is not.
  const into = packLabels(Int32Array.from([5, 5, 5, 5, 5, 5, 5]), 8);
  assert.equal(packLabels(l, 8, into), into);
  assert.deepEqual(Array.from(into).slice(0, 7), [0, 26, 255, 254, 255, 255, 255]);
  assert.notEqual(packLabels(l, 16, into), into);
  assert.notEqual(packLabels(Int32Array.from([1, 2]), 8, into), into);
});

gpuTest(
  "a Loader's augOnGpu batch through the GPU equals the CPU Loader's batch (same draws, 1 worker)",
  async (ctx) => {
    const ds = await openDataset({ dataset: "synthetic", split: "train", count: 9, imageSize: 30 });
    const B = 3, S = 21, P = S * S;
    for (const augMode of ["reference", "clean"] as const) {
      const opts = { batch: B, size: S, seed: 7, augment: true, augMode };
      const cpu = new Loader(ds, opts);
      const gpuSide = new Loader(ds, { ...opts, augOnGpu: true, workers: 1 });
      try {
        const take = async (l: Loader) => {
          const out: Batch[] = [];
          for await (const b of l.epoch(2)) out.push(b);
          return out;
        };
        const want = await take(cpu), got = await take(gpuSide);
        assert.equal(got.length, 3);
        for (let k = 0; k < got.length; k++) {
          assert.deepEqual(got[k].indices, want[k].indices);
          assert.equal(got[k].augImages, undefined);
          const g = await gpuBatch(ctx, got[k].rgb, got[k].labels, {
            B,
            H: S,
            W: S,
            nClasses: ds.nClasses,
            mode: augMode,
          }, got[k].augParams!);
          assert.deepEqual(g.clean, want[k].images, `clean view, batch ${k}`);
          assert.deepEqual(g.labels, want[k].labels, `labels, batch ${k}`);
          assert.equal(g.aug.length, B * 3 * P);
          assertAllClose(g.aug, want[k].augImages!, {
            atol: AUG_ATOL,
            rtol: 0,
            label: `aug ${augMode} batch ${k}`,
          });
        }
      } finally {
        cpu.close();
        gpuSide.close();
      }
    }
  },
);

gpuTest(
  "Photometric.cleanDispatch: the clean view of uploadRgb's crops, labels untouched",
  async ({ gpu, arena }) => {
    const rng = new Rng(8);
    const B = 2, H = 11, W = 7, P = H * W;
    const out = {
      clean: arena.tensor([B, 3, H, W], "f32", "clean"),
      aug: arena.tensor([B, 3, H, W], "f32", "aug"),
      labels: arena.upload(new Int32Array(B * P).fill(42), [B, H, W], "i32", "labels"),
    };
    const ph = await preparePhotometric(gpu, arena, {
      B,
      H,
      W,
      nClasses: 27,
      augment: true,
      mode: "reference",
    }, out);
    const rgb = randomBytes(B * P * 3, rng);
    ph.uploadRgb(rgb);
    new StepRecorder(gpu).dispatch(ph.cleanDispatch).submit();
    const want = new Float32Array(B * 3 * P);
    for (let b = 0; b < B; b++) {
      normalizeImageNet(
        { width: W, height: H, data: rgb.subarray(b * P * 3, (b + 1) * P * 3) },
        want,
        b * 3 * P,
      );
    }
    assert.deepEqual(await readF32(gpu, out.clean), want);
    assert.deepEqual(
      new Int32Array((await readTensor(gpu, out.labels)).buffer, 0, B * P),
      new Int32Array(B * P).fill(42),
    );
    assert.throws(() => ph.uploadRgb(rgb.subarray(1)), /RGB bytes/);
    ph.destroy();
  },
);

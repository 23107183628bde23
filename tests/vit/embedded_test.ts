/**
 * Tests of the embedded default backbone (core/vit/embedded.ts): deterministic DINO-layout
 * weights, and — run through the real ViT kernels — the properties it is designed for: features that
 * separate textures, are nearly invariant to the texture's phase, and attention logits that are higher
 * between patches of the same texture region.
 */
import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { gpuTest } from "../_util.ts";
import { EMBEDDED_CONFIG, EMBEDDED_E0, EMBEDDED_NE, embeddedVitWeights } from "../../core/vit/embedded.ts";
import { dinoShapes } from "../../core/vit/weights.ts";
import { VitBackbone } from "../../core/vit/vit.ts";
import { StepRecorder } from "../../core/gpu/step_recorder.ts";
import { readF32 } from "../../core/gpu/readback.ts";
import { IMAGENET_MEAN, IMAGENET_STD } from "../../core/image/transforms.ts";

Deno.test("embeddedVitWeights() is deterministic and has every DINO tensor with its shape", () => {
  const a = embeddedVitWeights(), b = embeddedVitWeights();
  const shapes = dinoShapes(EMBEDDED_CONFIG);
  assertEquals([...a.tensors.keys()].sort(), shapes.map(([k]) => k).sort());
  for (const [k, shape] of shapes) {
    const n = shape.reduce((x, y) => x * y, 1);
    assertEquals(a.tensors.get(k)!.length, n, `${k} has the wrong size`);
    assertEquals(a.tensors.get(k), b.tensors.get(k), `${k} differs between two calls`);
  }
});

const S = 64;

/** A normalised [3, S, S] image: left half stripes along x or y with period 5 and a phase, right half other. */
function image(left: "h" | "v", right: "h" | "v", phase: number): Float32Array {
  const out = new Float32Array(3 * S * S);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const kind = x < S / 2 ? left : right;
      const u = kind === "h" ? y : x;
      const t = 0.5 + 0.4 * Math.sin((2 * Math.PI * (u + phase)) / 5);
      for (let c = 0; c < 3; c++) out[c * S * S + y * S + x] = (t - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
    }
  }
  return out;
}

/** Cosine of rows i and j over channels [c0, c1). */
function cos(a: Float32Array, i: number, b: Float32Array, j: number, C: number, c0 = 0, c1 = C): number {
  let d = 0, na = 0, nb = 0;
  for (let c = c0; c < c1; c++) {
    d += a[i * C + c] * b[j * C + c];
    na += a[i * C + c] ** 2;
    nb += b[j * C + c] ** 2;
  }
  return d / Math.sqrt(na * nb);
}

gpuTest(
  "embedded backbone: texture-selective, phase-tolerant features and region-aware attention",
  async ({ gpu, arena }) => {
    const vit = await VitBackbone.create(gpu, arena, embeddedVitWeights(), {
      batch: 2,
      height: S,
      width: S,
      attn: true,
    });
    try {
      const imgs = new Float32Array(2 * 3 * S * S);
      imgs.set(image("h", "v", 0), 0);
      imgs.set(image("h", "v", 2), 3 * S * S); // same textures, shifted phase
      const t = arena.upload(imgs, [2, 3, S, S], "f32", "images");
      const rec = new StepRecorder(gpu);
      vit.encode(rec, t);
      rec.submit();
      const f = await readF32(gpu, vit.features), att = await readF32(gpu, vit.attn!);
      const g = S / 8, P = g * g, C = EMBEDDED_CONFIG.dim;
      // Interior patches: (row 3, col 1) is in the horizontal-stripe half, (row 3, col 6) in the vertical one.
      const hp = 3 * g + 1, vp = 3 * g + 6;
      // The energy channels are phase-invariant texture descriptors; the linear filter channels are not.
      const e0 = EMBEDDED_E0, e1 = EMBEDDED_E0 + EMBEDDED_NE;
      const samePhaseShift = cos(f, hp, f, P + hp, C, e0, e1); // image 0 vs 1: same texture, other phase
      const otherTexture = cos(f, hp, f, vp, C, e0, e1);
      assert(samePhaseShift > 0.9, `phase shift changed the energies: cos ${samePhaseShift}`);
      assert(
        otherTexture < samePhaseShift - 0.1,
        `h vs v stripes too similar: ${otherTexture} vs ${samePhaseShift}`,
      );
      const linearShift = cos(f, hp, f, P + hp, C, 0, e0 - 3);
      assert(linearShift < samePhaseShift, `linear responses should depend on phase (cos ${linearShift})`);
      // Attention of image 0: mean logit from a left-half query to left-half keys exceeds that to right-half keys.
      let same = 0, cross = 0, ns = 0, nc = 0;
      for (let q = 0; q < P; q++) {
        for (let k = 0; k < P; k++) {
          const qc = q % g, kc = k % g;
          if (qc === 3 || qc === 4 || kc === 3 || kc === 4) continue; // skip the border columns
          const v = att[q * P + k];
          if ((qc < 4) === (kc < 4)) (same += v, ns++);
          else (cross += v, nc++);
        }
      }
      assert(
        same / ns > cross / nc + 0.5,
        `attention not region-aware: same ${same / ns}, cross ${cross / nc}`,
      );
    } finally {
      vit.destroy();
    }
  },
);

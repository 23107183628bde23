/**
 * A fake trainer Worker for the dashboard tests (issue 7): it posts synthetic `TelemetryMessage`s at a fixed
 * step rate, the way core/hp/train_worker.ts does, and writes real PNG pictures through core/viz.
 *
 * A "step" blocks the Worker's thread with `Atomics.wait` for `stepMs`, like the real trainer blocking on a
 * GPU readback (webgpu-notes.md §1.9), plus a little CPU work building the message. When done it posts
 * `{ kind: "fake-done", steps, seconds, stepsPerSec }` (not a telemetry message) so a test can compare
 * step rates with and without dashboard clients.
 *
 * Start it with `new Worker(new URL("./fake_trainer_worker.ts", import.meta.url), { type: "module" })` and
 * post a {@link FakeRunConfig}.
 * @module
 */
/// <reference lib="deno.worker" />
import type { TelemetryMessage } from "../../core/telemetry.ts";
import {
  ghpPicture,
  lhpPicture,
  predictionPicture,
  type RgbImage,
  writePicture,
} from "../../core/viz/pictures.ts";

/** What the test posts to start a fake run. */
export interface FakeRunConfig {
  runId: string;
  runDir: string;
  steps: number;
  /** Time one step blocks the thread. */
  stepMs: number;
  /** Post a metrics message every N steps (1 = every step). */
  metricsEvery: number;
  /** Write pictures every N steps (0 = never). */
  pictureEvery: number;
  /** Post an eval message every N steps (0 = never). */
  evalEvery: number;
  /** Wait for a `{ go: true }` message after `running` before stepping (lets a test attach clients). */
  waitForGo?: boolean;
}

/** Final message of the fake run. */
export interface FakeDone {
  kind: "fake-done";
  steps: number;
  seconds: number;
  stepsPerSec: number;
  /** performance.now() at the end of each step (index 0 = start, index s = end of step s). */
  stepEnds: number[];
}

const S = 8; // patches per side of the fake images
const SIDE = 64;
const B = 4;

function fakeImage(b: number): RgbImage {
  const data = new Uint8Array(SIDE * SIDE * 3);
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      const o = (y * SIDE + x) * 3;
      const inBlob = (x - 20 - 6 * b) ** 2 + (y - 32) ** 2 < 200;
      data[o] = inBlob ? 220 : (x * 4 + b * 40) & 255;
      data[o + 1] = inBlob ? 60 : (y * 4) & 255;
      data[o + 2] = inBlob ? 60 : 140;
    }
  }
  return { data, height: SIDE, width: SIDE };
}

async function writePictures(cfg: FakeRunConfig, step: number): Promise<void> {
  const images = Array.from({ length: B }, (_, b) => fakeImage(b));
  const P = S * S;
  const anchors = [0, 1].map((k) => {
    const positives = new Float32Array(B * P);
    for (let i = 0; i < B * P; i++) {
      positives[i] = (i * 7 + step + k) % 5 === 0 ? 1 : (i % 11 === 0 ? 0.5 : 0);
    }
    return { image: k, patch: 27 + k * 9, positives, nearest: images[(k + 1) % B] };
  });
  const ghp = await ghpPicture({ images, grid: S, anchors, thumb: 64 });
  const lhp = await lhpPicture({
    image: images[0],
    grid: S,
    anchors: [{ patch: 27, weights: [0.1, 0, 0.3, 0, 1, 0.2, 0, 0.4, 0] }, {
      patch: 0,
      weights: [0, 0, 0, 0, 1, 0.5, 0, 0.7, 0.2],
    }],
    tile: 72,
  });
  const lab = (shift: number) => ({
    data: Array.from({ length: S * S }, (_, i) => ((i % S) + shift) % 5),
    height: S,
    width: S,
  });
  const pred = await predictionPicture({
    samples: [0, 1].map((k) => ({ image: images[k], gt: lab(0), cluster: lab(k), linear: lab(step % 2) })),
    numClasses: 5,
    thumb: 64,
  });
  for (const [kind, png] of [["ghp", ghp], ["lhp", lhp], ["pred", pred]] as const) {
    const file = await writePicture(cfg.runDir, kind, step, png);
    post({ type: "picture", step, kind, file, caption: `fake ${kind}` });
  }
}

function post(msg: TelemetryMessage | FakeDone): void {
  self.postMessage(msg);
}

async function run(cfg: FakeRunConfig): Promise<void> {
  post({ type: "status", state: "starting", runId: cfg.runId, config: { fake: true, ...cfg } });
  post({ type: "status", state: "running", runId: cfg.runId, message: "fake trainer" });
  if (cfg.waitForGo) {
    await new Promise<void>((resolve) => {
      self.addEventListener("message", (e) => (e as MessageEvent).data?.go && resolve());
    });
  }
  const sab = new Int32Array(new SharedArrayBuffer(4));
  const t0 = performance.now();
  const stepEnds = [t0];
  let stepTime = 0;
  for (let step = 1; step <= cfg.steps; step++) {
    const s0 = performance.now();
    Atomics.wait(sab, 0, 0, cfg.stepMs);
    stepTime += performance.now() - s0;
    if (step % cfg.metricsEvery === 0) {
      const t = step / cfg.steps;
      post({
        type: "metrics",
        step,
        epoch: Math.floor(step / 50),
        totalSteps: cfg.steps,
        losses: {
          ghp: 2 * Math.exp(-3 * t) + 0.1,
          lhp: 1.5 * Math.exp(-2 * t) + 0.1,
          reg: 0.05 * (1 - t),
          lin: 3 - t,
          clu: 2.5 - t,
          total: 3.7 * Math.exp(-2.5 * t),
        },
        lambda: Math.min(1, t * 1.5),
        lr: 5e-4 * (1 - 0.5 * t),
        positives: { ag: 20 + 10 * t, sp: 15 * t, lhp: 4 + Math.sin(step) },
        thresholds: {
          ag: { p10: 0.3, p50: 0.5 + 0.1 * t, p90: 0.8 },
          sp: { p10: 0.2, p50: 0.4 + 0.2 * t, p90: 0.7 },
        },
        imagesPerSec: (8 * 1000) / Math.max(1e-3, stepTime / step),
        stepMs: stepTime / step,
        gpuPassMs: { vit: cfg.stepMs * 0.6, heads: cfg.stepMs * 0.2, loss: cfg.stepMs * 0.15 },
      });
    }
    if (cfg.evalEvery > 0 && step % cfg.evalEvery === 0) {
      const t = step / cfg.steps;
      post({
        type: "eval",
        step,
        metrics: {
          cluster_acc: 30 + 20 * t,
          cluster_miou: 10 + 8 * t,
          linear_acc: 40 + 20 * t,
          linear_miou: 15 + 10 * t,
        },
      });
    }
    if (cfg.pictureEvery > 0 && step % cfg.pictureEvery === 0) await writePictures(cfg, step);
    stepEnds.push(performance.now());
  }
  const seconds = (performance.now() - t0) / 1000;
  post({ type: "status", state: "done", runId: cfg.runId, message: `${cfg.steps} steps` });
  post({ kind: "fake-done", steps: cfg.steps, seconds, stepsPerSec: cfg.steps / seconds, stepEnds });
}

self.addEventListener("message", (e) => {
  const cfg = (e as MessageEvent).data as FakeRunConfig;
  if (!cfg || typeof cfg !== "object" || !("steps" in cfg)) return;
  run(cfg).catch((err) => {
    post({ type: "status", state: "failed", runId: cfg.runId, message: String(err) });
  });
}, { once: false });

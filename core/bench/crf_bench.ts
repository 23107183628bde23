/**
 * `deno task bench crf [--json] [--quick]`: dense CRF (core/eval/crf.ts, hp-method.md §8.5) on one 320×320
 * photo (tests/fixtures/eval/crf_face_320.jpg: scipy's "face" resized by the fixture generator) with 27
 * classes and HP's settings, single-threaded. Reports wall time and the process CPU time (what one core
 * spent, robust to a shared machine), plus the lattice sizes. `--quick` uses 160×160.
 */
import process from "node:process";
import type { BenchOptions } from "./suite.ts";
import { decodeImage } from "../image/codecs.ts";
import { crfFeatures, denseCrf, HP_CRF } from "../eval/crf.ts";
import { Permutohedral } from "../eval/permutohedral.ts";

function cpuMs(): number {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
}

export async function bench(opts: BenchOptions): Promise<Record<string, unknown>> {
  const path = new URL("../../tests/fixtures/eval/crf_face_320.jpg", import.meta.url).pathname;
  const img = await decodeImage(await Deno.readFile(path), path);
  const step = opts.quick ? 2 : 1;
  const H = img.height / step, W = img.width / step, C = 27, N = H * W;
  const rgb = new Uint8Array(N * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      for (let c = 0; c < 3; c++) {
        rgb[(y * W + x) * 3 + c] = img.data[((y * step) * img.width + x * step) * 3 + c];
      }
    }
  }
  // Smooth, ambiguous class scores (low-frequency waves per class) as a probe would give.
  const probs = new Float32Array(N * C);
  for (let i = 0; i < N; i++) {
    const x = i % W, y = Math.floor(i / W);
    let s = 0;
    for (let k = 0; k < C; k++) {
      const v = Math.exp(2 * Math.sin(x / (9 + k) + k) * Math.cos(y / (13 + 2 * k) - k));
      probs[i * C + k] = v;
      s += v;
    }
    for (let k = 0; k < C; k++) probs[i * C + k] /= s;
  }
  const f = crfFeatures(rgb, H, W, HP_CRF);
  const mGauss = new Permutohedral(f.gaussian, N, 2).M, mBilat = new Permutohedral(f.bilateral, N, 5).M;
  denseCrf(probs, rgb, H, W, C); // warm-up (JIT)
  const runs = opts.quick ? 1 : 3;
  const wall: number[] = [], cpu: number[] = [];
  for (let r = 0; r < runs; r++) {
    const c0 = cpuMs(), t0 = performance.now();
    denseCrf(probs, rgb, H, W, C);
    wall.push(performance.now() - t0);
    cpu.push(cpuMs() - c0);
  }
  const result = {
    image: `${W}x${H}`,
    classes: C,
    iterations: HP_CRF.iterations,
    latticeVertices: { gaussian: mGauss, bilateral: mBilat },
    wallMs: Math.min(...wall),
    cpuMs: Math.min(...cpu),
    loadavg: Deno.loadavg()[0],
  };
  if (!opts.json) {
    console.log(
      `CRF ${W}×${H}, ${C} classes: best wall ${result.wallMs.toFixed(0)} ms, CPU ${
        result.cpuMs.toFixed(0)
      } ms ` +
        `(lattice ${mGauss} / ${mBilat} vertices, load ${result.loadavg.toFixed(1)})`,
    );
  }
  return result;
}

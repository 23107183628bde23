/**
 * Train → eval → predict round trip through the commands a user runs (subprocesses of main.ts with the
 * permissions of deno.json's `train`, `eval` and `predict` tasks), on tiny REAL runs of the trainer
 * (hp-method.md §8, §8.6, §8.7; issue 6). The checkpoints are the trainer's own, so a disagreement between
 * what the trainer writes and what eval/predict read (probe names, layouts, resolution) fails here:
 * - `eval --checkpoint RUN` reproduces the trainer's final cluster/linear Acc and mIoU (to 1e-6) with
 *   selection `last` and `val`, at the run's eval.res without `--res`;
 * - `predict` writes label maps, overlays and a legend of the right sizes, and its maps of the validation
 *   images score (brute-force matching over all cluster→class permutations, computed here) what eval says;
 * - a run on an unlabeled `folder` trains (eval lines say "n/a"), predicts, and `eval` refuses it in one line.
 * @module
 */
import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { join } from "node:path";
import { rng, testGpu } from "../_util.ts";
import { TINY_SCHEDULE } from "../_tiny.ts";
import { decodeImage, decodeLabelPng, encodeRgbPng } from "../../core/image/codecs.ts";
import { openDataset } from "../../datasets/registry.ts";
import { type EvalMessage, readRunLog, type StatusMessage } from "../../core/telemetry.ts";
import { task } from "../_task.ts";

const sets = (s: string[]) => s.flatMap((x) => ["--set", x]);
const RES = 32, VAL = 4, STEPS = 6;

/** Trains into `out` and returns the run folder, its log and the train command's output. */
async function trainRun(out: string, args: string[]) {
  const r = await task("train", [...args, "--no-serve", "--out", out]);
  assertEquals(r.code, 0, r.stderr);
  const dirs = [...Deno.readDirSync(out)].filter((e) => e.isDirectory);
  assertEquals(dirs.length, 1, `expected one run folder in ${out}`);
  const run = join(out, dirs[0].name);
  const log = await readRunLog(run);
  const done = log.find((m) => m.type === "status" && m.state === "done") as StatusMessage | undefined;
  assert(done?.final, `no final scores in ${run}/metrics.jsonl`);
  return { run, log, final: done.final, ...r };
}

type Four = { cluster_acc: number; cluster_miou: number; linear_acc: number; linear_miou: number };

async function evalJson(args: string[]) {
  const r = await task("eval", [...args, "--json"]);
  assertEquals(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").pop()!);
}

function assertSameScores(
  got: { cluster: { acc: number; miou: number }; linear: typeof got.cluster },
  want: Four,
) {
  const pairs = [
    [got.cluster.acc, want.cluster_acc, "cluster acc"],
    [got.cluster.miou, want.cluster_miou, "cluster mIoU"],
    [got.linear.acc, want.linear_acc, "linear acc"],
    [got.linear.miou, want.linear_miou, "linear mIoU"],
  ] as const;
  for (const [g, w, what] of pairs) {
    assert(Number.isFinite(w) && Math.abs(g - w) <= 1e-6, `${what}: eval ${g}, trainer ${w}`);
  }
}

/** All permutations of 0..n-1 (n ≤ 8 here). */
function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  return permutations(n - 1).flatMap((p) =>
    Array.from({ length: n }, (_, i) => [...p.slice(0, i), n - 1, ...p.slice(i)])
  );
}

/**
 * Scores label maps independently of core/eval: H[pred][gt] over pixels with 0 ≤ gt < n; linear uses the
 * identity, cluster every permutation with the most matched pixels (ties: all of them). IoU skips classes
 * absent from both; percent.
 */
function bruteScores(preds: Int32Array[], gts: Int32Array[], n: number) {
  const H = Array.from({ length: n }, () => new Float64Array(n));
  for (let i = 0; i < preds.length; i++) {
    for (let j = 0; j < gts[i].length; j++) {
      const g = gts[i][j], p = preds[i][j];
      if (g >= 0 && g < n) H[p][g]++;
    }
  }
  const total = H.reduce((a, r) => a + r.reduce((x, y) => x + y, 0), 0);
  const score = (perm: number[]) => {
    let tp = 0, sum = 0, cnt = 0;
    for (let k = 0; k < n; k++) {
      const p = perm[k], t = H[p][k];
      const fp = H[p].reduce((a, b) => a + b, 0) - t;
      const fn = H.reduce((a, r) => a + r[k], 0) - t;
      tp += t;
      if (t + fp + fn > 0) {
        sum += t / (t + fp + fn);
        cnt++;
      }
    }
    return { acc: (100 * tp) / total, miou: (100 * sum) / cnt };
  };
  const all = permutations(n).map(score);
  const best = Math.max(...all.map((s) => s.acc));
  return {
    linear: score(Array.from({ length: n }, (_, k) => k)),
    cluster: all.filter((s) => s.acc === best),
  };
}

const ignore = (await testGpu()) === null;

Deno.test({
  name:
    "round trip: eval of a trained run (selection last) equals the trainer's final scores; predict agrees",
  sanitizeOps: false,
  sanitizeResources: false,
  ignore,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "hpseg-roundtrip-" });
    try {
      const t = await trainRun(join(tmp, "runs"), [
        ...sets([...TINY_SCHEDULE, "eval.valid_freq=1000"]),
        "--steps",
        String(STEPS),
      ]);
      // The train command's own JSON line (rounded to 0.01) is the same final scores.
      const line = JSON.parse(t.stdout.trim().split("\n").pop()!);
      for (const k of ["cluster_acc", "cluster_miou", "linear_acc", "linear_miou"] as const) {
        assert(Math.abs(line[k] - t.final[k]) <= 0.005 + 1e-9, `${k}: ${line[k]} vs ${t.final[k]}`);
      }

      // No --res: the run's eval.res (32), not 320; the whole val split (4 scenes, no ignore pixels).
      const ev = await evalJson(["--checkpoint", t.run]);
      assert(ev.checkpoint.endsWith(join("checkpoints", "last.safetensors")), ev.checkpoint);
      assertEquals([ev.images, ev.pixels], [VAL, VAL * RES * RES]);
      assertSameScores(ev, t.final);
      const n: number = ev.linear.iou.length;

      // predict on the validation scenes written as lossless PNGs (32×32: the eval transform is the identity).
      const ds = await openDataset({
        dataset: "synthetic",
        split: "val",
        imageSize: RES,
        count: VAL,
        seed: 0,
      });
      assertEquals(ds.nClasses, n);
      const imgs = join(tmp, "imgs"), out = join(tmp, "pred");
      await Deno.mkdir(imgs);
      const gts: Int32Array[] = [];
      for (let i = 0; i < VAL; i++) {
        const s = await ds.get(i);
        await Deno.writeFile(join(imgs, `v${i}.png`), encodeRgbPng(s.image));
        gts.push(Int32Array.from(s.label!));
      }
      const p = await task("predict", ["--checkpoint", t.run, "--out", out, imgs]);
      assertEquals(p.code, 0, p.stderr);
      const maps: Record<"cluster" | "linear", Int32Array[]> = { cluster: [], linear: [] };
      for (let i = 0; i < VAL; i++) {
        for (const which of ["cluster", "linear"] as const) {
          const f = `v${i}_${which}.png`;
          const lab = decodeLabelPng(await Deno.readFile(join(out, f)), f);
          assertEquals([lab.width, lab.height], [RES, RES], f);
          assert(lab.values.every((v) => v >= 0 && v < n), `${f}: a label outside 0..${n - 1}`);
          maps[which].push(lab.values);
        }
        const ov = await decodeImage(await Deno.readFile(join(out, `v${i}_overlay.png`)), "overlay");
        assertEquals([ov.width, ov.height, ov.data.length], [RES, RES, RES * RES * 3]);
      }
      const legend = await decodeImage(await Deno.readFile(join(out, "legend.png")), "legend.png");
      assertEquals([legend.width, legend.height], [24 * n, 24]);
      const lj = JSON.parse(await Deno.readTextFile(join(out, "legend.json")));
      assertEquals(lj.ids.map((e: { id: number }) => e.id), Array.from({ length: n }, (_, k) => k));

      // predict's maps (batch 1) score what eval (batch 4) reported.
      const lin = bruteScores(maps.linear, gts, n).linear;
      const clu = bruteScores(maps.cluster, gts, n).cluster;
      assert(
        Math.abs(lin.acc - ev.linear.acc) <= 1e-6,
        `linear acc: predict ${lin.acc}, eval ${ev.linear.acc}`,
      );
      assert(Math.abs(lin.miou - ev.linear.miou) <= 1e-6, `linear mIoU: ${lin.miou} vs ${ev.linear.miou}`);
      assert(
        Math.abs(clu[0].acc - ev.cluster.acc) <= 1e-6,
        `cluster acc: ${clu[0].acc} vs ${ev.cluster.acc}`,
      );
      assert(
        clu.some((c) => Math.abs(c.miou - ev.cluster.miou) <= 1e-6),
        `cluster mIoU: eval ${ev.cluster.miou}, brute force ${clu.map((c) => c.miou)}`,
      );
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test({
  name: "round trip: selection val — eval of the run folder equals the trainer's best-val final scores",
  sanitizeOps: false,
  sanitizeResources: false,
  ignore,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "hpseg-roundtrip-val-" });
    try {
      const t = await trainRun(join(tmp, "runs"), [
        ...sets([...TINY_SCHEDULE, "eval.valid_freq=2", "eval.selection=val"]),
        "--steps",
        String(STEPS),
      ]);
      const evals = t.log.filter((m): m is EvalMessage => m.type === "eval");
      assertEquals(evals.map((m) => m.step), [2, 4, STEPS]);
      // The run folder follows the run's selection: best.safetensors, the final scores the trainer reported.
      const best = await evalJson(["--checkpoint", t.run]);
      assert(best.checkpoint.endsWith(join("checkpoints", "best.safetensors")), best.checkpoint);
      assertSameScores(best, t.final);
      // --selection last: the state after the last step, scored by the trainer's step-6 validation.
      const last = await evalJson(["--checkpoint", t.run, "--selection", "last"]);
      assert(last.checkpoint.endsWith(join("checkpoints", "last.safetensors")), last.checkpoint);
      assertSameScores(last, evals[evals.length - 1].metrics);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test({
  name: "round trip: a run on an unlabeled folder trains (scores n/a), predicts, and eval refuses it",
  sanitizeOps: false,
  sanitizeResources: false,
  ignore,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "hpseg-roundtrip-folder-" });
    try {
      const data = join(tmp, "data"), W = 40, H = 36, N = 8, n = 3;
      await Deno.mkdir(data);
      const r = rng(7);
      for (let i = 0; i < N; i++) {
        const px = new Uint8Array(W * H * 3);
        for (let j = 0; j < px.length; j++) px[j] = (j % 3 === i % 3 ? 200 : 40) + Math.floor(r() * 50);
        await Deno.writeFile(join(data, `im${i}.png`), encodeRgbPng({ width: W, height: H, data: px }));
      }
      const t = await trainRun(join(tmp, "runs"), [
        ...sets([
          ...TINY_SCHEDULE.filter((s) => !s.startsWith("dataset.")),
          "dataset.name=folder",
          `dataset.root=${data}`,
          `dataset.n_classes=${n}`,
          "eval.valid_freq=1000",
        ]),
        "--steps",
        "4",
      ]);
      assertEquals(JSON.parse(t.stdout.trim().split("\n").pop()!), {
        cluster_acc: null,
        cluster_miou: null,
        linear_acc: null,
        linear_miou: null,
        kmeans_miou: null,
      });
      assert(/cluster acc n\/a mIoU n\/a · linear acc n\/a mIoU n\/a/.test(t.stderr), t.stderr);
      assert(!/NaN/.test(t.stderr), `NaN printed: ${t.stderr}`);

      const out = join(tmp, "pred");
      const p = await task("predict", [
        "--checkpoint",
        t.run,
        "--out",
        out,
        join(data, "im0.png"),
        join(data, "im5.png"),
      ]);
      assertEquals(p.code, 0, p.stderr);
      for (const f of ["im0_cluster.png", "im0_linear.png", "im5_cluster.png", "im5_linear.png"]) {
        const lab = decodeLabelPng(await Deno.readFile(join(out, f)), f);
        assertEquals([lab.width, lab.height], [W, H], `${f}: masks have the input's size`);
        assert(lab.values.every((v) => v >= 0 && v < n), `${f}: a label outside 0..${n - 1}`);
      }
      const legend = await decodeImage(await Deno.readFile(join(out, "legend.png")), "legend.png");
      assertEquals([legend.width, legend.height], [24 * n, 24]);

      const e = await task("eval", ["--checkpoint", t.run]);
      assertEquals(e.code, 1, e.stdout + e.stderr);
      const lines = e.stderr.trim().split("\n").filter((l) => !l.startsWith("webgpu:"));
      assertEquals(lines.length, 1, e.stderr);
      assert(lines[0].includes("has no labels"), e.stderr);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

/**
 * Real data end to end (issue 10 acceptance): datasets in the official on-disk layouts with real image files
 * (tests/e2e/_official_layouts.ts: COCO-Stuff JPEGs with fine ids and curated lists, Cityscapes
 * leftImg8bit/gtFine, a folder of JPEGs) go through the commands a user runs — `deno task prepare`, `train
 * --config …` with tiny overrides (trainer Worker under its least-privilege permissions, loader Workers
 * decoding the JPEGs), `eval`, `predict` and `score --dataset` — as subprocesses with deno.json's task
 * permissions. Checked on the way:
 * - train: exit 0, progress through the pool building with an estimate, monotonic steps, a whole-run
 *   estimate, config.yaml recording the variant the weights hold, final scores with a k-means baseline;
 * - eval of the run folder reproduces the trainer's final scores;
 * - predict writes one mask per input at the input's own size, under the input's relative path (two
 *   `000.jpg` in different folders stay apart), and legend.json names the classes;
 * - score --dataset finds every prediction and its linear-mode scores equal an independent computation from
 *   the generator's ground truth.
 * The backbone is a tiny DINO-layout ViT saved by torch.save (tests/fixtures/real_data/make_fixtures.py).
 * @module
 */
import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { join } from "node:path";
import { testGpu } from "../_util.ts";
import { task } from "../_task.ts";
import { decodeLabelPng } from "../../core/image/codecs.ts";
import { CITYSCAPES_CLASSES, COCO27_CLASSES, SYNTHETIC_CLASSES } from "../../datasets/layouts.ts";
import { type TruthMaps, writeCityscapes, writeCocoStuff, writeJpegFolder } from "./_official_layouts.ts";

const TINY_VIT = new URL("../fixtures/real_data/tiny_vit_p8.pth", import.meta.url).pathname;
const ignore = (await testGpu()) === null;

/** Tiny overrides of an official config: the tiny ViT, 16-px crops, batch 4, every schedule in 4 steps. */
const TINY = [
  "backbone.arch=auto",
  `backbone.weights=${TINY_VIT}`,
  "head.dim=32",
  "train.batch=4",
  "train.res=16",
  "eval.res=16",
  "eval.batch=4",
  "hp.pool_size=8",
  "hp.renew_interval=2",
  "hp.lambda_warmup=2",
  "train.log_every=1",
  "train.checkpoint_every=2",
  "eval.valid_freq=2",
];
const sets = (s: string[]) => s.flatMap((x) => ["--set", x]);

/** Linear-mode scores (identity matching) from label maps and the generator's truth, in percent. */
function linearScores(preds: Int32Array[], truth: Int32Array[], n: number) {
  const H = Array.from({ length: n }, () => new Float64Array(n));
  for (let i = 0; i < preds.length; i++) {
    for (let j = 0; j < truth[i].length; j++) {
      const g = truth[i][j], p = preds[i][j];
      if (g >= 0 && g < n && p >= 0 && p < n) H[p][g]++;
    }
  }
  let tp = 0, total = 0, sum = 0, cnt = 0;
  for (let k = 0; k < n; k++) {
    const t = H[k][k], row = H[k].reduce((a, b) => a + b, 0), col = H.reduce((a, r) => a + r[k], 0);
    tp += t;
    total += row;
    if (row + col - t > 0) {
      sum += t / (row + col - t);
      cnt++;
    }
  }
  return { acc: (100 * tp) / total, miou: (100 * sum) / cnt };
}

interface Case {
  dataset: string;
  config: string;
  extraSets: string[];
  write: (root: string) => Promise<TruthMaps>;
  /** Folder of validation images under the root, given to predict. */
  valImages: string;
  classes: string[];
}

async function endToEnd(c: Case) {
  const tmp = await Deno.makeTempDir({ prefix: `hpseg-e2e-${c.dataset}-` });
  try {
    const root = join(tmp, "data"), out = join(tmp, "runs"), pred = join(tmp, "pred");
    const truth = await c.write(root);

    const prep = await task("prepare", ["--dataset", c.dataset, "--root", root]);
    assertEquals(prep.code, 0, prep.stderr);

    const t = await task("train", [
      "--config",
      c.config,
      ...sets([`dataset.root=${root}`, ...TINY, ...c.extraSets]),
      "--steps",
      "4",
      "--no-serve",
      "--out",
      out,
    ]);
    assertEquals(t.code, 0, t.stderr);
    assert(/building pools \d+\/\d+/.test(t.stderr), `no pool-building progress:\n${t.stderr}`);
    assert(/^estimate: .* left$/m.test(t.stderr), `no whole-run estimate:\n${t.stderr}`);
    const steps = [...t.stderr.matchAll(/train step (\d+)\/4/g)].map((m) => Number(m[1]));
    assert(steps.length > 0 && steps.every((s, i) => i === 0 || s >= steps[i - 1]), `steps ${steps}`);
    const final = JSON.parse(t.stdout.trim().split("\n").pop()!);
    for (const k of ["cluster_acc", "cluster_miou", "linear_acc", "linear_miou", "kmeans_miou"]) {
      assert(Number.isFinite(final[k]), `${k} = ${final[k]}`);
    }
    const run = join(out, [...Deno.readDirSync(out)].find((e) => e.isDirectory)!.name);
    const yaml = await Deno.readTextFile(join(run, "config.yaml"));
    assert(yaml.startsWith("# hpseg run") && yaml.includes("custom ViT (C=64, depth 1, 1 heads, p8)"), yaml);
    assert(/arch: auto/.test(yaml) && /patch: 8/.test(yaml), yaml);

    const ev = await task("eval", ["--checkpoint", run, "--json"]);
    assertEquals(ev.code, 0, ev.stderr);
    const e = JSON.parse(ev.stdout.trim().split("\n").pop()!);
    for (const [got, want] of [[e.cluster.acc, final.cluster_acc], [e.linear.miou, final.linear_miou]]) {
      assert(Math.abs(got - want) <= 0.006, `eval ${got} vs train ${want}`); // train rounds to 0.01
    }

    const p = await task("predict", ["--checkpoint", run, "--out", pred, join(root, c.valImages)]);
    assertEquals(p.code, 0, p.stderr);
    const preds: Int32Array[] = [], gts: Int32Array[] = [];
    for (const [rel, gt] of truth) {
      const stem = rel.replace(/\.(jpg|png)$/, "");
      for (const kind of ["cluster", "linear", "overlay"]) {
        const f = join(pred, `${stem}_${kind}.png`);
        const bytes = await Deno.readFile(f);
        const w = new DataView(bytes.buffer).getUint32(16), h = new DataView(bytes.buffer).getUint32(20);
        assertEquals([w, h], [gt.width, gt.height], `${f}: the mask has the input's size`);
      }
      preds.push(decodeLabelPng(await Deno.readFile(join(pred, `${stem}_linear.png`)), stem).values);
      gts.push(gt.classes);
    }
    const legend = JSON.parse(await Deno.readTextFile(join(pred, "legend.json")));
    assertEquals(legend.classes, c.classes);

    const sc = await task("score", ["--pred", pred, "--dataset", c.dataset, "--root", root, "--json"]);
    assertEquals(sc.code, 0, sc.stderr);
    const cluster = JSON.parse(sc.stdout.trim().split("\n").pop()!);
    assert(Number.isFinite(cluster.acc) && Number.isFinite(cluster.miou), sc.stdout);
    const lin = await task("score", [
      "--pred",
      pred,
      "--dataset",
      c.dataset,
      "--root",
      root,
      "--mode",
      "linear",
      "--json",
    ]);
    assertEquals(lin.code, 0, lin.stderr);
    const got = JSON.parse(lin.stdout.trim().split("\n").pop()!);
    const want = linearScores(preds, gts, c.classes.length);
    assert(
      Math.abs(got.acc - want.acc) < 1e-9 && Math.abs(got.miou - want.miou) < 1e-9,
      `${lin.stdout} vs ${JSON.stringify(want)}`,
    );
    return { tmp, root, run };
  } catch (err) {
    await Deno.remove(tmp, { recursive: true });
    throw err;
  }
}

const opts = { sanitizeOps: false, sanitizeResources: false, ignore };

Deno.test({
  name: "real data: COCO-Stuff (JPEGs, fine ids, curated lists) prepare → train → eval → predict → score",
  ...opts,
  async fn() {
    const { tmp, root } = await endToEnd({
      dataset: "cocostuff27",
      config: "cocostuff27",
      extraSets: [],
      write: (r) => writeCocoStuff(r),
      valImages: "images/val2017",
      classes: COCO27_CLASSES,
    });
    try {
      // Weights of another variant than the config names: refused in one line before any work.
      const bad = await task("train", [
        "--config",
        "cocostuff27",
        ...sets([`dataset.root=${root}`, ...TINY, "backbone.arch=vit_small"]),
        "--no-serve",
        "--out",
        join(tmp, "bad"),
      ]);
      assertEquals(bad.code, 1, bad.stderr);
      const err = bad.stderr.trim().split("\n").filter((l) => l.startsWith("error"));
      assertEquals(err.length, 1, bad.stderr);
      assert(/holds custom ViT .* but the config says backbone.arch vit_small/.test(err[0]), bad.stderr);
      assert(!/\n\s+at /.test(bad.stderr), `stack trace:\n${bad.stderr}`);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test({
  name: "real data: Cityscapes (leftImg8bit/gtFine, city folders) prepare → train → eval → predict → score",
  ...opts,
  async fn() {
    const { tmp } = await endToEnd({
      dataset: "cityscapes",
      config: "cityscapes",
      extraSets: [],
      write: (r) => writeCityscapes(r),
      valImages: "leftImg8bit/val",
      classes: CITYSCAPES_CLASSES,
    });
    await Deno.remove(tmp, { recursive: true });
  },
});

Deno.test({
  name: "real data: a folder of JPEGs (nested, same base names) prepare → train → eval → predict → score",
  ...opts,
  async fn() {
    const { tmp } = await endToEnd({
      dataset: "folder",
      config: "cocostuff27",
      extraSets: ["dataset.name=folder", "dataset.five_crop=false"],
      write: (r) => writeJpegFolder(r),
      valImages: "images/val",
      classes: SYNTHETIC_CLASSES,
    });
    await Deno.remove(tmp, { recursive: true });
  },
});

/**
 * Issue 16 acceptance: a tiny `train --config cocostuff27_dinov2_s14` run trains, evaluates and predicts
 * through `deno task` (subprocesses with deno.json's permissions and the default Worker loaders), with a
 * full-size DINOv2 ViT-S/14 (random weights, official state-dict names, written as safetensors here so the
 * test needs no PyTorch) at 56 px (4×4 patch grid) for training and 70 px (5×5) for evaluation.
 *
 * Dataset: COCO-Stuff in its official layout (JPEG images, fine-id annotation PNGs, curated lists), written
 * by the end-to-end tests' generator (tests/e2e/_official_layouts.ts).
 * Also: a config naming the reg4 variant with these weights is refused in one line.
 * @module
 */
import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { testGpu } from "../_util.ts";
import { decodeLabelPng } from "../../core/image/codecs.ts";
import { writeCocoStuff } from "./_official_layouts.ts";
import { writeSafetensors } from "../../core/io/safetensors.ts";
import { dinoShapes, type VitConfig } from "../../core/vit/weights.ts";
import { randomVitWeights } from "../../core/bench/vit_bench.ts";
import { readRunLog, type StatusMessage } from "../../core/telemetry.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const TASKS: Record<string, string> = JSON.parse(Deno.readTextFileSync(join(ROOT, "deno.json"))).tasks;

async function task(name: string, args: string[]) {
  const t0 = performance.now();
  try {
    return await runTask(name, args);
  } finally {
    console.error(`  deno task ${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
}

async function runTask(name: string, args: string[]) {
  const words = TASKS[name].split(/\s+/);
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...words.slice(1), ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { DENO_WEBGPU_BACKEND: Deno.env.get("DENO_WEBGPU_BACKEND") ?? "vulkan", XDG_RUNTIME_DIR: "/tmp" },
  }).output();
  const dec = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: dec(out.stdout), stderr: dec(out.stderr) };
}

const S14: VitConfig = {
  patch: 14,
  dim: 384,
  depth: 12,
  heads: 6,
  eps: 1e-6,
  posGrid: 37,
  mlpDim: 1536,
  registers: 0,
  layerScale: true,
  posResize: "offset",
};

const sets = (s: string[]) => s.flatMap((x) => ["--set", x]);

Deno.test({
  name:
    "train --config cocostuff27_dinov2_s14 (ViT-S/14, tiny run) trains, evaluates and predicts via deno task",
  sanitizeOps: false,
  sanitizeResources: false,
  ignore: (await testGpu()) === null,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "hpseg-dinov2-train-" });
    try {
      const data = join(tmp, "cocostuff"), weights = join(tmp, "dinov2_vits14_random.safetensors");
      const truth = await writeCocoStuff(data, 4, 2, 60, 48);
      const w = randomVitWeights(S14, 1614);
      const shapes = new Map(dinoShapes(S14));
      await writeSafetensors(
        weights,
        Object.fromEntries([...w.tensors].map(([k, v]) => [k, { shape: shapes.get(k)!, data: v }])),
      );
      const overrides = [
        `dataset.root=${data}`,
        "dataset.five_crop=false",
        `backbone.weights=${weights}`,
        "train.res=56",
        "train.batch=2",
        "eval.res=70",
        "eval.batch=2",
        "eval.crf=false",
        "eval.valid_freq=1000",
        "hp.pool_size=4",
        "hp.renew_interval=2",
        "hp.lambda_warmup=2",
        "train.log_every=1",
        "train.checkpoint_every=3",
      ];
      const out = join(tmp, "runs");
      const t = await task("train", [
        "--config",
        "cocostuff27_dinov2_s14",
        ...sets(overrides),
        "--steps",
        "3",
        "--no-serve",
        "--out",
        out,
      ]);
      assertEquals(t.code, 0, t.stderr);
      const run = join(out, [...Deno.readDirSync(out)].find((e) => e.isDirectory)!.name);
      const cfg = parseYaml(await Deno.readTextFile(join(run, "config.yaml")));
      assertEquals([cfg.backbone.arch, cfg.backbone.patch, cfg.train.res, cfg.eval.res], [
        "dinov2_vits14",
        14,
        56,
        70,
      ]);
      const log = await readRunLog(run);
      const done = log.find((m) => m.type === "status" && m.state === "done") as StatusMessage | undefined;
      assert(done?.final, `no final scores in ${run}/metrics.jsonl`);
      for (const k of ["cluster_acc", "cluster_miou", "linear_acc", "linear_miou"] as const) {
        assert(Number.isFinite(done.final[k]), `${k}: ${done.final[k]}`);
      }
      assert(log.some((m) => m.type === "metrics" && m.step === 3), "no step-3 metrics");

      // eval of the run folder reproduces the trainer's final scores at the run's eval.res.
      const e = await task("eval", ["--checkpoint", run, "--json"]);
      assertEquals(e.code, 0, e.stderr);
      const ev = JSON.parse(e.stdout.trim().split("\n").pop()!);
      // 70×70 crops of 60×48 images resized to 70 rows: the annotations' unlabeled bottom row (255) becomes
      // the last of the 70 rows (nearest neighbour: ⌊69·48/70⌋ = 47), so 69 labelled rows per image.
      assertEquals([ev.images, ev.pixels], [2, 2 * 70 * 69]);
      assert(
        Math.abs(ev.cluster.miou - done.final.cluster_miou) <= 1e-6,
        `${ev.cluster.miou} vs ${done.final.cluster_miou}`,
      );
      assert(
        Math.abs(ev.linear.acc - done.final.linear_acc) <= 1e-6,
        `${ev.linear.acc} vs ${done.final.linear_acc}`,
      );

      // predict a validation image: label maps with classes of the 27.
      const img = join(data, "images", "val2017", [...truth.keys()][0]);
      const pred = join(tmp, "pred");
      const p = await task("predict", ["--checkpoint", run, "--out", pred, img]);
      assertEquals(p.code, 0, p.stderr);
      for (const which of ["cluster", "linear"]) {
        const f = [...Deno.readDirSync(pred)].find((x) => x.name.endsWith(`_${which}.png`));
        assert(f, `no *_${which}.png in ${pred}`);
        const lab = decodeLabelPng(await Deno.readFile(join(pred, f.name)), f.name);
        // Full-size masks by default: the input's own 60×48.
        assertEquals([lab.width, lab.height], [60, 48]);
        assert(lab.values.every((v) => v >= 0 && v < 27), `${f.name}: a label outside 0..26`);
      }

      // The same weights under the reg4 config: one line naming both sides.
      const bad = await task("train", [
        "--config",
        "cocostuff27_dinov2_s14_reg4",
        ...sets(overrides),
        "--steps",
        "1",
        "--no-serve",
        "--out",
        join(tmp, "runs-bad"),
      ]);
      assertEquals(bad.code, 1, bad.stdout + bad.stderr);
      const lines = bad.stderr.trim().split("\n").filter((l) => l.startsWith("error"));
      assertEquals(lines.length, 1, bad.stderr);
      assert(
        lines[0].includes("backbone.arch dinov2_vits14_reg4 (patch 14) does not match the weights") &&
          lines[0].includes("DINOv2 ViT-S/14;") && lines[0].includes("set backbone.arch=dinov2_vits14"),
        bad.stderr,
      );
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

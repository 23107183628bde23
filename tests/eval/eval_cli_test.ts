/**
 * End-to-end tests of `hpseg eval` and `hpseg predict` on a checkpoint built here (embedded backbone,
 * random head and probes, synthetic dataset), and their one-line errors for corrupt or mismatched
 * checkpoints (hp-method.md §8, §8.7); both probe layouts a checkpoint may hold. The trainer's own checkpoints
 * are exercised by train_eval_roundtrip_test.ts.
 * @module
 */
import { deepEqual as assertEquals, ok, throws } from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "./_util.ts";
import { saveCheckpoint, type TrainState } from "../../core/model/checkpoint.ts";
import { loadConfig } from "../../core/model/config.ts";
import { headLayout, projectionLayout } from "../../core/model/params.ts";
import { openDataset } from "../../datasets/registry.ts";
import { decodeLabelPng, encodeRgbPng } from "../../core/image/codecs.ts";
import { randnF32, testGpu } from "../_util.ts";
import { probesFromState } from "../../core/eval/eval_model.ts";

async function makeCheckpoint(path: string, Df: number, D: number): Promise<number> {
  const config = loadConfig("synthetic");
  const ds = await openDataset({
    dataset: "synthetic",
    split: "val",
    imageSize: config.dataset.image_size,
    count: 4,
  });
  const n = ds.nClasses, K = 4;
  const hl = headLayout(Df, D);
  const s: TrainState = {
    config,
    step: 1,
    epoch: 0,
    batchInEpoch: 1,
    rng: {},
    dims: { Df, D, K },
    head: randnF32(hl.total, 1, 0.1),
    ema: randnF32(hl.total, 2, 0.1),
    projection: randnF32(projectionLayout(D).total, 3, 0.1),
    pools: { ag: new Float32Array(K * Df), sp: new Float32Array(K * D) },
    probes: {
      "linear.weight": { shape: [n, D], data: randnF32(n * D, 4) },
      "linear.bias": { shape: [n], data: randnF32(n, 5) },
      "cluster.clusters": { shape: [n, D], data: randnF32(n * D, 6) },
    },
    optim: {},
    extra: {},
  };
  await saveCheckpoint(path, s);
  return n;
}

const gpuIgnore = async () => (await testGpu()) === null;

Deno.test({
  name: "eval and predict run end to end on a constructed checkpoint; bad checkpoints fail with one line",
  sanitizeOps: false,
  sanitizeResources: false,
  ignore: await gpuIgnore(),
  async fn() {
    const tmp = await Deno.makeTempDir();
    try {
      const ckpt = join(tmp, "model.safetensors");
      const n = await makeCheckpoint(ckpt, 128, 16);
      const base = ["--checkpoint", ckpt, "--res", "32", "--batch", "2"];
      let r = await runCli(["eval", ...base, "--limit", "3", "--json"]);
      assertEquals(r.code, 0, r.err.join("\n"));
      const j = JSON.parse(r.out[r.out.length - 1]);
      assertEquals(j.images, 3);
      ok(
        j.pixels > 0 && j.cluster.acc >= 0 && j.cluster.acc <= 100 && j.linear.iou.length === n,
        JSON.stringify(j),
      );

      r = await runCli(["eval", ...base, "--limit", "2", "--crf", "--json"]);
      assertEquals(r.code, 0, r.err.join("\n"));
      ok(JSON.parse(r.out[r.out.length - 1]).crf.cluster.acc >= 0);

      // predict on a folder of two images (no ground truth)
      const imgs = join(tmp, "imgs"), out = join(tmp, "out");
      await Deno.mkdir(imgs);
      for (const name of ["a", "b"]) {
        const data = randnF32(40 * 48 * 3, name.charCodeAt(0)).map((v) => Math.abs(v) * 80);
        await Deno.writeFile(
          join(imgs, `${name}.png`),
          encodeRgbPng({ width: 48, height: 40, data: Uint8Array.from(data) }),
        );
      }
      // Default: masks at each image's own size (48×40); --crop: the evaluation protocol's 32×32 centre crop.
      for (const [flags, size] of [[[], [48, 40]], [["--crop"], [32, 32]]] as const) {
        const dir = join(out, flags.length ? "crop" : "full");
        r = await runCli(["predict", "--checkpoint", ckpt, "--res", "32", ...flags, "--out", dir, imgs]);
        assertEquals(r.code, 0, r.err.join("\n"));
        const lab = decodeLabelPng(await Deno.readFile(join(dir, "a_cluster.png")), "a_cluster.png");
        assertEquals([lab.width, lab.height], size);
        ok(lab.values.every((v) => v >= 0 && v < n));
        for (const f of ["a_linear.png", "b_overlay.png", "legend.png", "legend.json"]) {
          await Deno.stat(join(dir, f));
        }
      }

      // corrupt: truncated file
      const bytes = await Deno.readFile(ckpt);
      const bad = join(tmp, "truncated.safetensors");
      await Deno.writeFile(bad, bytes.subarray(0, Math.floor(bytes.length / 2)));
      r = await runCli(["eval", "--checkpoint", bad, "--res", "32"]);
      assertEquals(r.code, 1);
      ok(r.err.length <= 2 && r.err[0].includes("truncated.safetensors"), r.err.join("\n"));

      // mismatched: head built for a backbone of width 96, the embedded backbone has 128
      const mism = join(tmp, "mismatch.safetensors");
      await makeCheckpoint(mism, 96, 16);
      r = await runCli(["eval", "--checkpoint", mism, "--res", "32"]);
      assertEquals(r.code, 1);
      ok(r.err[0].includes("mismatch.safetensors") && r.err[0].includes("D_f 96"), r.err.join("\n"));

      // run folders: --selection picks checkpoints/best.safetensors (val) or last.safetensors (last)
      const run = join(tmp, "run");
      await Deno.mkdir(join(run, "checkpoints"), { recursive: true });
      await Deno.copyFile(ckpt, join(run, "checkpoints", "last.safetensors"));
      await Deno.copyFile(mism, join(run, "checkpoints", "best.safetensors"));
      r = await runCli([
        "eval",
        "--checkpoint",
        run,
        "--selection",
        "last",
        ...base.slice(2),
        "--limit",
        "1",
        "--json",
      ]);
      assertEquals(r.code, 0, r.err.join("\n"));
      ok(JSON.parse(r.out[r.out.length - 1]).checkpoint.endsWith("last.safetensors"));
      r = await runCli(["eval", "--checkpoint", run, "--selection", "val", ...base.slice(2), "--limit", "1"]);
      assertEquals(r.code, 1);
      ok(r.err[0].includes("best.safetensors"), r.err.join("\n"));

      // missing
      r = await runCli(["eval", "--checkpoint", join(tmp, "nope")]);
      assertEquals(r.code, 1);
      ok(r.err[0].includes("no such file or run folder"), r.err[0]);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test("probesFromState reads the trainer's flat linear.params and separate linear.weight + bias alike", () => {
  const n = 3, D = 4;
  const w = randnF32(n * D, 11), b = randnF32(n, 12), c = randnF32(n * D, 13);
  const flat = new Float32Array(n * D + n);
  flat.set(w);
  flat.set(b, n * D);
  const clusters = { shape: [n, D], data: c };
  const a = probesFromState(
    { "cluster.clusters": clusters, "linear.params": { shape: [n * D + n], data: flat } },
    D,
    "f",
  );
  const s = probesFromState(
    {
      "cluster.clusters": clusters,
      "linear.weight": { shape: [n, D], data: w },
      "linear.bias": { shape: [n], data: b },
    },
    D,
    "f",
  );
  assertEquals(a, { n, probes: { clusters: c, linear: flat } });
  assertEquals(s, a);
  const fails = (probes: Parameters<typeof probesFromState>[0], re: RegExp) =>
    throws(
      () => probesFromState(probes, D, "x.safetensors"),
      (e: Error) => re.test(e.message) && /x\.safetensors/.test(e.message),
    );
  fails({ "cluster.clusters": clusters }, /no linear probe/);
  fails({ "linear.params": { shape: [n * D + n], data: flat } }, /no cluster probe/);
  fails(
    { "cluster.clusters": clusters, "linear.params": { shape: [n * D], data: w } },
    /"linear.params" has 12 values, expected n·D \+ n = 15/,
  );
  fails({
    "cluster.clusters": { shape: [n, D + 1], data: randnF32(n * (D + 1), 1) },
    "linear.params": { shape: [15], data: flat },
  }, /expected \[n, 4\]/);
});

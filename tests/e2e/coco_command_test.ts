/**
 * The README's COCO-Stuff command (issue 10 acceptance): `deno task train --config cocostuff27 --set
 * dataset.root=… --set backbone.weights=…` with ViT-S/8 weights, on a prepared COCO-Stuff folder in the
 * official layout, either runs with an estimate or refuses in one line within seconds — never a stack trace.
 * On an adapter whose bindings cannot hold a batch-64 buffer the batch is refused before any forward,
 * naming the largest batch that fits; otherwise (lavapipe's 128 MiB included, since the fused attention
 * keeps no [B, P, P] logits) the tiny folder's 20 five-crops are refused. The weights are a ViT-S/8-shaped safetensors file of zeros (the
 * check reads the variant from the shapes; nothing runs).
 * @module
 */
import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { join } from "node:path";
import { testGpu } from "../_util.ts";
import { task } from "../_task.ts";
import { encodeSafetensors } from "../../core/io/safetensors.ts";
import { dinoShapes } from "../../core/vit/weights.ts";
import { writeCocoStuff } from "./_official_layouts.ts";

const gpu = await testGpu();

Deno.test({
  name: "README COCO command: refused in one line within seconds (or runs), never a stack trace",
  sanitizeOps: false,
  sanitizeResources: false,
  ignore: gpu === null,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "hpseg-coco-cmd-" });
    try {
      const root = join(tmp, "coco"), weights = join(tmp, "dino_deitsmall8_300ep_pretrain.safetensors");
      await writeCocoStuff(root);
      assertEquals((await task("prepare", ["--dataset", "cocostuff27", "--root", root])).code, 0);
      const S8 = { patch: 8, dim: 384, depth: 12, heads: 6, eps: 1e-6, posGrid: 28, mlpDim: 1536 };
      const tensors = Object.fromEntries(
        dinoShapes(S8).map(([name, shape]) => [
          name,
          { shape, data: new Uint16Array(shape.reduce((a, b) => a * b, 1)) },
        ]),
      );
      await Deno.writeFile(weights, encodeSafetensors(tensors));
      const t0 = performance.now();
      const r = await task("train", [
        "--config",
        "cocostuff27",
        "--set",
        `dataset.root=${root}`,
        "--set",
        `backbone.weights=${weights}`,
        "--no-serve",
        "--out",
        join(tmp, "runs"),
      ]);
      const seconds = (performance.now() - t0) / 1000;
      assertEquals(r.code, 1, r.stderr);
      assert(!/^\s+at /m.test(r.stderr), `stack trace:\n${r.stderr}`);
      const errors = r.stderr.split("\n").filter((l) => l.startsWith("error"));
      assertEquals(errors.length, 1, r.stderr);
      assert(seconds < 60, `took ${seconds.toFixed(1)} s`);
      const limit = Math.min(gpu!.limits.maxStorageBufferBindingSize, gpu!.limits.maxBufferSize);
      if (limit < 64 * 784 * 512 * 4) {
        // The codes [64·784, 512] f32 do not fit: the refusal names the largest batch whose do.
        const fit = Math.floor(limit / (784 * 512 * 4));
        assert(
          errors[0].includes(`train.batch 64 does not fit this adapter`) &&
            errors[0].endsWith(`the largest batch that fits is ${fit} (--set train.batch=${fit})`),
          errors[0],
        );
      } else {
        // The batch fits, and the 20 five-crops of this tiny folder are refused instead.
        assert(/fewer than train\.batch 64/.test(errors[0]), errors[0]);
      }
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

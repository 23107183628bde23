/**
 * `hpseg predict` on an official-layout HP ckpt.pth with a tiny real ViT (tests/fixtures/eval/
 * gen_official_eval.py): the label maps must equal what HP's evaluation code computes in PyTorch
 * (hp-method.md §8.1–§8.3, §8.7), except at float32 near-ties.
 * @module
 */
import { ok } from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "./_util.ts";
import { decodeLabelPng } from "../../core/image/codecs.ts";
import { testGpu } from "../_util.ts";

const FIX = new URL("../fixtures/eval/official_eval/", import.meta.url).pathname;

Deno.test({
  name: "predict on an official ckpt.pth reproduces PyTorch's cluster and linear labels",
  sanitizeOps: false,
  sanitizeResources: false,
  ignore: (await testGpu()) === null,
  async fn() {
    const exp = JSON.parse(await Deno.readTextFile(join(FIX, "expected.json")));
    const out = await Deno.makeTempDir();
    const { code, err } = await runCli([
      "predict",
      "--checkpoint",
      join(FIX, "ckpt.pth"),
      "--res",
      String(exp.res),
      "--out",
      out,
      join(FIX, "image.png"),
    ]);
    try {
      ok(code === 0, err.join("\n"));
      for (const which of ["cluster", "linear"] as const) {
        const got = decodeLabelPng(await Deno.readFile(join(out, `image_${which}.png`)), which).values;
        const want: number[] = exp[which], margin: number[] = exp[`${which}_margin`];
        let bad = 0, differ = 0;
        for (let i = 0; i < want.length; i++) {
          if (got[i] !== want[i]) {
            differ++;
            if (margin[i] > 1e-3) bad++; // a real disagreement, not a float32 near-tie
          }
        }
        console.log(
          `  ${which}: ${differ} of ${want.length} pixels differ from PyTorch (${bad} with margin > 1e-3)`,
        );
        ok(bad === 0, `${which}: ${bad} pixels disagree with a clear margin`);
        ok(differ <= want.length * 0.01, `${which}: ${differ} pixels differ`);
      }
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

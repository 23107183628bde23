/**
 * predict's file naming and forward sizes (core/cli/predict.ts) and `score --dataset` (core/cli/score.ts
 * scoreAgainstDataset) on generated official layouts: ground truth through the dataset's own mapping,
 * predictions found by relative path or by stem, and one-line refusals for missing predictions, masks of
 * the wrong size and contradictory flags. CPU only.
 * @module
 */
import assert, { deepStrictEqual as assertEquals, rejects } from "node:assert/strict";
import { join } from "node:path";
import { forwardSize, outputStems } from "../../core/cli/predict.ts";
import { scoreAgainstDataset } from "../../core/cli/score.ts";
import { encodeGrayPng } from "../../core/image/codecs.ts";
import { InputError } from "../../core/errors.ts";
import { openDataset } from "../../datasets/registry.ts";
import { task } from "../_task.ts";
import { type TruthMaps, writeCityscapes, writeCocoStuff } from "../e2e/_official_layouts.ts";

Deno.test("predict: output paths keep the path below the inputs' common folder", () => {
  assertEquals(
    outputStems(["/d/val/000.png", "/d/train/000.png"], ["/d/val", "/d/train"]),
    ["val/000", "train/000"],
    "two folders with the same file name",
  );
  assertEquals(outputStems(["/d/val/000.png", "/d/train/000.jpeg"], ["/d/val", "/d/train"]), [
    "val/000",
    "train/000",
  ]);
  assertEquals(outputStems(["/c/frankfurt/f_1.png", "/c/munich/m_2.png"], ["/c"]), [
    "frankfurt/f_1",
    "munich/m_2",
  ]);
  assertEquals(outputStems(["/x/a.jpg"], ["/x"]), ["a"], "a single file input");
});

Deno.test("predict: forward size keeps the shorter side at --res and the aspect ratio to the patch", () => {
  assertEquals(forwardSize(640, 480, 320, 8), [424, 320]); // 426.7 → 424
  assertEquals(forwardSize(480, 640, 320, 8), [320, 424]);
  assertEquals(forwardSize(2048, 1024, 320, 16), [640, 320]);
  assertEquals(forwardSize(300, 300, 224, 8), [224, 224]);
  assertEquals(forwardSize(20, 400, 16, 8), [16, 320]);
});

/** Writes `linear`-mode predictions equal to the truth (ignored pixels as class 0) under `dir`. */
async function writePredictions(dir: string, truth: TruthMaps, flat = false) {
  for (const [rel, t] of truth) {
    const stem = rel.replace(/\.(jpg|png)$/, "");
    const path = join(dir, `${flat ? stem.split("/").pop() : stem}_linear.png`);
    await Deno.mkdir(join(path, ".."), { recursive: true });
    await Deno.writeFile(
      path,
      encodeGrayPng(t.width, t.height, Uint8Array.from(t.classes, (v) => Math.max(0, v))),
    );
  }
}

Deno.test("score --dataset: COCO-Stuff fine ids are mapped to the 27 classes; refusals name the problem", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "hpseg-score-ds-" });
  try {
    const root = join(tmp, "coco"), pred = join(tmp, "pred");
    const truth = await writeCocoStuff(root, 1, 3);
    await writePredictions(pred, truth);
    const ds = await openDataset({ dataset: "cocostuff27", root, split: "val", fiveCrop: false });
    const r = await scoreAgainstDataset(pred, ds, "linear");
    assertEquals([r.acc, r.images, r.unused], [100, 3, 0]);
    // 100 % with predictions in the 27 coarse classes: the fine ids went through the 182 → 27 table and the
    // unlabeled 255 rows were ignored.
    await rejects(scoreAgainstDataset(pred, ds, "cluster"), (e: Error) => {
      assert(
        e instanceof InputError && /3 of 3 cocostuff27 images have no \*_cluster\.png/.test(e.message),
        e.message,
      );
      return true;
    });
    const [rel, t] = [...truth][0];
    await Deno.writeFile(
      join(pred, rel.replace(".jpg", "_linear.png")),
      encodeGrayPng(16, 16, new Uint8Array(256)),
    );
    await rejects(scoreAgainstDataset(pred, ds, "linear"), (e: Error) => {
      assert(e instanceof InputError, String(e));
      assert(e.message.includes(`prediction is 16×16 but ${rel} is ${t.width}×${t.height}`), e.message);
      assert(e.message.includes("full-size masks unless --crop"), e.message);
      return true;
    });
    await Deno.remove(join(pred, rel.replace(".jpg", "_linear.png")));
    await rejects(
      scoreAgainstDataset(pred, ds, "linear"),
      /1 of 3 cocostuff27 images have no \*_linear\.png/,
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("score --dataset: Cityscapes predictions are found by city path or by stem alone", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "hpseg-score-cs-" });
  try {
    const root = join(tmp, "cs");
    const truth = await writeCityscapes(root);
    const ds = await openDataset({ dataset: "cityscapes", root, split: "val", fiveCrop: false });
    for (const flat of [false, true]) {
      const pred = join(tmp, flat ? "flat" : "nested");
      await writePredictions(pred, truth, flat);
      const r = await scoreAgainstDataset(pred, ds, "linear");
      assertEquals([r.acc, r.miou, r.images], [100, 100, 3], flat ? "flat" : "nested");
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("score: --dataset and --gt are alternatives; --dataset needs --root (one line, exit 2)", async () => {
  for (
    const [args, pattern] of [
      [["--pred", "p", "--gt", "g", "--dataset", "cocostuff27"], /--gt and --dataset are alternatives/],
      [["--pred", "p", "--dataset", "cocostuff27"], /--dataset cocostuff27 needs --root DIR/],
      [["--pred", "p", "--dataset", "coco"], /--dataset must be one of/],
      [
        ["--pred", "p", "--dataset", "cityscapes", "--root", "r", "--classes", "3"],
        /--classes goes with --gt/,
      ],
    ] as const
  ) {
    const r = await task("score", [...args]);
    assertEquals(r.code, 2, r.stderr);
    assert(pattern.test(r.stderr), r.stderr);
  }
});

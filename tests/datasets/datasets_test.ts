/**
 * Dataset readers on the tiny fixtures of tests/fixtures/datasets (made by make_fixtures.py): label maps
 * (182→27, labelId−7, Potsdam 6→3), sizes, order, and bad-input messages.
 */
import assert, { deepStrictEqual } from "node:assert/strict";
import { openDataset } from "../../datasets/registry.ts";
import { COCO_FINE_TO_COARSE } from "../../datasets/cocostuff27.ts";
import { assertRejectsInputError } from "../_util.ts";

const FIX = new URL("../fixtures/datasets/", import.meta.url).pathname;
const E = JSON.parse(Deno.readTextFileSync(`${FIX}expect_datasets.json`));

Deno.test("cocostuff27: curated order, 182→27 labels with 255 → -1, images decode at full size", async () => {
  for (const split of ["train", "val"] as const) {
    const ds = await openDataset({ dataset: "cocostuff27", root: `${FIX}coco`, split, fiveCrop: false });
    assert.equal(ds.nClasses, 27);
    assert.equal(ds.length, E.coco[split].length);
    for (let i = 0; i < ds.length; i++) {
      const s = await ds.get(i), e = E.coco[split][i];
      assert.equal(s.name, e.id);
      deepStrictEqual([s.image.width, s.image.height], [e.width, e.height]);
      deepStrictEqual(Array.from(s.label!), e.coarse);
    }
  }
  // every fine index 0..181 is covered, nothing else except 255
  for (let v = 0; v < 256; v++) {
    assert.equal(COCO_FINE_TO_COARSE[v] >= -1, v <= 181 || v === 255, `value ${v}`);
  }
});

Deno.test("cityscapes: sorted cities/files, exact PNG pixels, labelId−7 with void → -1", async () => {
  const ds = await openDataset({
    dataset: "cityscapes",
    root: `${FIX}cityscapes`,
    split: "train",
    fiveCrop: false,
  });
  assert.equal(ds.length, E.cityscapes.length);
  for (let i = 0; i < ds.length; i++) {
    const s = await ds.get(i), e = E.cityscapes[i];
    assert.equal(s.name, e.base);
    deepStrictEqual(Array.from(s.image.data), e.rgb);
    deepStrictEqual(Array.from(s.label!), e.classes);
  }
});

Deno.test("potsdam: .mat tiles (compressed and not) give RGB of img and the 6→3 merge of gt", async () => {
  for (const split of ["train", "val"] as const) {
    const ds = await openDataset({ dataset: "potsdam", root: `${FIX}potsdam`, split });
    assert.equal(ds.nClasses, 3);
    for (let i = 0; i < ds.length; i++) {
      const s = await ds.get(i), e = E.potsdam[i];
      deepStrictEqual([s.image.width, s.image.height], [e.width, e.height]);
      deepStrictEqual(Array.from(s.image.data), e.rgb);
      deepStrictEqual(Array.from(s.label!), e.classes);
    }
  }
});

Deno.test("folder: any directory of images, labels optional", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/images/sub`, { recursive: true });
    await Deno.mkdir(`${dir}/labels/sub`, { recursive: true });
    await Deno.copyFile(`${FIX}png/rgba.png`, `${dir}/images/sub/b.png`);
    await Deno.copyFile(
      `${FIX}cityscapes/leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png`,
      `${dir}/images/a.png`,
    );
    await Deno.copyFile(`${FIX}png/gray8.png`, `${dir}/labels/sub/b.png`); // values 0..255 → needs classes
    await Deno.writeTextFile(`${dir}/classes.txt`, Array.from({ length: 255 }, (_, i) => `c${i}`).join("\n"));
    const ds = await openDataset({ dataset: "folder", root: dir, split: "val" });
    assert.equal(ds.length, 2);
    const a = await ds.get(0), b = await ds.get(1);
    assert.equal(a.name, "a");
    assert.equal(a.label, null);
    assert.equal(b.name, "sub/b");
    assert.equal(b.label!.length, 7 * 11);
    assert(Array.from(b.label!).every((v) => v >= -1 && v < 255));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bad input: missing root/list/split folder names the path; bad label value names file and value", async () => {
  // A missing root names the path and the layout expected under it (the hint line).
  await assertRejectsInputError(
    openDataset({ dataset: "cocostuff27", root: "/nonexistent/coco", split: "val" }),
    "Missing dataset root for cocostuff27: /nonexistent/coco is not a directory",
    "\nhint: expected COCO-Stuff layout: images/{train2017,val2017}/<id>.jpg",
    "curated/val2017/Coco164kFull_Stuff_Coarse_7.txt",
  );
  // Training reads the five-crops by default: the hint also says where they go and which command writes them.
  await assertRejectsInputError(
    openDataset({ dataset: "cocostuff27", root: "/nonexistent/coco", split: "train" }),
    "/nonexistent/coco",
    "annotations/{train2017,val2017}/<id>.png",
    "cropped/cocostuff27_five_crop_0.5/{img,label}/<split>/",
    "deno task prepare --dataset cocostuff27",
  );
  for (const [dataset, part] of [["potsdam", "imgs/<id>.mat"], ["folder", ".jpg/.jpeg/.png"]] as const) {
    await assertRejectsInputError(
      openDataset({ dataset, root: "/nonexistent/d", split: "val" }),
      `Missing dataset root for ${dataset}: /nonexistent/d`,
      part,
    );
  }
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/images/val2017`, { recursive: true });
    await assertRejectsInputError(
      openDataset({ dataset: "cocostuff27", root: dir, split: "val" }),
      `${dir}/curated/val2017/Coco164kFull_Stuff_Coarse_7.txt`,
      "curated/train2017/Coco164kFull_Stuff_Coarse.txt", // the hint spells out the layout
    );
    await assertRejectsInputError(
      openDataset({ dataset: "cocostuff27", root: dir, split: "train", fiveCrop: false }),
      `${dir}/images/train2017`,
    );
    await assertRejectsInputError(
      openDataset({ dataset: "cityscapes", root: dir, split: "val" }),
      `${dir}/leftImg8bit/val`,
    );
    await assertRejectsInputError(
      openDataset({ dataset: "potsdam", root: dir, split: "val" }),
      `${dir}/imgs`,
    );
    await assertRejectsInputError(
      openDataset({ dataset: "cocostuff27", root: dir, split: "train", fiveCrop: true }),
      "prepare",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const bad = await openDataset({ dataset: "cocostuff27", root: `${FIX}bad_label`, split: "val" });
  await assertRejectsInputError(bad.get(0), "Label value 200", `${FIX}bad_label/annotations/val2017/x.png`);
});

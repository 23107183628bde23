/**
 * `prepare` (datasets/prepare.ts, core/cli/prepare.ts): five-crop boxes and label+1 values against the
 * generator's independent expectations, identical output on re-runs, resume after an interruption,
 * --skip-bad, packed caches, and CLI errors.
 */
import assert, { deepStrictEqual, rejects } from "node:assert/strict";
import { prepareDataset } from "../../datasets/prepare.ts";
import { openDataset } from "../../datasets/registry.ts";
import { decodeImage, decodeLabelPng } from "../../core/image/codecs.ts";
import { evalTransform, evalTransformLabels } from "../../core/image/transforms.ts";
import { InputError } from "../../core/errors.ts";
import { main } from "../../main.ts";

const FIX = new URL("../fixtures/datasets/", import.meta.url).pathname;
const E = JSON.parse(Deno.readTextFileSync(`${FIX}expect_datasets.json`));

async function copyDir(src: string, dst: string): Promise<void> {
  await Deno.mkdir(dst, { recursive: true });
  for await (const e of Deno.readDir(src)) {
    if (e.isDirectory) await copyDir(`${src}/${e.name}`, `${dst}/${e.name}`);
    else await Deno.copyFile(`${src}/${e.name}`, `${dst}/${e.name}`);
  }
}

/** path → bytes of every file under dir. */
async function snapshot(dir: string, rel = ""): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for await (const e of Deno.readDir(`${dir}${rel}`)) {
    const p = `${rel}/${e.name}`;
    if (e.isDirectory) { for (const [k, v] of await snapshot(dir, p)) out.set(k, v); }
    else out.set(p, await Deno.readFile(`${dir}${p}`));
  }
  return out;
}

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hpseg_prepare_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("five-crop of COCO fixtures: boxes, label+1 PNGs and JPEG crops match the generator", async () => {
  await withTemp(async (dir) => {
    await copyDir(`${FIX}coco`, `${dir}/coco`);
    const rep = await prepareDataset({ dataset: "cocostuff27", root: `${dir}/coco` });
    assert.equal(rep.written, 3);
    const base = `${dir}/coco/cropped/cocostuff27_five_crop_0.5`;
    for (const split of ["train", "val"] as const) {
      for (let n = 0; n < E.coco[split].length; n++) {
        const src = E.coco[split][n];
        for (let j = 0; j < 5; j++) {
          const k = 5 * n + j, [t, l, h, w] = src.crops[j].box;
          const lab = decodeLabelPng(await Deno.readFile(`${base}/label/${split}/${k}.png`), "lab");
          deepStrictEqual([lab.width, lab.height], [w, h]);
          deepStrictEqual(Array.from(lab.values), src.crops[j].labelPlusOne, `${split} crop ${k}`);
          const img = await decodeImage(await Deno.readFile(`${base}/img/${split}/${k}.jpg`), "img");
          deepStrictEqual([img.width, img.height], [w, h]);
          let sum = 0;
          for (let y = 0; y < h; y++) {
            for (let x = 0; x < w * 3; x++) {
              sum += Math.abs(img.data[y * w * 3 + x] - src.decodedRgb[((t + y) * src.width + l) * 3 + x]);
            }
          }
          assert(
            sum / (h * w * 3) < 6,
            `crop ${k} differs from the source region by ${sum / (h * w * 3)} on average`,
          );
        }
      }
    }
    // the five-crop dataset reads them back (label+1 → label)
    const ds = await openDataset({ dataset: "cocostuff27", root: `${dir}/coco`, split: "train" });
    assert.equal(ds.length, 10);
    const s = await ds.get(7);
    deepStrictEqual(Array.from(s.label!), E.coco.train[1].crops[2].labelPlusOne.map((v: number) => v - 1));
  });
});

Deno.test("five-crop of Cityscapes fixtures: label+1 values per crop", async () => {
  await withTemp(async (dir) => {
    await prepareDataset({ dataset: "cityscapes", root: `${FIX}cityscapes`, out: dir, splits: ["train"] });
    for (let n = 0; n < E.cityscapes.length; n++) {
      for (let j = 0; j < 5; j++) {
        const lab = decodeLabelPng(
          await Deno.readFile(`${dir}/cityscapes_five_crop_0.5/label/train/${5 * n + j}.png`),
          "lab",
        );
        deepStrictEqual(Array.from(lab.values), E.cityscapes[n].crops[j].labelPlusOne);
      }
    }
  });
});

Deno.test("prepare twice gives identical files; an interrupted run resumes to the same result", async () => {
  await withTemp(async (dir) => {
    await copyDir(`${FIX}coco`, `${dir}/a`);
    await copyDir(`${FIX}coco`, `${dir}/b`);
    await prepareDataset({ dataset: "cocostuff27", root: `${dir}/a` });
    const first = await snapshot(`${dir}/a/cropped`);
    const again = await prepareDataset({ dataset: "cocostuff27", root: `${dir}/a` });
    assert.equal(again.written, 0);
    assert.equal(again.skippedExisting, 3);
    deepStrictEqual(await snapshot(`${dir}/a/cropped`), first);
    // interrupted after one source, with a stale temporary left behind by the "crash"
    const cut = await prepareDataset({ dataset: "cocostuff27", root: `${dir}/b`, stopAfter: 1 });
    assert(cut.stopped);
    await Deno.writeFile(
      `${dir}/b/cropped/cocostuff27_five_crop_0.5/img/train/5.jpg.999.tmp`,
      new Uint8Array(3),
    );
    const resumed = await prepareDataset({ dataset: "cocostuff27", root: `${dir}/b` });
    assert.equal(resumed.skippedExisting, 1);
    assert.equal(resumed.written, 2);
    deepStrictEqual(await snapshot(`${dir}/b/cropped`), first);
    // two encoder workers: same bytes
    await copyDir(`${FIX}coco`, `${dir}/w`);
    await prepareDataset({ dataset: "cocostuff27", root: `${dir}/w`, workers: 2 });
    deepStrictEqual(await snapshot(`${dir}/w/cropped`), first);
  });
});

Deno.test("undecodable image: error names the file; --skip-bad skips, counts and keeps indices gap-free", async () => {
  await withTemp(async (dir) => {
    await copyDir(`${FIX}coco`, `${dir}/c`);
    const bad = `${dir}/c/images/train2017/${E.coco.train[0].id}.jpg`;
    await Deno.writeFile(bad, new Uint8Array([0xff, 0xd8, 0xff, 1, 2, 3]));
    await rejects(
      prepareDataset({ dataset: "cocostuff27", root: `${dir}/c`, splits: ["train"] }),
      (e: Error) => {
        assert(e instanceof InputError && e.message.includes(bad), e.message);
        return true;
      },
    );
    const rep = await prepareDataset({
      dataset: "cocostuff27",
      root: `${dir}/c`,
      splits: ["train"],
      skipBad: true,
      workers: 1, // the DecodeError crosses the worker boundary intact
    });
    assert.equal(rep.skippedBad, 1);
    const ds = await openDataset({ dataset: "cocostuff27", root: `${dir}/c`, split: "train" });
    assert.equal(ds.length, 5);
    deepStrictEqual(
      Array.from((await ds.get(4)).label!),
      E.coco.train[1].crops[4].labelPlusOne.map((v: number) => v - 1),
    );
    const again = await prepareDataset({
      dataset: "cocostuff27",
      root: `${dir}/c`,
      splits: ["train"],
      skipBad: true,
    });
    assert.equal(again.written + again.skippedBad, 0);
  });
});

Deno.test("packed cache holds the eval transform of every sample and opens without decoding", async () => {
  await withTemp(async (dir) => {
    await copyDir(`${FIX}potsdam`, `${dir}/p`);
    await prepareDataset({
      dataset: "potsdam",
      root: `${dir}/p`,
      pack: true,
      size: 8,
      valSize: 6,
    });
    const full = await openDataset({ dataset: "potsdam", root: `${dir}/p`, split: "train" });
    const packed = await openDataset({ dataset: "potsdam", root: `${dir}/p`, split: "train", packedSize: 8 });
    assert.equal(packed.length, full.length);
    assert.equal(packed.fixedSize, 8);
    for (let i = 0; i < full.length; i++) {
      const a = await full.get(i), b = await packed.get(i);
      deepStrictEqual(b.image.data, evalTransform(a.image, 8).data);
      const l = evalTransformLabels({
        width: a.image.width,
        height: a.image.height,
        data: a.label as Int32Array,
      }, 8);
      deepStrictEqual(Array.from(b.label!), Array.from(l.data));
    }
    await rejects(
      openDataset({ dataset: "potsdam", root: `${dir}/p`, split: "train", packedSize: 9 }),
      /Missing packed cache .*potsdam_train_9\.hpk/,
    );
  });
});

Deno.test("CLI: prepare --help works; a missing root is one InputError line naming the path", async () => {
  assert.equal(await main(["prepare", "--help"]), 0);
  const errors: string[] = [];
  const orig = console.error;
  console.error = (...a: unknown[]) => void errors.push(a.join(" "));
  try {
    assert.equal(await main(["prepare", "--dataset", "cityscapes", "--root", "/nonexistent/cs"]), 1);
    assert.equal(await main(["prepare", "--dataset", "nope", "--root", "/x"]), 2);
  } finally {
    console.error = orig;
  }
  assert(errors[0].includes("/nonexistent/cs") && !errors[0].includes("    at "), errors[0]);
  // The hint line spells out what should be under the root.
  assert(/\nhint: expected Cityscapes layout: leftImg8bit\/\{train,val\}\//.test(errors[0]), errors[0]);
  assert(errors[0].includes("gtFine/{train,val}/<city>/*_gtFine_labelIds.png"), errors[0]);
});

Deno.test("progress: plain lines at each 10 % without a terminal, a redrawn bar on one", async () => {
  const { progressPrinter } = await import("../../core/cli/prepare.ts");
  const lines: string[] = [];
  const plain = progressPrinter(false, (s) => void lines.push(s));
  for (let i = 0; i <= 40; i++) plain("five-crop train", i, 40);
  assert.equal(lines.length, 11);
  assert.equal(lines[10], "five-crop train: 40/40 (100%)\n");
  const tty: string[] = [];
  const bar = progressPrinter(true, (s) => void tty.push(s));
  bar("pack", 1, 2);
  bar("pack", 2, 2);
  assert(tty[0].startsWith("\rpack [") && tty.at(-1) === "\n");
});

Deno.test("prepare killed mid-run (SIGKILL) resumes to the same files as an uninterrupted run", async () => {
  await withTemp(async (dir) => {
    const p = { imageSize: 48, trainCount: 40, valCount: 4, seed: 2 };
    await prepareDataset({ dataset: "synthetic", root: `${dir}/clean`, synthetic: p });
    const want = await snapshot(`${dir}/clean`);
    const argv = [
      "run",
      "-A",
      new URL("../../main.ts", import.meta.url).pathname,
      "prepare",
      "--dataset",
      "synthetic",
      "--root",
      `${dir}/killed`,
      "--image-size",
      "48",
      "--count",
      "40",
      "--val-count",
      "4",
      "--seed",
      "2",
    ];
    const child = new Deno.Command(Deno.execPath(), { args: argv, stdout: "null", stderr: "null" }).spawn();
    const crops = `${dir}/killed/cropped/synthetic_five_crop_0.5/img/train`;
    const t0 = performance.now();
    let killedMidway = false;
    while (performance.now() - t0 < 60_000) {
      let n = 0;
      try {
        for await (const _ of Deno.readDir(crops)) n++;
      } catch { /* not created yet */ }
      if (n >= 25) {
        try {
          child.kill("SIGKILL");
          killedMidway = true;
        } catch { /* already finished */ }
        break;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    await child.status;
    const resumed = await prepareDataset({ dataset: "synthetic", root: `${dir}/killed`, synthetic: p });
    if (killedMidway) assert(resumed.skippedExisting > 0);
    console.log(`killed mid-run: ${killedMidway}, resumed: ${JSON.stringify(resumed)}`);
    deepStrictEqual(await snapshot(`${dir}/killed`), want);
  });
});

/**
 * Tests for `hpseg score` (core/cli/score.ts) and the label PNG codec: fixture sets drawn and scored by an
 * independent numpy/scipy implementation (tests/fixtures/eval/gen_eval_fixtures.py), plus error paths.
 * @module
 */
import { deepEqual as assertEquals, ok } from "node:assert/strict";
import { join } from "node:path";
import { scoreLabelDirs } from "../../core/cli/score.ts";
import { runCli } from "./_util.ts";
import { decodeLabelPng, encodeGrayPng } from "../../core/image/codecs.ts";

const FIX = new URL("../fixtures/eval/score/", import.meta.url).pathname;
const SETS = ["a", "b", "c", "d", "e"];

function closeOrNull(got: number | null, want: number | null, what: string): void {
  if (want === null) {
    ok(got === null || Number.isNaN(got), `${what}: expected null, got ${got}`);
    return;
  }
  ok(got !== null && Math.abs(got - want) < 1e-9, `${what}: got ${got}, want ${want}`);
}

Deno.test("score matches the numpy/scipy reference protocol on generated prediction/GT sets", async () => {
  for (const set of SETS) {
    const dir = join(FIX, set);
    const expected = JSON.parse(await Deno.readTextFile(join(dir, "expected.json")));
    for (const mode of ["cluster", "linear"] as const) {
      const r = await scoreLabelDirs(join(dir, "pred"), join(dir, "gt"), expected.classes, mode);
      const want = expected[mode];
      closeOrNull(r.acc, want.acc, `${set}/${mode} acc`);
      closeOrNull(r.miou, want.miou, `${set}/${mode} miou`);
      assertEquals(r.iou.length, want.iou.length);
      r.iou.forEach((v, k) => closeOrNull(v, want.iou[k], `${set}/${mode} iou[${k}]`));
    }
  }
});

Deno.test("score --json prints the reference numbers as its last stdout line", async () => {
  const dir = join(FIX, "b");
  const expected = JSON.parse(await Deno.readTextFile(join(dir, "expected.json")));
  const r = await runCli([
    "score",
    "--pred",
    join(dir, "pred"),
    "--gt",
    join(dir, "gt"),
    "--classes",
    "27",
    "--json",
  ]);
  assertEquals(r.code, 0);
  const last = JSON.parse(r.out[r.out.length - 1]);
  closeOrNull(last.acc, expected.cluster.acc, "acc");
  closeOrNull(last.miou, expected.cluster.miou, "miou");
  assertEquals(last.iou.length, 27);
});

Deno.test("score fails with one clear line for missing folders, unmatched files and bad PNGs", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const gt = join(tmp, "gt"), pred = join(tmp, "pred");
    await Deno.mkdir(gt);
    await Deno.mkdir(pred);
    const img = encodeGrayPng(3, 2, new Uint8Array([0, 1, 2, 255, 1, 0]));
    await Deno.writeFile(join(gt, "x.png"), img);
    await Deno.writeFile(join(gt, "y.png"), img);
    await Deno.writeFile(join(pred, "x.png"), img);

    let r = await runCli(["score", "--pred", join(tmp, "nope"), "--gt", gt, "--classes", "3"]);
    assertEquals(r.code, 1);
    ok(/--pred folder .*nope: it does not exist/.test(r.err[0]), r.err[0]);

    r = await runCli(["score", "--pred", pred, "--gt", gt, "--classes", "3"]);
    assertEquals(r.code, 1);
    ok(r.err[0].includes('"y.png"') && r.err[0].includes("no prediction"), r.err[0]);

    await Deno.writeFile(join(pred, "y.png"), new TextEncoder().encode("not a png at all"));
    r = await runCli(["score", "--pred", pred, "--gt", gt, "--classes", "3"]);
    assertEquals(r.code, 1);
    ok(r.err[0].includes("y.png") && r.err[0].includes("not a PNG"), r.err[0]);

    const trunc = img.slice(0, img.length - 30);
    await Deno.writeFile(join(pred, "y.png"), trunc);
    r = await runCli(["score", "--pred", pred, "--gt", gt, "--classes", "3"]);
    assertEquals(r.code, 1);
    ok(r.err[0].includes("y.png"), r.err[0]);

    r = await runCli(["score", "--pred", pred, "--gt", gt, "--classes", "3", "--mode", "kmeans"]);
    assertEquals(r.code, 2);
    ok(r.err[0].includes('"kmeans"'), r.err[0]);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("label PNGs written by PIL as palette images are read as palette indices", async () => {
  // pred/img_01.png of set "a" was written by PIL as a palette PNG whose colours are not the indices.
  const bytes = await Deno.readFile(join(FIX, "a", "pred", "img_01.png"));
  assertEquals(bytes[25], 3, "fixture should be a palette PNG");
  const img = decodeLabelPng(bytes, "img_01.png");
  ok(img.values.some((v) => v > 0 && v < 5));
  ok(img.values.every((v) => v >= 0 && v < 256));
});

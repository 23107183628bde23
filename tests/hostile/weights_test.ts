/**
 * Hostile weight and tensor files (issue 11 findings 2, 3, 11, 12), on real torch.save files from
 * tests/fixtures/hostile/make_hostile.py: a stride-0 view claiming 4.1 GB, NaN/Inf and int32 weights; plus a
 * pickle with 300k APPENDS, a zero-size safetensors tensor, a folder given as --weights, and `--out` naming
 * an input.
 */
import assert from "node:assert/strict";
import { loadVitWeights } from "../../core/vit/weights.ts";
import { unpickle } from "../../core/io/pickle.ts";
import { readSafetensorsSync } from "../../core/io/safetensors.ts";
import { assertRejectsInputError } from "../_util.ts";
import { assertOneLineError, HOSTILE, hpseg, VIT, withTempDir } from "./_hostile.ts";

const IMAGE = `${VIT}tiny_image0.png`;
const features = (weights: string, out: string, ...extra: string[]) =>
  hpseg(["features", "--heads", "2", "--weights", weights, "--out", out, "--size", "16", ...extra, IMAGE]);

Deno.test("finding 3: a 17 kB .pth whose stride-0 view claims 4.1 GB is refused at once, naming the tensor", async () => {
  // In-process: nothing is allocated for the claimed shape.
  await assertRejectsInputError(
    loadVitWeights(`${HOSTILE}stride0.pth`, { heads: 2 }),
    "stride0.pth",
    '"pos_embed"',
    "[1, 64000001, 16]",
    /more elements than its storage holds \(1\)/,
  );
  // As a user runs it (it took 100 s and 12 GB before the fix).
  await withTempDir("stride0", async (dir) => {
    const r = await features(`${HOSTILE}stride0.pth`, `${dir}/f.safetensors`);
    assertOneLineError(r, [/stride0\.pth/, /pos_embed/, /stride 0/], 1);
    assert.ok(r.seconds < 60, `took ${r.seconds} s`);
  });
});

Deno.test("finding 11: NaN/Inf and int32 weights are errors naming the file and the tensor, not results", async () => {
  await withTempDir("nan", async (dir) => {
    const nan = await features(`${HOSTILE}nan.pth`, `${dir}/f.safetensors`);
    assertOneLineError(nan, [/nan\.pth/, /"blocks\.0\.attn\.qkv\.weight" holds 1 NaN\/Inf/], 1);
    const i32 = await features(`${HOSTILE}i32.pth`, `${dir}/f.safetensors`);
    assertOneLineError(i32, [/i32\.pth/, /"norm\.weight" is I32, expected a floating-point tensor/], 1);
    for (const e of Deno.readDirSync(dir)) assert.fail(`features wrote ${e.name} despite the bad weights`);
  });
});

Deno.test("finding 2: features --out naming the weights or an input image is refused, the file untouched", async () => {
  await withTempDir("out", async (dir) => {
    const w = `${dir}/w.pth`, img = `${dir}/img.png`;
    await Deno.copyFile(`${VIT}tiny_dict.pth`, w);
    await Deno.copyFile(IMAGE, img);
    const before = await Deno.readFile(w);
    await Deno.symlink(w, `${dir}/link.pth`);
    for (const out of [w, `${dir}/link.pth`, `${dir}/./w.pth`]) {
      const r = await hpseg(["features", "--heads", "3", "--weights", w, "--out", out, "--size", "16", img]);
      assertOneLineError(r, [/Refusing --out/, /--weights file/], 1);
    }
    const r = await hpseg(["features", "--heads", "3", "--weights", w, "--out", img, "--size", "16", img]);
    assertOneLineError(r, [/Refusing --out .*img\.png: it is the input image/], 1);
    assert.deepEqual(await Deno.readFile(w), before, "the weights file was changed");
    assert.deepEqual(await Deno.readFile(img), await Deno.readFile(IMAGE), "the image was changed");
  });
});

Deno.test("finding 12: --weights DIR names the folder (no bare IsADirectory)", async () => {
  await withTempDir("dir", async (dir) => {
    const r = await features(dir, `${dir}/f.safetensors`);
    assertOneLineError(r, [new RegExp(`Cannot open weights file ${dir}: not a regular file`)], 1);
  });
});

Deno.test("finding 12: a pickle with 300k APPENDS is read without a stack overflow", () => {
  const n = 300_000;
  const bytes = new Uint8Array(2 + 1 + 1 + n + 2);
  bytes.set([0x80, 0x02, 0x5d, 0x28]); // PROTO 2, EMPTY_LIST, MARK
  bytes.fill(0x4e, 4, 4 + n); // NONE × n
  bytes.set([0x65, 0x2e], 4 + n); // APPENDS, STOP
  const v = unpickle(bytes, "appends.pth", () => null) as unknown[];
  assert.equal(v.length, n);
  // The same through ADDITEMS (sets).
  const set = bytes.slice();
  set[2] = 0x8f; // EMPTY_SET
  set[4 + n] = 0x90; // ADDITEMS
  assert.equal((unpickle(set, "additems.pth", () => null) as unknown[]).length, n);
});

Deno.test("finding 12: a zero-size safetensors tensor is not an overlap", async () => {
  await withTempDir("zero", (dir) => {
    // As writers emit it: the empty tensor's range sits at the start of the next one, listed after it.
    const header = JSON.stringify({
      b: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
      a: { dtype: "F32", shape: [0, 3], data_offsets: [0, 0] },
      c: { dtype: "F32", shape: [1], data_offsets: [8, 12] },
    });
    const h = new TextEncoder().encode(header);
    const file = new Uint8Array(8 + h.length + 12);
    new DataView(file.buffer).setBigUint64(0, BigInt(h.length), true);
    file.set(h, 8);
    [1, 2, 3].forEach((v, i) => new DataView(file.buffer).setFloat32(8 + h.length + 4 * i, v, true));
    Deno.writeFileSync(`${dir}/z.safetensors`, file);
    const st = readSafetensorsSync(`${dir}/z.safetensors`);
    try {
      assert.deepEqual(st.info("a").shape, [0, 3]);
      assert.equal(st.getF32("a").length, 0);
      assert.deepEqual(Array.from(st.getF32("b")), [1, 2]);
      assert.deepEqual(Array.from(st.getF32("c")), [3]);
    } finally {
      st.close();
    }
  });
});

/**
 * `prepare --pack` against changed and undecodable sources (issue 11 finding 11): a pack whose sources
 * changed is written again instead of being reused, and `--skip-bad` in pack mode lists what it skipped in
 * `packed/skipped_<split>.txt`, as the README says.
 */
import assert from "node:assert/strict";
import { prepareDataset } from "../../datasets/prepare.ts";
import { openDataset } from "../../datasets/registry.ts";
import { encodeRgbPng } from "../../core/image/codecs.ts";
import { withTempDir } from "./_hostile.ts";

function image(seed: number, size = 24): Uint8Array {
  const data = new Uint8Array(size * size * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + seed * 31) & 255;
  return encodeRgbPng({ width: size, height: size, data });
}

const pack = (root: string) =>
  prepareDataset({ dataset: "folder", root, splits: ["train"], pack: true, size: 16, skipBad: true });

Deno.test("finding 11: prepare --pack --skip-bad writes skipped_<split>.txt and never reuses a stale pack", async () => {
  await withTempDir("pack", async (root) => {
    Deno.mkdirSync(`${root}/images`);
    for (let i = 0; i < 3; i++) Deno.writeFileSync(`${root}/images/${i}.png`, image(i));
    Deno.writeFileSync(`${root}/images/bad.png`, new TextEncoder().encode("not a png at all"));
    const r1 = await pack(root);
    assert.equal(r1.skippedBad, 1);
    const [path] = r1.packed;
    const skipped = Deno.readTextFileSync(`${root}/packed/skipped_train.txt`);
    assert.match(skipped, /^\d+\tCannot decode image .*bad\.png/);
    const first = Deno.readFileSync(path);

    // Unchanged sources: the pack is reused as it is.
    const r2 = await pack(root);
    assert.deepEqual(r2.notes, []);
    assert.deepEqual(Deno.readFileSync(path), first);

    // A source replaced (same name, new pixels): the pack is written again with them.
    Deno.writeFileSync(`${root}/images/1.png`, image(9));
    const r3 = await pack(root);
    assert.match(r3.notes.join("\n"), /sources changed .* packed again/);
    assert.notDeepEqual(Deno.readFileSync(path), first);
    const ds = await openDataset({ dataset: "folder", root, split: "train", packedSize: 16 });
    assert.equal(ds.length, 3);

    // The bad file fixed: nothing is skipped any more and the list goes away.
    Deno.writeFileSync(`${root}/images/bad.png`, image(5));
    const r4 = await pack(root);
    assert.equal(r4.skippedBad, 0);
    assert.throws(() => Deno.statSync(`${root}/packed/skipped_train.txt`));
    assert.equal((await openDataset({ dataset: "folder", root, split: "train", packedSize: 16 })).length, 4);
  });
});

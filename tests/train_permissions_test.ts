/**
 * Least privilege for the trainer Worker (issue 7 §6; core/cli/train.ts trainerPermissions): a Worker with
 * those permissions reads the dataset root, the weights file, its run folder and the fallback JPEG
 * decoder's .wasm, writes only the run folder, and has no network or subprocesses. The real train Worker runs under them in every CLI test
 * (tests/eval/train_eval_roundtrip_test.ts, tests/train/resume_test.ts).
 * @module
 */
import assert from "node:assert/strict";
import { trainerPermissions } from "../core/cli/train.ts";
import { loadConfig } from "../core/model/config.ts";
import { sharedJpegDecoderDir } from "../core/image/codecs.ts";

Deno.test("trainerPermissions() lets the trainer Worker read its inputs and write only its run folder", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "hpseg-perm-" });
  try {
    for (const d of ["data", "runs/r1", "elsewhere"]) await Deno.mkdir(`${tmp}/${d}`, { recursive: true });
    for (const f of ["data/a.png", "weights.pth", "elsewhere/secret.txt", "runs/r1/config.yaml"]) {
      await Deno.writeTextFile(`${tmp}/${f}`, "x");
    }
    const config = loadConfig("synthetic", [
      `dataset.root=${tmp}/data`,
      `backbone.weights=${tmp}/weights.pth`,
    ]);
    const perms = trainerPermissions(config, `${tmp}/runs/r1`);
    assert.deepEqual(perms.write, [`${tmp}/runs/r1`]);
    assert.equal(perms.net, false);
    assert.ok(
      (perms.read as string[]).includes(new URL("../", import.meta.url).pathname.replace(/\/$/, "")),
      "hpseg's own modules are readable (the trainer starts loader Workers from them)",
    );

    const worker = new Worker(new URL("./_permission_probe.ts", import.meta.url), {
      type: "module",
      deno: { permissions: perms },
    });
    const result = await new Promise<Array<{ op: string; path?: string; allowed: boolean }>>((res, rej) => {
      worker.onmessage = (e) => res(e.data);
      worker.onerror = (e) => {
        e.preventDefault();
        rej(new Error(e.message));
      };
      worker.postMessage([
        // The fallback JPEG decoder's .wasm (CMYK and other JPEGs ours does not implement, core/image/codecs.ts).
        { op: "read", path: `${sharedJpegDecoderDir()}/jpeg.wasm` },
        { op: "read", path: `${tmp}/data/a.png` },
        { op: "read", path: `${tmp}/weights.pth` },
        { op: "read", path: `${tmp}/runs/r1/config.yaml` },
        { op: "write", path: `${tmp}/runs/r1/metrics.jsonl` },
        { op: "read", path: `${tmp}/elsewhere/secret.txt` },
        { op: "write", path: `${tmp}/data/a.png` },
        { op: "write", path: `${tmp}/elsewhere/x.txt` },
        { op: "net" },
        { op: "run" },
      ]);
    }).finally(() => worker.terminate());
    assert.deepEqual(result.map((r) => r.allowed), [
      true,
      true,
      true,
      true,
      true,
      false,
      false,
      false,
      false,
      false,
    ]);
    assert.equal(await Deno.readTextFile(`${tmp}/data/a.png`), "x", "the dataset was not modified");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

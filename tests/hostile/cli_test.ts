/**
 * Typos and out-of-range flags (issue 11 findings 5, 11, 12): every one stops at once with one line naming
 * the flag (or variable) and the value — no hang, no runaway writes, no stack, no misleading hint.
 */
import assert from "node:assert/strict";
import { assertOneLineError, hpseg, VIT, withTempDir } from "./_hostile.ts";
import { MAX_SYNTHETIC_COUNT, MAX_WORKERS } from "../../core/limits.ts";

Deno.test("finding 5: train --workers 100000 and prepare --count 1e12 are refused before any work", async () => {
  await withTempDir("bounds", async (dir) => {
    const w = await hpseg(["train", "--workers", "100000", "--no-serve", "--out", `${dir}/runs`]);
    assertOneLineError(w, [new RegExp(`--workers must be at most ${MAX_WORKERS}, got 100000`)], 2);
    assert.throws(() => Deno.statSync(`${dir}/runs`), "a run folder was created");
    const c = await hpseg(["prepare", "--dataset", "synthetic", "--root", `${dir}/syn`, "--count", "1e12"]);
    assertOneLineError(c, [
      new RegExp(`--count must be an integer in \\[1, ${MAX_SYNTHETIC_COUNT}\\], got 1000000000000`),
    ], 2);
    assert.throws(() => Deno.statSync(`${dir}/syn`), "prepare wrote files");
    const pw = await hpseg([
      "prepare",
      "--dataset",
      "synthetic",
      "--root",
      `${dir}/syn`,
      "--workers",
      "100000",
    ]);
    assertOneLineError(pw, [/--workers must be an integer in \[0, 64\], got 100000/], 2);
  });
});

Deno.test("finding 5: --backend gl on a software rasteriser is refused in seconds instead of spinning", async () => {
  const r = await hpseg([
    "--backend",
    "gl",
    "features",
    "--heads",
    "3",
    "--weights",
    `${VIT}tiny_dict.pth`,
    "--out",
    "/dev/null/never",
    "--size",
    "16",
    `${VIT}tiny_image0.png`,
  ]);
  if (r.code === 0) return; // a real GPU behind OpenGL: nothing to refuse (not the case on CI's lavapipe)
  // lavapipe machines: llvmpipe behind GL is refused; machines without GL: no adapter for backend gl.
  assertOneLineError(r, [
    /backend gl found only the software rasteriser|No WebGPU adapter found for backend gl/,
  ], 1);
  assert.ok(r.seconds < 60, `took ${r.seconds} s`);
});

Deno.test("finding 12: HPSEG_BACKEND=foo names the variable (not a hint to install mesa)", async () => {
  const r = await hpseg(
    [
      "features",
      "--heads",
      "3",
      "--weights",
      `${VIT}tiny_dict.pth`,
      "--out",
      "/dev/null/x",
      `${VIT}tiny_image0.png`,
    ],
    { HPSEG_BACKEND: "foo" },
  );
  assertOneLineError(r, [/HPSEG_BACKEND must be a comma list of vulkan, gl, metal, dx12; got "foo"/], 1);
  assert.ok(!/mesa/.test(r.stderr), r.stderr);
});

Deno.test("finding 12: --steps -5 reports the value, not 'argument is ambiguous'", async () => {
  for (const args of [["--steps", "-5"], ["--steps=-5"]]) {
    const r = await hpseg(["train", ...args, "--no-serve"]);
    assertOneLineError(r, [/--steps must be a positive integer, got -5/], 2);
  }
  const p = await hpseg(["prepare", "--dataset", "synthetic", "--root", "/tmp/never", "--size", "-224"]);
  assertOneLineError(p, [/--size must be an integer in \[1, 4096\], got -224/], 2);
});

Deno.test("finding 12: a DENORT_BIN that is not an executable is one line (no Rust backtrace)", async () => {
  await withTempDir("denort", async (dir) => {
    Deno.writeTextFileSync(`${dir}/denort`, "#!/bin/sh\necho not a runtime\n");
    const r = await hpseg(["compile", "--output", `${dir}/hpseg`], { DENORT_BIN: `${dir}/denort` });
    assertOneLineError(r, [
      /DENORT_BIN points at .*denort, which is not an executable/,
      /needs the (ELF|Mach-O|PE)/,
    ], 1);
    assert.throws(() => Deno.statSync(`${dir}/hpseg`), "an executable was written");
  });
});

Deno.test("finding 11: eval --limit 0 is refused (it printed NaN scores)", async () => {
  const r = await hpseg(["eval", "--checkpoint", "/nonexistent", "--limit", "0"]);
  assertOneLineError(r, [/--limit must be an integer in \[1, \d+\], got "0"/], 2);
});

Deno.test("finding 11: predict --out inside (or equal to, or around) its input folder is refused", async () => {
  await withTempDir("predict", async (dir) => {
    Deno.mkdirSync(`${dir}/imgs`);
    await Deno.copyFile(`${VIT}tiny_image0.png`, `${dir}/imgs/a.png`);
    Deno.writeFileSync(`${dir}/ckpt.safetensors`, new Uint8Array(16)); // never read: refused before
    const predict = (out: string, input = `${dir}/imgs`) =>
      hpseg(["predict", "--checkpoint", `${dir}/ckpt.safetensors`, "--out", out, input]);
    assertOneLineError(await predict(`${dir}/imgs/pred`), [
      /Refusing --out .*imgs\/pred: it lies inside the input/,
    ], 1);
    assertOneLineError(await predict(`${dir}/imgs`), [/Refusing --out .*imgs: it is the input/], 1);
    assertOneLineError(await predict(`${dir}/imgs`, `${dir}/imgs/a.png`), [/it contains the input/], 1);
    assert.deepEqual([...Deno.readDirSync(`${dir}/imgs`)].map((e) => e.name), ["a.png"]);
  });
});

/**
 * Helpers of the hostile-input suite (issue 11): run `hpseg` as a user does (a subprocess of main.ts), and
 * check that a failure is one clean line — one `error:` line naming what is wrong, no JS stack, no Rust
 * backtrace, no "set HPSEG_DEBUG" — and, where it matters, that it came quickly.
 * @module
 */
import assert from "node:assert/strict";
import { deflateSync } from "node:zlib";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** What a subprocess run of `hpseg` gave. */
export interface CliRun {
  code: number;
  /** Signal that ended it, if any. */
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
  /** Wall time in seconds. */
  seconds: number;
}

/**
 * Environment for the subprocesses: the software adapter, the caller's HPSEG_* variables blanked (empty
 * counts as unset), plus `extra`.
 */
export function cliEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    DENO_WEBGPU_BACKEND: Deno.env.get("DENO_WEBGPU_BACKEND") ?? "vulkan",
    XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp",
    HPSEG_DEBUG: "",
    HPSEG_BACKEND: "",
    HPSEG_MAX_IMAGE_PIXELS: "",
    HPSEG_MAX_IMAGE_SIDE: "",
    ...extra,
  };
}

/** `deno run -A main.ts ARGS` as a configured subprocess. */
export function hpsegCommand(args: string[], env: Record<string, string> = {}): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
    env: cliEnv(env),
  });
}

/** Runs `hpseg ARGS` to completion. */
export async function hpseg(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const t0 = performance.now();
  const out = await hpsegCommand(args, env).output();
  return {
    code: out.code,
    signal: out.signal,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
    seconds: (performance.now() - t0) / 1000,
  };
}

/**
 * Asserts a clean one-line failure: exit `code` (any non-zero when omitted), exactly one `error:` line,
 * matching every pattern, and nothing that looks like a stack trace or a debug hint.
 */
export function assertOneLineError(r: CliRun, patterns: RegExp[], code?: number): string {
  const ctx = `stderr:\n${r.stderr}\nstdout:\n${r.stdout}`;
  if (code === undefined) assert.notEqual(r.code, 0, `expected a failure; ${ctx}`);
  else assert.equal(r.code, code, `exit code; ${ctx}`);
  const lines = r.stderr.split("\n");
  const errors = lines.filter((l) => l.startsWith("error:"));
  assert.equal(errors.length, 1, `expected one "error:" line; ${ctx}`);
  for (const p of patterns) assert.match(errors[0], p, ctx);
  assert.ok(!lines.some((l) => /^\s+at\s/.test(l)), `a JS stack was printed; ${ctx}`);
  assert.ok(!/HPSEG_DEBUG|Stack backtrace|panicked|RUST_BACKTRACE/.test(r.stderr), `debug noise; ${ctx}`);
  assert.ok(!/\bunreachable\b/.test(r.stderr), `a raw WASM trap was printed; ${ctx}`);
  return errors[0];
}

/**
 * A PNG bomb: a `width`×`height` 1-bit greyscale PNG of zeros. 20000×20000 is about 50 kB on disk and 400
 * million pixels once decoded (1.6 GB as label values, 1.2 GB as RGB).
 */
export function pngBomb(width: number, height: number): Uint8Array {
  const stride = 1 + Math.ceil(width / 8);
  const raw = new Uint8Array(stride * height); // filter byte 0 and zero pixels on every row
  return pngFile(width, height, 1, 0, deflateSync(raw, { level: 9 }));
}

/** A PNG file from its IHDR fields and zlib-compressed image data. */
export function pngFile(
  w: number,
  h: number,
  bitDepth: number,
  colorType: number,
  zdata: Uint8Array,
): Uint8Array {
  const chunk = (type: string, body: Uint8Array) => {
    const out = new Uint8Array(12 + body.length);
    const v = new DataView(out.buffer);
    v.setUint32(0, body.length);
    out.set(new TextEncoder().encode(type), 4);
    out.set(body, 8);
    v.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length)));
    return out;
  };
  const ihdr = new Uint8Array(13);
  const iv = new DataView(ihdr.buffer);
  iv.setUint32(0, w);
  iv.setUint32(4, h);
  ihdr.set([bitDepth, colorType, 0, 0, 0], 8);
  const parts = [
    new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk("IHDR", ihdr),
    chunk("IDAT", zdata),
    chunk("IEND", new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) {
    c ^= b[i];
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

/** A temporary folder removed after `fn`. */
export async function withTempDir(prefix: string, fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: `hpseg-hostile-${prefix}-` });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Fixture folder of the hostile weight files (tests/fixtures/hostile/make_hostile.py). */
export const HOSTILE = new URL("../fixtures/hostile/", import.meta.url).pathname;
/** The ViT fixtures (tests/fixtures/vit/). */
export const VIT = new URL("../fixtures/vit/", import.meta.url).pathname;

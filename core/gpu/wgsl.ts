/**
 * WGSL assembly: a kernel's source may start with `#include "<name>.wgsl"` lines naming fragments in
 * shaders/include/. {@link assembleWgsl} replaces each with the fragment's text (each fragment once, even when
 * several includes ask for it; fragments may include others) and keeps a line map, so a compile error
 * names the file and line it was written in (`shaders/include/loss_common.wgsl:21:5`), not the line of the
 * joined source.
 *
 * Fragments are text-imported here, so `deno compile` embeds them like the kernels themselves.
 * @module
 */
import bilinear from "../../shaders/include/bilinear.wgsl" with { type: "text" };
import dotTile from "../../shaders/include/dot_tile.wgsl" with { type: "text" };
import gram128 from "../../shaders/include/gram128.wgsl" with { type: "text" };
import hash from "../../shaders/include/hash.wgsl" with { type: "text" };
import lhpRow from "../../shaders/include/lhp_row.wgsl" with { type: "text" };
import lossCommon from "../../shaders/include/loss_common.wgsl" with { type: "text" };
import lossGroupCommon from "../../shaders/include/loss_group_common.wgsl" with { type: "text" };
import lossSparseCommon from "../../shaders/include/loss_sparse_common.wgsl" with { type: "text" };
import wgReduce from "../../shaders/include/wg_reduce.wgsl" with { type: "text" };

/** The shader folder, relative to the repository root (kernels are named relative to it). */
export const SHADER_ROOT = "shaders";

/** The fragments in shaders/include/, by the name an `#include` line gives. */
export const FRAGMENTS: Readonly<Record<string, string>> = {
  "bilinear.wgsl": bilinear,
  "dot_tile.wgsl": dotTile,
  "gram128.wgsl": gram128,
  "hash.wgsl": hash,
  "lhp_row.wgsl": lhpRow,
  "loss_common.wgsl": lossCommon,
  "loss_group_common.wgsl": lossGroupCommon,
  "loss_sparse_common.wgsl": lossSparseCommon,
  "wg_reduce.wgsl": wgReduce,
};

const INCLUDE = /^\s*#include\s+"([^"]+)"\s*$/;

/** The fragment names a source's `#include` lines give, in order. */
export function includesOf(source: string): string[] {
  return source.split("\n").flatMap((l) => {
    const m = INCLUDE.exec(l);
    return m ? [m[1]] : [];
  });
}

/** Where one line of an assembled source was written. */
export interface SourceLine {
  /** Path relative to shaders/, e.g. "include/hash.wgsl". */
  file: string;
  /** 1-based line number in that file. */
  line: number;
}

/** A kernel's source with its fragments inlined. */
export interface AssembledWgsl {
  code: string;
  /** `lines[i]` is where line i + 1 of `code` comes from. */
  lines: SourceLine[];
}

/**
 * Inlines the `#include` lines of `source` (the text of shaders/`file`).
 * @param fragments name → text (default: shaders/include/); tests pass their own.
 * @throws SyntaxError naming the file and line of an include of an unknown fragment, or a circle.
 */
export function assembleWgsl(
  file: string,
  source: string,
  fragments: Readonly<Record<string, string>> = FRAGMENTS,
): AssembledWgsl {
  const out: string[] = [], lines: SourceLine[] = [];
  const done = new Set<string>();
  const add = (name: string, text: string, stack: string[]) => {
    text.split("\n").forEach((l, i) => {
      const m = INCLUDE.exec(l);
      if (!m) {
        out.push(l);
        lines.push({ file: name, line: i + 1 });
        return;
      }
      const inc = m[1], path = `include/${inc}`;
      if (stack.includes(path)) {
        throw new SyntaxError(
          `shaders/${name}:${i + 1}: #include "${inc}" closes a circle (${stack.join(" → ")})`,
        );
      }
      if (done.has(path)) return;
      const body = fragments[inc];
      if (body === undefined) {
        throw new SyntaxError(
          `shaders/${name}:${i + 1}: #include "${inc}" names no fragment (known: ${
            Object.keys(fragments).join(", ")
          })`,
        );
      }
      done.add(path);
      add(path, body.endsWith("\n") ? body.slice(0, -1) : body, [...stack, path]);
    });
  };
  add(file, source, [file]);
  return { code: out.join("\n"), lines };
}

/** Where line `lineNum` (1-based) of an assembled source comes from, as `shaders/<file>:<line>`. */
export function sourceLocation(a: AssembledWgsl, lineNum: number): string {
  const at = a.lines[lineNum - 1];
  return at ? `${SHADER_ROOT}/${at.file}:${at.line}` : `${SHADER_ROOT}/?:${lineNum}`;
}

/** Element type of a storage array a kernel may hold in either precision. */
export type StorageType = "f32" | "f16";

/**
 * A shader whose storage arrays are typed through `alias NAME = f32;` lines, with the aliases asked for
 * set to f16 and `enable f16;` put in front of line 1 (so compile errors keep their line numbers). Kernels
 * written this way read `f32(X[i])` and store `NAME(v)`: arithmetic stays f32 whatever the storage.
 * Returns the source and a variant name for the pipeline cache ("" when everything stays f32).
 * @throws TypeError when f16 is asked of a device without shader-f16; Error when an alias line is missing.
 */
export function withStorageTypes(
  kernel: string,
  source: string,
  types: Readonly<Record<string, StorageType>>,
  hasF16: boolean,
): { source: string; variant: string } {
  let out = source;
  const half: string[] = [];
  for (const [name, dt] of Object.entries(types)) {
    const re = new RegExp(`^alias ${name} = f32;$`, "m");
    if (!re.test(out)) throw new Error(`${kernel}: shader lost its "alias ${name} = f32;" line`);
    if (dt === "f32") continue;
    out = out.replace(re, `alias ${name} = f16;`);
    half.push(name);
  }
  if (half.length === 0) return { source, variant: "" };
  if (!hasF16) {
    throw new TypeError(`${kernel}: f16 storage needs the adapter's shader-f16 feature, which it lacks`);
  }
  return { source: "enable f16; " + out, variant: `${half.join(",")} f16` };
}

/**
 * Strided elementwise ops: copy, fill, scale, axpy, add, mul, div, relu, gelu (erf) and the ReLU / GELU
 * backward products, over a [rows, cols] index space with per-operand row and column strides (so a
 * strided copy, a broadcast bias add or a per-row scale is one call). Kernel: shaders/kernels/elementwise.wgsl.
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { type BufferArena, type GpuTensor, packUniform } from "../gpu/buffers.ts";
import { bindGroup, type Dispatch, getKernel, grid1d } from "../gpu/pipelines.ts";
import { checkDims, checkDtype, checkExtent } from "./common.ts";
import { erf64, gelu64 } from "./activations.ts";
import source from "../../shaders/kernels/elementwise.wgsl" with { type: "text" };

/**
 * An elementwise op, out = f(x, y):
 * copy x · fill β · scale αx+β · axpy out+αx · add αx+βy · mul αxy · div αx/y · relu · gelu ·
 * reluGrad y·[x>0] · geluGrad y·GELU′(x).
 */
export type ElementwiseOp =
  | "copy"
  | "fill"
  | "scale"
  | "axpy"
  | "add"
  | "mul"
  | "div"
  | "relu"
  | "gelu"
  | "reluGrad"
  | "geluGrad";

const OP_CODE: Record<ElementwiseOp, number> = {
  copy: 0,
  fill: 1,
  scale: 2,
  axpy: 2,
  add: 3,
  mul: 4,
  div: 5,
  relu: 6,
  gelu: 7,
  reluGrad: 8,
  geluGrad: 9,
};
const USES_Y = new Set<ElementwiseOp>(["add", "mul", "div", "reluGrad", "geluGrad"]);

/** Where an operand lives: element (r, c) at offset + r·ld + c·inc (defaults: ld = cols, inc = 1). */
export interface OperandLayout {
  ld?: number;
  inc?: number;
  offset?: number;
}

/** One elementwise op over a [rows, cols] index space (a flat vector: rows 1, cols n). */
export interface ElementwiseShape {
  op: ElementwiseOp;
  rows: number;
  cols: number;
  alpha?: number;
  beta?: number;
  /** out += result (implied by "axpy"). */
  accumulate?: boolean;
  x?: OperandLayout;
  y?: OperandLayout;
  out?: OperandLayout;
}

/** Operands. `x` is unused by "fill"; `y` only by add/mul/div/reluGrad/geluGrad. Either may be `out`. */
export interface ElementwiseTensors {
  x?: GpuTensor;
  y?: GpuTensor;
  out: GpuTensor;
}

interface Layout {
  ld: number;
  inc: number;
  offset: number;
}

function layout(l: OperandLayout | undefined, cols: number): Layout {
  return { ld: l?.ld ?? cols, inc: l?.inc ?? 1, offset: l?.offset ?? 0 };
}

function resolve(s: ElementwiseShape) {
  return {
    op: s.op,
    rows: s.rows,
    cols: s.cols,
    alpha: s.alpha ?? 1,
    beta: s.beta ?? (s.op === "add" ? 1 : 0),
    accumulate: s.accumulate ?? s.op === "axpy",
    x: layout(s.x, s.cols),
    y: layout(s.y, s.cols),
    out: layout(s.out, s.cols),
  };
}

/** The op applied to one pair of float64 values (shared by the reference and the tests). */
export function elementwiseOp64(op: ElementwiseOp, x: number, y: number, alpha = 1, beta = 0): number {
  switch (op) {
    case "copy":
      return x;
    case "fill":
      return beta;
    case "scale":
    case "axpy":
      return alpha * x + beta;
    case "add":
      return alpha * x + beta * y;
    case "mul":
      return alpha * x * y;
    case "div":
      return alpha * x / y;
    case "relu":
      return Math.max(x, 0);
    case "gelu":
      return gelu64(x);
    case "reluGrad":
      return x > 0 ? y : 0;
    case "geluGrad":
      return y * (0.5 * (1 + erf64(x / Math.SQRT2)) + x * Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI));
  }
}

// ---------------------------------------------------------------------------------------------------
// CPU reference (float64)

/** CPU reference for {@link prepareElementwise}: a float64 copy of `out` with the op applied. */
export function elementwiseRef(
  shape: ElementwiseShape,
  out: ArrayLike<number>,
  x?: ArrayLike<number>,
  y?: ArrayLike<number>,
): Float64Array {
  const r = resolve(shape);
  const res = Float64Array.from(out);
  for (let i = 0; i < r.rows; i++) {
    for (let c = 0; c < r.cols; c++) {
      const oi = r.out.offset + i * r.out.ld + c * r.out.inc;
      const xv = x ? x[r.x.offset + i * r.x.ld + c * r.x.inc] : 0;
      const yv = y ? y[r.y.offset + i * r.y.ld + c * r.y.inc] : 0;
      const v = elementwiseOp64(r.op, xv, yv, r.alpha, r.beta);
      res[oi] = r.accumulate ? res[oi] + v : v;
    }
  }
  return res;
}

// ---------------------------------------------------------------------------------------------------
// GPU dispatch

function lastIndex(l: Layout, rows: number, cols: number): number {
  return l.offset + (rows - 1) * l.ld + (cols - 1) * l.inc + 1;
}

function sameLayout(a: Layout, b: Layout): boolean {
  return a.ld === b.ld && a.inc === b.inc && a.offset === b.offset;
}

/**
 * Compiles (cached) and binds one elementwise op; returns the dispatch to record every step.
 * @throws TypeError for a missing operand, a tensor too small for its layout, or an in-place operand
 * whose layout differs from `out`'s.
 */
export async function prepareElementwise(
  gpu: Gpu,
  arena: BufferArena,
  shape: ElementwiseShape,
  t: ElementwiseTensors,
): Promise<Dispatch> {
  const r = resolve(shape);
  const k = `elementwise(${r.op})`;
  if (!(r.op in OP_CODE)) throw new TypeError(`elementwise: unknown op "${r.op}"`);
  checkDims(k, { rows: r.rows, cols: r.cols });
  for (const [name, l] of [["x", r.x], ["y", r.y], ["out", r.out]] as const) {
    checkDims(k, { [`${name}.ld`]: l.ld, [`${name}.inc`]: l.inc, [`${name}.offset`]: l.offset }, true);
  }
  const usesX = r.op !== "fill";
  const usesY = USES_Y.has(r.op);
  if (usesX && !t.x) throw new TypeError(`${k}: needs tensor x`);
  if (usesY && !t.y) throw new TypeError(`${k}: needs tensor y`);
  checkDtype(k, "out", t.out, "f32");
  checkExtent(k, "out", t.out, lastIndex(r.out, r.rows, r.cols));
  const xIsO = usesX && t.x === t.out;
  const yIsO = usesY && t.y === t.out;
  if (xIsO && !sameLayout(r.x, r.out)) throw new TypeError(`${k}: x === out needs x's layout to equal out's`);
  if (yIsO && !sameLayout(r.y, r.out)) throw new TypeError(`${k}: y === out needs y's layout to equal out's`);
  if (usesX && !xIsO) {
    checkDtype(k, "x", t.x!, "f32");
    checkExtent(k, "x", t.x!, lastIndex(r.x, r.rows, r.cols));
  }
  if (usesY && !yIsO) {
    checkDtype(k, "y", t.y!, "f32");
    checkExtent(k, "y", t.y!, lastIndex(r.y, r.rows, r.cols));
  }
  const n = r.rows * r.cols;
  if (n >= 2 ** 32) throw new RangeError(`${k}: ${r.rows}×${r.cols} elements exceed u32 indexing`);
  const kernel = await getKernel(gpu, {
    file: "kernels/elementwise.wgsl",
    source,
    bindings: ["read", "read", "rw", "uniform"],
    constants: {
      OP: OP_CODE[r.op],
      ACCUMULATE: r.accumulate ? 1 : 0,
      X_IS_O: xIsO ? 1 : 0,
      Y_IS_O: yIsO ? 1 : 0,
    },
  });
  const uniform = arena.uniform(
    packUniform([
      [r.rows, "u32"],
      [r.cols, "u32"],
      [r.x.ld, "u32"],
      [r.x.inc, "u32"],
      [r.y.ld, "u32"],
      [r.y.inc, "u32"],
      [r.out.ld, "u32"],
      [r.out.inc, "u32"],
      [r.x.offset, "u32"],
      [r.y.offset, "u32"],
      [r.out.offset, "u32"],
      [r.alpha, "f32"],
      [r.beta, "f32"],
    ]),
    "elementwise-params",
  );
  const dummy = arena.dummy();
  const bg = bindGroup(gpu, kernel, [
    usesX && !xIsO ? t.x! : dummy,
    usesY && !yIsO ? t.y! : dummy,
    t.out,
    uniform,
  ]);
  return {
    kernel,
    bindGroup: bg,
    workgroups: grid1d(Math.ceil(n / 256), gpu.limits.maxComputeWorkgroupsPerDimension),
  };
}

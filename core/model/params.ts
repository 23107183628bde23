/**
 * Flat parameter layouts (hp-method.md §2.2–§2.4). Every trained module keeps all its parameters in ONE
 * f32 buffer, so the optimiser and the EMA update are one kernel each and the gradient norm one reduction;
 * GEMMs address the weights by offset. Each segment starts at a multiple of 64 elements (256 bytes, the
 * storage-binding offset alignment), and the padding stays zero in parameters, gradients and moments.
 *
 * Segment names follow the official HP checkpoint keys (`cluster1.0.weight` …), stored 2-D.
 * @module
 */
import type { Rng } from "../rng.ts";

/** Alignment of every segment, in elements (256 bytes). */
export const SEGMENT_ALIGN = 64;

/** One named tensor inside a flat buffer. */
export interface Segment {
  name: string;
  shape: number[];
  /** Offset in elements. */
  offset: number;
  size: number;
  /** fan_in for PyTorch's default init bound 1/√fan_in. */
  fanIn: number;
}

/** A list of segments packed into one flat buffer of `total` elements. */
export class ParamLayout {
  readonly segments: readonly Segment[];
  readonly total: number;
  readonly #byName = new Map<string, Segment>();

  constructor(specs: ReadonlyArray<{ name: string; shape: number[]; fanIn: number }>) {
    let off = 0;
    const segs: Segment[] = [];
    for (const s of specs) {
      const size = s.shape.reduce((a, b) => a * b, 1);
      const seg = { name: s.name, shape: [...s.shape], offset: off, size, fanIn: s.fanIn };
      segs.push(seg);
      this.#byName.set(s.name, seg);
      off += Math.ceil(size / SEGMENT_ALIGN) * SEGMENT_ALIGN;
    }
    this.segments = segs;
    this.total = Math.max(off, SEGMENT_ALIGN);
  }

  /** The segment called `name`. @throws RangeError when absent. */
  get(name: string): Segment {
    const s = this.#byName.get(name);
    if (!s) throw new RangeError(`no parameter "${name}" in layout (${[...this.#byName.keys()].join(", ")})`);
    return s;
  }

  /** Number of real parameters (without padding). */
  get count(): number {
    return this.segments.reduce((a, s) => a + s.size, 0);
  }

  /**
   * PyTorch's default init for Conv2d/Linear weights and biases: U(−1/√fan_in, 1/√fan_in), drawn from `rng`
   * segment by segment in layout order (kaiming_uniform with a = √5 gives the same bound for weights).
   */
  init(rng: Rng): Float32Array {
    const out = new Float32Array(this.total);
    for (const s of this.segments) {
      const bound = 1 / Math.sqrt(s.fanIn);
      for (let i = 0; i < s.size; i++) out[s.offset + i] = rng.uniform(-bound, bound);
    }
    return out;
  }

  /** A copy of segment `name` of `flat`. */
  slice(flat: Float32Array, name: string): Float32Array {
    const s = this.get(name);
    return flat.slice(s.offset, s.offset + s.size);
  }

  /** Splits `flat` into named tensors (with an optional key prefix). */
  toTensors(flat: Float32Array, prefix = ""): Record<string, { shape: number[]; data: Float32Array }> {
    if (flat.length !== this.total) {
      throw new TypeError(`flat buffer has ${flat.length} values, layout needs ${this.total}`);
    }
    const out: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const s of this.segments) {
      out[prefix + s.name] = { shape: [...s.shape], data: this.slice(flat, s.name) };
    }
    return out;
  }

  /**
   * Packs named tensors into a flat buffer; `get(name)` returns the values (or undefined when missing),
   * whose length must equal the segment size. Throws a TypeError naming the key otherwise.
   */
  fromTensors(get: (name: string, seg: Segment) => ArrayLike<number> | undefined): Float32Array {
    const out = new Float32Array(this.total);
    for (const s of this.segments) {
      const v = get(s.name, s);
      if (!v) throw new TypeError(`missing parameter "${s.name}" [${s.shape.join(", ")}]`);
      if (v.length !== s.size) {
        throw new TypeError(`parameter "${s.name}" has ${v.length} values, expected [${s.shape.join(", ")}]`);
      }
      out.set(v, s.offset);
    }
    return out;
  }
}

/** Official names of the segmentation head's parameters (θ; ξ uses the same layout). */
export const HEAD_KEYS = {
  w1: "cluster1.0.weight",
  b1: "cluster1.0.bias",
  w2: "cluster2.0.weight",
  b2: "cluster2.0.bias",
  w3: "cluster2.2.weight",
  b3: "cluster2.2.bias",
} as const;

/**
 * Layout of the segmentation head θ (and ξ): W1 [D, D_f], b1 [D] (linear branch), W2 [D_f, D_f], b2 [D_f],
 * W3 [D, D_f], b3 [D] (ReLU MLP branch). Weights are row-major [out, in] like PyTorch's.
 */
export function headLayout(Df: number, D: number): ParamLayout {
  return new ParamLayout([
    { name: HEAD_KEYS.w1, shape: [D, Df], fanIn: Df },
    { name: HEAD_KEYS.b1, shape: [D], fanIn: Df },
    { name: HEAD_KEYS.w2, shape: [Df, Df], fanIn: Df },
    { name: HEAD_KEYS.b2, shape: [Df], fanIn: Df },
    { name: HEAD_KEYS.w3, shape: [D, Df], fanIn: Df },
    { name: HEAD_KEYS.b3, shape: [D], fanIn: Df },
  ]);
}

/** Names of the projection head's parameters. */
export const PROJECTION_KEYS = { w: "projection.weight", b: "projection.bias" } as const;

/** Layout of the projection head: W [D, D], b [D] (nn.Linear(D, D)). */
export function projectionLayout(D: number): ParamLayout {
  return new ParamLayout([
    { name: PROJECTION_KEYS.w, shape: [D, D], fanIn: D },
    { name: PROJECTION_KEYS.b, shape: [D], fanIn: D },
  ]);
}

/**
 * The shapes of {@link HpGraph} (core/train/graph.ts): its fixed sizes and the prepared pieces its step
 * records, kept apart so graph.ts stays one readable step.
 * @module
 */
import type { Dispatch } from "../gpu/pipelines.ts";
import type { StepRecorder } from "../gpu/step_recorder.ts";
import type { HeadBackward } from "../model/heads.ts";
import type { ProjectionForward } from "../model/projection.ts";
import type { Dropout2d } from "../kernels/dropout.ts";
import type { ConsistencyReg } from "../model/reg.ts";
import type { LhpCount, LhpMix } from "../model/lhp.ts";

/** Fixed sizes of a training graph. */
export interface GraphDims {
  /** Images per batch B. */
  B: number;
  /** Training input side (pixels). */
  res: number;
  /** Patch grid side S = res / patch. */
  S: number;
  P: number;
  N: number;
  Df: number;
  D: number;
  K: number;
  /** Classes (= clusters of the cluster probe). */
  n: number;
}

export interface Drops {
  fhat: Dropout2d;
  mixed: Dropout2d;
  mixedBack: Dropout2d;
}

export interface Sequence {
  pre: Dispatch[];
  projections: ProjectionForward[];
  reg: ConsistencyReg | null;
  projBack: Array<{ record(rec: StepRecorder): void }>;
  mix: LhpMix;
  lhpCount: LhpCount;
  headBack: HeadBackward[];
  emaUpdate: Dispatch;
  normSbar: Dispatch;
}

/**
 * Consistency regulariser (hp-method.md §5.6): L_reg = (1/N) Σ_i ‖z_i − z_i^aug + 1e-6‖₂ with gradients
 * into both z and z^aug (no stop-gradient). Kernel: shaders/model/reg.wgsl (per-row norms and gradients),
 * then the library row reduction (core/kernels/reduce.ts) for the mean. CPU reference:
 * core/model/loss_ref.ts consistencyRegRef. Cost ≈ 5·N·D FLOPs, two dispatches.
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { type BufferArena, type GpuTensor, packUniform } from "../gpu/buffers.ts";
import { bindGroup, type Dispatch, getKernel, grid1d } from "../gpu/pipelines.ts";
import type { StepRecorder } from "../gpu/step_recorder.ts";
import { checkExtent } from "../kernels/common.ts";
import { prepareRowReduce } from "../kernels/reduce.ts";
import { REG_EPS } from "./loss_ref.ts";
import source from "../../shaders/model/reg.wgsl" with { type: "text" };

/** Tensors of {@link ConsistencyReg}: inputs z, z^aug [N, D]; optional gradient outputs [N, D]. */
export interface ConsistencyRegTensors {
  z: GpuTensor;
  za: GpuTensor;
  /** dL/dz output; allocated when absent (pass HpLoss.dz with accumulate to add into it). */
  dz?: GpuTensor;
  /** dL/dz^aug output; allocated when absent. */
  dza?: GpuTensor;
}

/** L_reg and α·dL_reg/dz, α·dL_reg/dz^aug. */
export class ConsistencyReg {
  private constructor(
    readonly dz: GpuTensor,
    readonly dza: GpuTensor,
    /** f32[4]: 0 = L_reg (unscaled by α). */
    readonly loss: GpuTensor,
    readonly norms: GpuTensor,
    readonly dispatches: Dispatch[],
    readonly owned: GpuTensor[],
  ) {}

  /**
   * @param opts.scale multiplies the gradients (α; default 1). The loss value stays unscaled.
   * @param opts.accumulate add the gradients into the dz/dza passed in `t` instead of overwriting them.
   * Gradient tensors this call allocates are always overwritten, so they never carry over between steps.
   */
  static async create(
    gpu: Gpu,
    arena: BufferArena,
    dims: { N: number; D: number },
    t: ConsistencyRegTensors,
    opts: { scale?: number; accumulate?: boolean } = {},
  ): Promise<ConsistencyReg> {
    const { N, D } = dims;
    for (const [name, x] of [["z", t.z], ["za", t.za], ["dz", t.dz], ["dza", t.dza]] as const) {
      if (x) checkExtent("ConsistencyReg", name, x, N * D);
    }
    const owned: GpuTensor[] = [];
    const alloc = (label: string, shape: number[]) => {
      const x = arena.tensor(shape, "f32", label);
      owned.push(x);
      return x;
    };
    const dz = t.dz ?? alloc("reg.dz", [N, D]);
    const dza = t.dza ?? alloc("reg.dza", [N, D]);
    const loss = alloc("reg.loss", [4]);
    const norms = alloc("reg.norms", [N]);
    const rows = await getKernel(gpu, {
      file: "model/reg.wgsl",
      source,
      entryPoint: "rows",
      bindings: ["read", "read", "rw", "rw", "rw", "uniform"],
      constants: {
        ACCUMULATE_DZ: opts.accumulate && t.dz ? 1 : 0,
        ACCUMULATE_DZA: opts.accumulate && t.dza ? 1 : 0,
      },
    });
    const u = arena.uniform(
      packUniform([[N, "u32"], [D, "u32"], [opts.scale ?? 1, "f32"], [REG_EPS, "f32"]]),
      "reg.params",
    );
    const dispatches: Dispatch[] = [
      {
        kernel: rows,
        bindGroup: bindGroup(gpu, rows, [t.z, t.za, dz, dza, norms, u]),
        workgroups: grid1d(N, gpu.limits.maxComputeWorkgroupsPerDimension),
      },
      // loss[0] = (1/N) Σ_i norms[i], fixed order.
      await prepareRowReduce(gpu, arena, "sum", { rows: 1, cols: N, alpha: 1 / N }, { x: norms, y: loss }),
    ];
    return new ConsistencyReg(dz, dza, loss, norms, dispatches, owned);
  }

  /** Records the per-row pass (norms, gradients) and the loss reduction. */
  record(rec: StepRecorder): void {
    rec.dispatch(...this.dispatches);
  }

  destroy(): void {
    for (const x of this.owned) x.destroy();
  }
}

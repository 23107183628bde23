/**
 * A training run's state between the graph's GPU buffers and a checkpoint (core/model/checkpoint.ts): θ, ξ,
 * the projection head, both pools, the probes, every optimiser's moments, the loader position and the RNG
 * states — everything `--resume` needs to continue bit for bit.
 * @module
 */
import { readF32 } from "../gpu/readback.ts";
import type { Rng } from "../rng.ts";
import { InputError } from "../errors.ts";
import type { HpConfig } from "../model/config_schema.ts";
import type { TrainState } from "../model/checkpoint.ts";
import type { HpGraph } from "./graph.ts";

/** Reads the graph's state back (outside any step) for a checkpoint at `step`. */
export async function captureState(
  graph: HpGraph,
  cfg: HpConfig,
  step: number,
  epoch: number,
  bi: number,
  main: Rng,
  pools: Rng,
  best: number,
  totalSteps: number,
): Promise<TrainState> {
  const g = graph.gpu, { Df, D, K, n } = graph.dims;
  const modules = await graph.modules.readState();
  return {
    config: cfg,
    step,
    epoch,
    batchInEpoch: bi,
    rng: { main: main.state, pools: pools.state },
    dims: { Df, D, K },
    head: modules.head,
    ema: modules.ema,
    projection: modules.projection,
    pools: await graph.pools.readState(),
    probes: {
      "cluster.clusters": { shape: [n, D], data: await readF32(g, graph.cluster.params) },
      "linear.params": { shape: [n * D + n], data: await readF32(g, graph.linear.params) },
    },
    optim: {
      ...modules.optim,
      linear: await graph.optim.linear.readState(),
      cluster: await graph.optim.cluster.readState(),
    },
    extra: { best: Number.isFinite(best) ? best : null, totalSteps },
  };
}

/** Writes a checkpoint's tensors into the graph's buffers. */
export function restoreState(graph: HpGraph, s: TrainState): void {
  const { Df, D, K } = graph.dims;
  if (s.dims.Df !== Df || s.dims.D !== D || s.dims.K !== K) {
    throw new InputError(
      `checkpoint dims (D_f ${s.dims.Df}, D ${s.dims.D}, K ${s.dims.K}) do not match the run (${Df}, ${D}, ${K})`,
    );
  }
  const c = s.probes["cluster.clusters"], l = s.probes["linear.params"];
  if (!c || !l) throw new InputError("checkpoint lacks the probe tensors cluster.clusters / linear.params");
  for (const k of ["head", "projection", "linear", "cluster"] as const) {
    if (!s.optim[k]) throw new InputError(`checkpoint lacks the optimiser state "${k}"`);
  }
  graph.modules.loadState({
    head: s.head,
    ema: s.ema,
    projection: s.projection,
    optim: { head: s.optim.head, projection: s.optim.projection },
  });
  graph.pools.loadState(s.pools);
  graph.cluster.params.write(c.data);
  graph.linear.params.write(l.data);
  graph.optim.linear.loadState(s.optim.linear);
  graph.optim.cluster.loadState(s.optim.cluster);
}

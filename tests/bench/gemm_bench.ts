/** Placeholder until the kernels work lands: reports that the suite is not built. */
import type { BenchOptions } from "../../core/cli/bench.ts";

export function bench(_opts: BenchOptions): Promise<Record<string, unknown>> {
  return Promise.resolve({ suite: "gemm", status: "not built yet" });
}

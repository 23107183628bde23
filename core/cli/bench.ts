/** `hpseg bench`: Benchmarks (gemm, vit, data, train) with JSON output. @module */
import { notBuiltYet } from "./command.ts";

export const command = notBuiltYet(
  "bench",
  "Benchmarks (gemm, vit, data, train) with JSON output",
  `Usage: hpseg bench [options]

Benchmarks (gemm, vit, data, train) with JSON output.

Options:
  -h, --help   Show this help`,
);

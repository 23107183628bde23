/**
 * `hpseg bench <name> [--json]`: runs one benchmark suite from core/bench/<name>_bench.ts.
 *
 * Each suite exports `bench(opts)` returning a JSON-serialisable record; with `--json` the record is the
 * last line of stdout. Suites time against a reference in the same invocation where one exists. Every
 * record gets the same provenance fields here, in one place (BENCHMARKS.md: adapter, command, date):
 * `suite`, `date` (ISO 8601), `command` (the invocation that reproduces it), `deno` and `loadavg` (the
 * 1-minute load when the suite finished; shared machines make timings depend on it).
 * @module
 */
import { type Command, parseCommandArgs } from "./command.ts";
import type { BenchOptions, BenchSuite } from "../bench/suite.ts";
import { UsageError } from "../errors.ts";

// Static imports would load every suite's GPU code for `--help`; lazy thunks keep `deno compile` able to
// see the modules (string literals) while loading only the one asked for.
const suites: Record<string, { summary: string; load: () => Promise<BenchSuite> }> = {};

/** Registers a suite (called from this file's list below). */
function suite(name: string, summary: string, load: () => Promise<BenchSuite>) {
  suites[name] = { summary, load };
}

// ---- suites (one line each) ----
suite(
  "gemm",
  "GEMM GFLOP/s: 4096³, ViT-S/8 shapes, dispatch overhead",
  () => import("../bench/gemm_bench.ts"),
);
suite(
  "hploss",
  "HP loss fwd+bwd time per pass (N = 50,176 on a GPU)",
  () => import("../bench/hploss_bench.ts"),
);
suite(
  "vit",
  "ViT-S/16, S/8, B/8 forward img/s at 224 (+ torch fp32 ref)",
  () => import("../bench/vit_bench.ts"),
);

suite(
  "data",
  "Loader images/s: 224 crops + augmentation, 0/1/N workers",
  () => import("../bench/data_bench.ts"),
);

suite(
  "crf",
  "Dense CRF on a 320×320 photo, 27 classes, one core (ms)",
  () => import("../bench/crf_bench.ts"),
);
suite(
  "kmeans",
  "k-means baseline at COCO val size: fit (CPU) + scoring (GPU), seconds",
  () => import("../bench/kmeans_bench.ts"),
);
suite(
  "train",
  "HP training step time + GPU memory (synthetic; COCO S/8 b64 on a GPU)",
  () => import("../bench/train_bench.ts"),
);

function help(): string {
  const lines = Object.entries(suites).map(([n, s]) => `  ${n.padEnd(8)} ${s.summary}`);
  return `Usage: hpseg bench <suite> [--json] [--quick]

Benchmarks. Results print as a table, or as one JSON line with --json.

Suites:
${lines.join("\n")}

Options:
  --json     Print the result as JSON (last line of stdout)
  --quick    Small sizes (smoke test)
  -h, --help Show this help`;
}

/**
 * The record a suite returned, with the provenance fields every suite shares first (`suite`, `date`,
 * `command`, `deno`, `loadavg`); a suite's own fields of the same names are replaced so they cannot
 * disagree with the invocation.
 */
export function withProvenance(
  name: string,
  result: Record<string, unknown>,
  opts: BenchOptions,
): Record<string, unknown> {
  const flags = [opts.json ? "--json" : "", opts.quick ? "--quick" : "", ...opts.rest].filter((x) => x);
  const provenance = {
    suite: name,
    date: new Date().toISOString(),
    command: ["deno task bench", name, ...flags].join(" "),
    deno: Deno.version.deno,
    loadavg: Math.round(Deno.loadavg()[0] * 100) / 100,
  };
  // Assigning twice keeps these keys first in the JSON while the invocation's values win.
  return Object.assign({ ...provenance }, result, provenance);
}

export const command: Command = {
  name: "bench",
  summary: `Benchmarks (${Object.keys(suites).join(", ")}) with JSON output`,
  get help() {
    return help();
  },
  async run(argv) {
    const args = parseCommandArgs(
      "bench",
      argv,
      { json: { type: "boolean" }, quick: { type: "boolean" } },
      true,
    );
    if (args.help) {
      console.log(help());
      return 0;
    }
    const [name, ...rest] = args.positionals;
    if (!name) throw new UsageError(`bench: name a suite (${Object.keys(suites).join(", ")})`);
    const s = suites[name];
    if (!s) throw new UsageError(`bench: unknown suite "${name}" (known: ${Object.keys(suites).join(", ")})`);
    const mod = await s.load();
    const json = args.values.json === true, quick = args.values.quick === true;
    const result = await mod.bench({ json, quick, rest });
    if (json) console.log(JSON.stringify(withProvenance(name, result, { json, quick, rest })));
    return 0;
  },
};

/**
 * The shape of a `deno task bench` suite (core/cli/bench.ts runs them): each `core/bench/<name>_bench.ts`
 * exports `bench(opts)` returning a JSON-serialisable record.
 * @module
 */

/** Options every bench suite receives. */
export interface BenchOptions {
  json: boolean;
  /** Smaller sizes (used by the tests that check the bench runs). */
  quick: boolean;
  /** Extra positional arguments after the suite name. */
  rest: string[];
}

/** A bench suite module. */
export interface BenchSuite {
  bench(opts: BenchOptions): Promise<Record<string, unknown>>;
}

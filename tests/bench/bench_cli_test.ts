/**
 * The bench command itself (core/cli/bench.ts): every registered suite is listed in `--help` and in the
 * command summary that `hpseg --help` shows, and every suite's JSON record carries the same provenance
 * fields (suite, date, command, deno, loadavg) added in one place. No GPU needed.
 * @module
 */
import assert from "node:assert/strict";
import { command, withProvenance } from "../../core/cli/bench.ts";
import { UsageError } from "../../core/errors.ts";

const SUITES = ["gemm", "hploss", "vit", "data", "crf", "train"];

Deno.test("bench --help and the command summary list every suite", () => {
  for (const s of SUITES) {
    assert(new RegExp(`^  ${s} +\\S`, "m").test(command.help), `--help lacks suite ${s}:\n${command.help}`);
    assert(command.summary.includes(s), `summary "${command.summary}" lacks ${s}`);
  }
});

Deno.test("withProvenance: date, command, deno and loadavg first; the invocation wins over a suite's own", () => {
  const before = Date.now();
  const r = withProvenance("vit", { suite: "x", date: "stale", results: [1], command: "old" }, {
    json: true,
    quick: true,
    rest: ["S/8"],
  });
  assert.deepEqual(Object.keys(r), ["suite", "date", "command", "deno", "loadavg", "results"]);
  assert.equal(r.suite, "vit");
  assert.equal(r.command, "deno task bench vit --json --quick S/8");
  const t = Date.parse(r.date as string);
  assert(t >= before - 1000 && t <= Date.now() + 1000, `date ${r.date}`);
  assert.equal(r.deno, Deno.version.deno);
  assert(typeof r.loadavg === "number" && r.loadavg >= 0);
  assert.deepEqual(r.results, [1]);
  assert.equal(
    withProvenance("data", {}, { json: false, quick: false, rest: [] }).command,
    "deno task bench data",
  );
});

Deno.test("bench vit: an unknown model name is a usage error before any GPU work", async () => {
  const { bench } = await import("../../core/bench/vit_bench.ts");
  await assert.rejects(
    bench({ json: true, quick: false, rest: ["S/9"] }),
    (e: unknown) => e instanceof UsageError && /unknown model "S\/9".*S\/16, S\/8, B\/8/.test(e.message),
  );
});

Deno.test("bench vit: a bad rounds= or a baseline= that is no hpseg checkout is a usage error before any GPU work", async () => {
  const { bench } = await import("../../core/bench/vit_bench.ts");
  await assert.rejects(
    bench({ json: true, quick: false, rest: ["S/16", "rounds=0"] }),
    (e: unknown) => e instanceof UsageError && /rounds must be a positive integer, got "0"/.test(e.message),
  );
  const empty = await Deno.makeTempDir();
  try {
    await assert.rejects(
      bench({ json: true, quick: false, rest: [`baseline=${empty}`] }),
      (e: unknown) => e instanceof UsageError && /has no core\/vit\/vit\.ts/.test(e.message),
    );
  } finally {
    await Deno.remove(empty);
  }
});

/** Tests for core/eval/hungarian.ts: brute force over all permutations and scipy fixtures. @module */
import { deepEqual as assertEquals, ok } from "node:assert/strict";
import { assignmentTotal, hungarian } from "../../core/eval/hungarian.ts";
import { rng } from "../_util.ts";

function* permutations(n: number): Generator<number[]> {
  const a = Array.from({ length: n }, (_, i) => i);
  const c = new Array(n).fill(0);
  yield a.slice();
  let i = 0;
  while (i < n) {
    if (c[i] < i) {
      const j = i % 2 === 0 ? 0 : c[i];
      [a[j], a[i]] = [a[i], a[j]];
      yield a.slice();
      c[i]++;
      i = 0;
    } else {
      c[i] = 0;
      i++;
    }
  }
}

function bruteBest(m: number[], n: number, maximize: boolean): number {
  let best = maximize ? -Infinity : Infinity;
  for (const p of permutations(n)) {
    let s = 0;
    for (let r = 0; r < n; r++) s += m[r * n + p[r]];
    best = maximize ? Math.max(best, s) : Math.min(best, s);
  }
  return best;
}

function isPermutation(a: Int32Array, n: number): boolean {
  return new Set(a).size === n && [...a].every((v) => v >= 0 && v < n);
}

Deno.test("hungarian() returns the identity on a diagonal-dominant matrix", () => {
  const m = [9, 1, 0, 2, 8, 1, 0, 3, 7];
  assertEquals([...hungarian(m, 3, 3, true)], [0, 1, 2]);
});

Deno.test("hungarian() equals brute force over all permutations for n ≤ 7", () => {
  const r = rng(7);
  for (let n = 1; n <= 7; n++) {
    for (let trial = 0; trial < (n <= 5 ? 30 : 6); trial++) {
      // integer entries with many ties, and real-valued ones
      const m = Array.from({ length: n * n }, () => trial % 2 ? Math.floor(r() * 4) : r() * 100 - 50);
      for (const maximize of [true, false]) {
        const a = hungarian(m, n, n, maximize);
        ok(isPermutation(a, n), `not a permutation: ${[...a]}`);
        const got = assignmentTotal(m, n, a), want = bruteBest(m, n, maximize);
        ok(Math.abs(got - want) < 1e-9, `n=${n} trial=${trial} max=${maximize}: ${got} vs brute ${want}`);
      }
    }
  }
});

Deno.test("hungarian() matches scipy linear_sum_assignment(maximize=True) totals", async () => {
  const fx = JSON.parse(await Deno.readTextFile(new URL("../fixtures/eval/hungarian.json", import.meta.url)));
  assertEquals(fx.version, 1, "stale fixture: re-run tests/fixtures/eval/gen_eval_fixtures.py");
  for (const c of fx.cases) {
    const a = hungarian(c.cost, c.rows, c.cols, true);
    const matched = [...a].filter((v) => v >= 0);
    assertEquals(matched.length, Math.min(c.rows, c.cols));
    assertEquals(new Set(matched).size, matched.length);
    const got = assignmentTotal(c.cost, c.cols, a);
    ok(
      Math.abs(got - c.total) <= 1e-9 * Math.max(1, Math.abs(c.total)),
      `${c.rows}×${c.cols}: ${got} vs ${c.total}`,
    );
  }
});

Deno.test("hungarian() rejects non-finite entries and bad sizes", () => {
  let threw = false;
  try {
    hungarian([1, NaN, 2, 3], 2, 2);
  } catch (e) {
    threw = e instanceof RangeError;
  }
  ok(threw);
  threw = false;
  try {
    hungarian([1, 2, 3], 2, 2);
  } catch (e) {
    threw = e instanceof TypeError;
  }
  ok(threw);
});

/** Tests for core/eval/metrics.ts against hand-worked confusion matrices (hp-method.md §8.4). @module */
import { deepEqual as assertEquals, ok } from "node:assert/strict";
import { Confusion, scoreConfusion } from "../../core/eval/metrics.ts";

const close = (a: number, b: number) => Math.abs(a - b) < 1e-9;

Deno.test("Confusion.add() counts H[pred, gt] and skips ignore labels and out-of-range predictions", () => {
  const c = new Confusion(3);
  //            valid  valid  gt=-1  gt=3   pred=3 pred=-1 valid
  c.add([0, 2, 1, 1, 3, -1, 2], [0, 1, -1, 3, 2, 2, 2]);
  assertEquals([...c.counts], [1, 0, 0, 0, 0, 0, 0, 1, 1]);
  assertEquals(c.invalidPred, 2);
  assertEquals(c.total, 3);
});

Deno.test("scoreConfusion() linear mode: hand-worked 3-class matrix", () => {
  // H[pred, gt]
  const h = [
    5,
    1,
    0,
    2,
    3,
    0,
    0,
    0,
    4,
  ];
  const s = scoreConfusion(h, 3, "linear");
  // class 0: TP 5, row 6, col 7 → 5/8; class 1: TP 3, row 5, col 4 → 3/6; class 2: 4/4
  ok(close(s.iou[0], 62.5) && close(s.iou[1], 50) && close(s.iou[2], 100), `${s.iou}`);
  ok(close(s.miou, (62.5 + 50 + 100) / 3));
  ok(close(s.acc, 100 * 12 / 15));
});

Deno.test("scoreConfusion() cluster mode matches globally and reorders rows", () => {
  // Clusters are a permutation of classes: cluster 0 ↔ class 2, 1 ↔ 0, 2 ↔ 1.
  const h = [
    0,
    1,
    9,
    8,
    0,
    1,
    1,
    7,
    0,
  ];
  const s = scoreConfusion(h, 3, "cluster");
  assertEquals(s.classToPred, [1, 2, 0]);
  // class 0 (cluster 1): TP 8, row 9, col 9 → 8/10; class 1 (cluster 2): TP 7, row 8, col 8 → 7/9;
  // class 2 (cluster 0): TP 9, row 10, col 10 → 9/11
  ok(close(s.iou[0], 80) && close(s.iou[1], 700 / 9) && close(s.iou[2], 900 / 11), `${s.iou}`);
  ok(close(s.acc, 100 * 24 / 27));
});

Deno.test("scoreConfusion() skips classes absent from GT and prediction, counts missed classes as 0", () => {
  const h = [
    4,
    0,
    2,
    0,
    0,
    0,
    0,
    0, // nothing predicted as 1 …
    1,
    0,
    3,
    0,
    0,
    0,
    0,
    0, // … or 3
  ];
  // GT column 1 empty and pred row 1 empty → NaN (skipped); class 3: GT empty, pred empty → NaN
  const s = scoreConfusion(h, 4, "linear");
  ok(Number.isNaN(s.iou[1]) && Number.isNaN(s.iou[3]));
  ok(close(s.iou[0], 400 / 7) && close(s.iou[2], 50)); // 4/(6+5−4), 3/(4+5−3)
  ok(close(s.miou, (400 / 7 + 50) / 2));
  // A class present in GT but never predicted counts as 0.
  const h2 = [3, 2, 0, 0];
  const s2 = scoreConfusion(h2, 2, "linear");
  ok(close(s2.iou[1], 0) && close(s2.iou[0], 60) && close(s2.miou, 30));
});

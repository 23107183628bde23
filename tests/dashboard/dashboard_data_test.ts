/**
 * The dashboard's data layer (issue 14 §2, §3, §8) against independent references: per-series downsampling
 * (dashboard/downsample.ts) against a brute-force statement of its rule; incremental log reading
 * (dashboard/log_tail.ts) against reading the whole file; summaries folded from appended lines only
 * (dashboard/run_summary.ts) against folding every parsed message; the runs index (saved summaries reused,
 * true statuses, names and notes); the run store's series and resume compaction; and the page's pure
 * modules (smoothing, configuration diff, series keys) that the browser runs.
 * @module
 */
import assert from "node:assert/strict";
import { minMaxIndices, windowSeries } from "../../dashboard/downsample.ts";
import { LogTail } from "../../dashboard/log_tail.ts";
import {
  emptySummary,
  foldBytes,
  foldLines,
  foldMessage,
  SUMMARY_FILE,
} from "../../dashboard/run_summary.ts";
import { META_FILE, RunsIndex } from "../../dashboard/runs_index.ts";
import { metricsValues, RunStore } from "../../dashboard/run_store.ts";
import {
  type MetricsMessage,
  parseRunLog,
  RUN_LOG_FILE,
  RunLog,
  type TelemetryMessage,
} from "../../core/telemetry.ts";
import { acquireRunLock } from "../../core/train/run_lock.ts";
// The page's own modules (plain ES modules without DOM access at load).
import { emaSmooth } from "../../dashboard/static/smooth.js";
import { finalScoresText } from "../../dashboard/static/format.js";
import { configDiff, describeValue, flattenConfig } from "../../dashboard/static/config_view.js";
import {
  metricsValues as pageMetricsValues,
  PANELS,
  panelSeries,
} from "../../dashboard/static/chart_specs.js";

function metrics(step: number, total = 100, extra: Partial<MetricsMessage> = {}): MetricsMessage {
  return {
    type: "metrics",
    step,
    epoch: 0,
    totalSteps: total,
    losses: { ghp: 10 - step / 100, lhp: 9, reg: 0.1, lin: 2, clu: 1, total: 22 },
    lambda: step / total,
    lr: 1e-3,
    positives: { ag: 10, sp: 5, lhp: 3 },
    thresholds: { ag: { p10: 0.1, p50: 0.5, p90: 0.9 }, sp: { p10: 0.2, p50: 0.6, p90: 0.8 } },
    imagesPerSec: 12,
    stepMs: 80,
    time: 1_000_000 + step * 1000,
    ...extra,
  };
}

Deno.test("minMaxIndices keeps each bucket's extremes, first and last, at most max points", () => {
  let seed = 5;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (const [n, max] of [[10, 100], [1000, 100], [1001, 37], [50_000, 500], [7, 3]]) {
    const y = Array.from({ length: n }, (_, i) => Math.sin(i / 17) + rand() * 0.1);
    y[Math.floor(n / 3)] = 50; // a spike must survive
    y[Math.floor(n / 2)] = NaN; // never chosen
    const keep = minMaxIndices(y, max);
    const finite = y.map((v, i) => (Number.isFinite(v) ? i : -1)).filter((i) => i >= 0);
    if (finite.length <= Math.max(2, max)) {
      assert.deepEqual(keep, finite, `n ${n}: all finite points kept`);
      continue;
    }
    assert.ok(keep.length <= max, `n ${n}: ${keep.length} ≤ ${max}`);
    assert.deepEqual(keep, [...keep].sort((a, b) => a - b), "ascending");
    assert.equal(new Set(keep).size, keep.length, "no duplicates");
    assert.equal(keep[0], finite[0]);
    assert.equal(keep.at(-1), finite.at(-1));
    if (max < 4) {
      assert.deepEqual(keep, [finite[0], finite.at(-1)], "no room for buckets: first and last");
      continue;
    }
    assert.ok(keep.includes(Math.floor(n / 3)), "the spike survives");
    // Reference: the same buckets computed by brute force over the finite points between first and last.
    const buckets = Math.floor((max - 2) / 2), inner = finite.length - 2;
    for (let b = 0; b < buckets; b++) {
      const lo = 1 + Math.floor((b * inner) / buckets), hi = 1 + Math.floor(((b + 1) * inner) / buckets);
      const idx = finite.slice(lo, hi);
      if (idx.length === 0) continue;
      const vals = idx.map((i) => y[i]);
      const min = Math.min(...vals), max2 = Math.max(...vals);
      assert.ok(keep.some((i) => idx.includes(i) && y[i] === min), `bucket ${b}: its minimum is kept`);
      assert.ok(keep.some((i) => idx.includes(i) && y[i] === max2), `bucket ${b}: its maximum is kept`);
    }
  }
  assert.deepEqual(minMaxIndices([1, 2, 3], 0), [0, 1, 2], "max 0: everything");
});

Deno.test("windowSeries: the zoomed range at full resolution, one point beyond each edge", () => {
  const step = Array.from({ length: 100 }, (_, i) => i + 1);
  const s = { step, time: step.map((x) => x * 10), y: step.map((x) => x * x) };
  const w = windowSeries(s, 2000, 20, 30);
  assert.deepEqual(w.step, Array.from({ length: 13 }, (_, i) => 19 + i), "19 … 31");
  assert.deepEqual(w.y, w.step.map((x) => x * x));
  assert.deepEqual(w.time, w.step.map((x) => x * 10));
  assert.equal(windowSeries(s, 10).step.length, 10, "reduced when over max");
  assert.deepEqual(windowSeries(s, 2000, 200, 300).step, [100], "past the end: the last point");
});

Deno.test("LogTail returns only appended complete lines; a torn line waits; a shrunk file restarts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hpseg_tail_" });
  try {
    const path = `${dir}/${RUN_LOG_FILE}`;
    const tail = new LogTail(path);
    assert.deepEqual((await tail.read()).lines, [], "no file yet");
    await Deno.writeTextFile(path, "a\nb\nc");
    assert.deepEqual((await tail.read()).lines, ["a", "b"], "the torn last line waits");
    assert.deepEqual(tail.readSync().lines, [], "nothing new");
    await Deno.writeTextFile(path, "cc\n\nd\n", { append: true });
    assert.deepEqual(tail.readSync().lines, ["ccc", "d"], "completed line, blank skipped");
    // Multi-byte characters split across the chunk boundary are decoded whole.
    const long = "λ".repeat(3_000_000) + "\n"; // 6 MB, crosses the 4 MB chunk size
    await Deno.writeTextFile(path, long + "e\n", { append: true });
    const r = await tail.read();
    assert.equal(r.lines.length, 2);
    assert.equal(r.lines[0], "λ".repeat(3_000_000));
    assert.equal(r.offset, (await Deno.stat(path)).size);
    await Deno.writeTextFile(path, "x\n");
    const again = tail.readSync();
    assert.deepEqual([again.restarted, again.lines], [true, ["x"]]);
    const from = new LogTail(path, 0);
    await Deno.writeTextFile(path, "y\nz\n", { append: true });
    assert.deepEqual(from.readSync().lines, ["x", "y", "z"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A realistic log: start, metrics, evaluations, pictures, a resume, progress, a final status. */
function sampleLog(): TelemetryMessage[] {
  const out: TelemetryMessage[] = [{
    type: "status",
    state: "starting",
    runId: "r",
    config: { hp: { alpha: 0 }, train: { batch: 8 } },
    facts: { adapter: "llvmpipe", software: true },
    time: 1_000_000,
  }];
  out.push({ type: "progress", phase: "pool", step: 0, totalSteps: 100, done: 1, total: 4, etaSeconds: 60 });
  for (let s = 1; s <= 60; s++) {
    out.push(metrics(s));
    if (s % 20 === 0) {
      out.push({
        type: "eval",
        step: s,
        metrics: { cluster_acc: s, cluster_miou: s / 2, linear_acc: 1, linear_miou: 2 },
      });
      out.push({ type: "picture", step: s, kind: "ghp", file: `pictures/ghp_${s}.png` });
    }
  }
  out.push({ type: "status", state: "stopped", runId: "r", message: "stopped at step 60", time: 1_070_000 });
  out.push({ type: "status", state: "starting", runId: "r", resumedFrom: 50, time: 1_080_000 });
  for (let s = 51; s <= 100; s++) out.push(metrics(s));
  out.push({
    type: "eval",
    step: 100,
    metrics: { cluster_acc: 55, cluster_miou: 25, linear_acc: 50, linear_miou: 20 },
  });
  out.push({
    type: "status",
    state: "done",
    runId: "r",
    message: "finished",
    final: { cluster_acc: 55, cluster_miou: 25, linear_acc: 50, linear_miou: 20, kmeans_miou: NaN },
    time: 1_200_000,
  });
  return out;
}

Deno.test("foldLines over appended chunks equals folding every parsed message; torn lines skipped", () => {
  const msgs = sampleLog();
  const lines = msgs.map((m) => JSON.stringify(m));
  lines.splice(30, 0, '{"type":"metrics","step":31,"epo'); // a torn metrics line inside a run of them
  const reference = emptySummary("r");
  for (const m of parseRunLog(lines.join("\n"))) foldMessage(reference, m);
  for (const cut of [[lines.length], [1, 2, 31, 80, lines.length], [29, 30, 31, lines.length]]) {
    const s = emptySummary("r");
    let at = 0;
    for (const c of cut) {
      foldLines(s, lines.slice(at, c));
      at = c;
    }
    // A torn metrics line between good ones may be counted as a message; everything else is exact.
    assert.ok(s.messages - reference.messages >= 0 && s.messages - reference.messages <= 1, `chunks ${cut}`);
    assert.deepEqual({ ...s, messages: 0 }, { ...reference, messages: 0 }, `chunks ${cut}`);
    // The same from raw bytes (what the runs index reads), in the same chunks.
    const fromBytes = emptySummary("r");
    at = 0;
    for (const c of cut) {
      foldBytes(fromBytes, new TextEncoder().encode(lines.slice(at, c).map((l) => l + "\n").join("")));
      at = c;
    }
    assert.deepEqual(fromBytes, s, `bytes, chunks ${cut}`);
  }
  assert.equal(reference.state, "done");
  assert.equal(reference.step, 100);
  assert.equal(reference.totalSteps, 100);
  assert.equal(reference.started, 1_000_000);
  assert.equal(reference.ended, 1_200_000);
  assert.deepEqual(reference.final, {
    cluster_acc: 55,
    cluster_miou: 25,
    linear_acc: 50,
    linear_miou: 20,
    kmeans_miou: null,
  });
  assert.deepEqual(reference.facts, { adapter: "llvmpipe", software: true });
  assert.equal(reference.lastEval?.step, 100);
});

Deno.test("RunsIndex: summaries saved and reused, true statuses, names and notes", async () => {
  const runsDir = await Deno.makeTempDir({ prefix: "hpseg_index_" });
  try {
    const write = (id: string, msgs: TelemetryMessage[]) => {
      const log = new RunLog(`${runsDir}/${id}`);
      for (const m of msgs) log.append(m);
      log.close();
    };
    write("done-run", sampleLog());
    write("dead-run", sampleLog().slice(0, 20)); // a killed trainer: "starting", no lock
    write("live-run", sampleLog().slice(0, 10));
    await Deno.mkdir(`${runsDir}/not-a-run`);
    let live = true;
    const index = new RunsIndex(runsDir, { current: "live-run", live: () => live });
    const byId = async () => Object.fromEntries((await index.list()).map((r) => [r.id, r]));
    let runs = await byId();
    assert.deepEqual(Object.keys(runs).sort(), ["dead-run", "done-run", "live-run"]);
    assert.equal(runs["done-run"].state, "done");
    assert.equal(runs["dead-run"].state, "interrupted", "no lock owner: interrupted");
    assert.deepEqual([runs["live-run"].state, runs["live-run"].live, runs["live-run"].current], [
      "starting",
      true,
      true,
    ]);
    live = false;
    const stoppedServing = await index.summary("live-run");
    assert.deepEqual(
      [stoppedServing?.live, stoppedServing?.state],
      [false, "interrupted"],
      "not live once this server stops training it; its log never ended and nobody holds its lock",
    );
    // A run whose folder lock has a living owner (another trainer: this process plays it) is running.
    const lock = acquireRunLock(`${runsDir}/dead-run`);
    try {
      assert.equal((await index.summary("dead-run"))?.state, "starting", "its trainer holds the lock");
    } finally {
      lock.release();
    }
    assert.equal((await index.summary("dead-run"))?.state, "interrupted");
    // The done run's summary was saved at its final state; a new index reads it and folds only the rest.
    const saved = JSON.parse(await Deno.readTextFile(`${runsDir}/done-run/${SUMMARY_FILE}`));
    assert.equal(saved.logBytes, (await Deno.stat(`${runsDir}/done-run/${RUN_LOG_FILE}`)).size);
    saved.summary.message = "from the saved summary";
    await Deno.writeTextFile(`${runsDir}/done-run/${SUMMARY_FILE}`, JSON.stringify(saved));
    const later = new RunsIndex(runsDir);
    assert.equal(
      (await later.summary("done-run"))?.message,
      "from the saved summary",
      "saved summary reused",
    );
    const log = new RunLog(`${runsDir}/done-run`);
    log.append({ type: "status", state: "starting", runId: "r", message: "again" });
    log.close();
    const s = await later.summary("done-run");
    assert.deepEqual(
      [s?.state, s?.message],
      ["interrupted", "again"],
      "appended lines folded on top (no lock)",
    );
    // A saved summary covering more than the log (the log was replaced) is not trusted.
    await Deno.writeTextFile(
      `${runsDir}/done-run/${SUMMARY_FILE}`,
      JSON.stringify({ ...saved, logBytes: 1e9 }),
    );
    const rebuilt = await new RunsIndex(runsDir).summary("done-run");
    assert.deepEqual([rebuilt?.message, rebuilt?.step], ["again", 100], "rebuilt from the whole log");
    runs = await byId();
    // Names and notes.
    assert.deepEqual(await index.setMeta("done-run", { name: "  baseline  ", notes: "lr 1e-3\nfirst try" }), {
      name: "baseline",
      notes: "lr 1e-3\nfirst try",
    });
    const named = await index.summary("done-run");
    assert.deepEqual([named?.name, named?.notes], ["baseline", "lr 1e-3\nfirst try"]);
    assert.deepEqual(
      JSON.parse(await Deno.readTextFile(`${runsDir}/done-run/${META_FILE}`)).name,
      "baseline",
    );
    await index.setMeta("done-run", { name: "" });
    assert.equal((await index.summary("done-run"))?.name, undefined, "an empty name removes it");
    await assert.rejects(() => index.setMeta("not-a-run", { name: "x" }), Deno.errors.NotFound);
    await assert.rejects(() => index.setMeta("../x", { name: "x" }), /bad run id/);
  } finally {
    await Deno.remove(runsDir, { recursive: true });
  }
});

Deno.test("RunStore: one series per metrics field, resume compaction, snapshot downsampled per series", async () => {
  const runsDir = await Deno.makeTempDir({ prefix: "hpseg_store_" });
  try {
    const log = new RunLog(`${runsDir}/r`);
    for (const m of sampleLog()) log.append(m);
    const store = new RunStore(`${runsDir}/r`);
    store.refreshSync();
    const ghp = store.full("losses.ghp");
    assert.deepEqual(
      ghp.step,
      Array.from({ length: 100 }, (_, i) => i + 1),
      "the resumed steps replace 51…60",
    );
    assert.deepEqual(store.full("eval.cluster_acc").step, [20, 40, 100], "the evaluation at 60 is dropped");
    assert.deepEqual(store.full("losses.head").y.slice(0, 2), [19, 19], "head = total − probe losses");
    const snap = store.snapshot("r", 40);
    assert.equal(snap.counts["losses.ghp"], 100);
    assert.ok(snap.series["losses.ghp"].step.length <= 40);
    assert.equal(snap.pictures.length, 2, "the picture at step 60 is dropped");
    assert.deepEqual(snap.statuses.map((s) => s.state), ["starting", "stopped", "starting", "done"]);
    assert.deepEqual(snap.config, { hp: { alpha: 0 }, train: { batch: 8 } });
    assert.equal(snap.t0, 1_000_000);
    assert.equal(snap.series["losses.ghp"].t[0], 1000, "times relative to the run's first message");
    // New lines: only they are read; keys appear as they come.
    log.append(metrics(101, 200, { gpuPassMs: { backbone: 4 } }));
    log.close();
    await store.refresh();
    assert.deepEqual(store.full("gpuPassMs.backbone").step, [101]);
    assert.equal(store.full("losses.ghp").step.length, 101);
    const zoom = store.series(["losses.ghp"], 1000, 10, 20);
    assert.deepEqual(zoom["losses.ghp"].step, Array.from({ length: 13 }, (_, i) => i + 9));
  } finally {
    await Deno.remove(runsDir, { recursive: true });
  }
});

Deno.test("page modules: series keys match the server's; smoothing; configuration table and diff", () => {
  const m = metrics(7, 100, { gpuPassMs: { backbone: 1.5, loss: 0.25 }, etaSeconds: 12 });
  assert.deepEqual(
    [...pageMetricsValues(m)].sort(),
    [...metricsValues(m)].sort(),
    "the page folds live messages into the same series as the server's snapshot",
  );
  assert.ok(!metricsValues(m).has("etaSeconds") && !metricsValues(m).has("step"));
  // Every fixed panel series is a key of a metrics message or an evaluation.
  const keys = new Set([...metricsValues(m).keys()]);
  for (const p of PANELS) {
    for (const [k] of p.series as [string][]) {
      assert.ok(keys.has(k) || k.startsWith("eval."), `${p.id}: ${k}`);
    }
  }
  const hp = PANELS.find((p) => p.id === "hp")!;
  assert.ok(
    !panelSeries(hp, { hp: { alpha: 0 } }, []).some(([k]: [string]) => k === "losses.reg"),
    "α = 0 hides L_reg",
  );
  assert.ok(panelSeries(hp, { hp: { alpha: 0.05 } }, []).some(([k]: [string]) => k === "losses.reg"));
  const gpu = PANELS.find((p) => p.id === "gpu")!;
  assert.deepEqual(panelSeries(gpu, {}, [...keys]).map(([k]: [string]) => k), [
    "gpuPassMs.backbone",
    "gpuPassMs.loss",
  ]);

  // Smoothing: weight 0 is the identity; otherwise the debiased EMA, computed here in float64 by its definition.
  const y = [1, 5, NaN, 2, 8, 3];
  assert.deepEqual(emaSmooth(y, 0), y);
  const w = 0.6, want: number[] = [];
  let acc = 0, k = 0;
  for (const v of y) {
    if (!Number.isFinite(v)) {
      want.push(v);
      continue;
    }
    acc = w * acc + (1 - w) * v;
    want.push(acc / (1 - w ** ++k));
  }
  emaSmooth(y, w).forEach((v: number, i: number) =>
    Number.isNaN(want[i]) ? assert.ok(Number.isNaN(v)) : assert.ok(Math.abs(v - want[i]) < 1e-12)
  );
  assert.equal(emaSmooth([4, 4, 4], 0.9)[0], 4, "debiased: the first point is not pulled to 0");

  const a = {
    dataset: { name: "synthetic", n_classes: 0 },
    train: { lr: 1e-3, batch: 8 },
    eval: { crf: false },
  };
  const b = { dataset: { name: "synthetic", n_classes: 0 }, train: { lr: 3e-3, batch: 8 }, hp: { tau: 0.4 } };
  assert.deepEqual(flattenConfig(a), [
    ["dataset.name", "synthetic"],
    ["dataset.n_classes", 0],
    ["train.lr", 1e-3],
    ["train.batch", 8],
    ["eval.crf", false],
  ]);
  assert.deepEqual(configDiff([a, b]), [
    { key: "train.lr", values: [1e-3, 3e-3] },
    { key: "eval.crf", values: [false, undefined] },
    { key: "hp.tau", values: [undefined, 0.4] },
  ]);
  assert.deepEqual(configDiff([a, a]), []);
  assert.equal(describeValue("dataset.n_classes", 0), "0 (from the dataset)");
  assert.equal(describeValue("eval.crf", false), "no");
  assert.equal(describeValue("backbone.weights", ""), "(embedded)");
});

Deno.test("page modules: the scores line of a finished, stopped or failed run; none while running", () => {
  const final = {
    cluster_acc: 61.25,
    cluster_miou: 30.5,
    linear_acc: 70,
    linear_miou: 35.75,
    kmeans_miou: 18,
  };
  const ev = (step: number, acc: number) => ({
    step,
    metrics: { cluster_acc: acc, cluster_miou: acc / 2, linear_acc: acc + 1, linear_miou: acc / 4 },
  });
  assert.equal(
    finalScoresText({ state: "done", final, evals: [], lastStep: 40 }),
    "Final: cluster acc 61.3 % · mIoU 30.5 % — linear acc 70.0 % · mIoU 35.8 % — k-means baseline mIoU 18.0 %",
  );
  assert.equal(
    finalScoresText({ state: "stopped", final: null, evals: [ev(8, 40), ev(16, 42)], lastStep: 21 }),
    "Stopped at step 21. Last evaluation (step 16): cluster acc 42.0 % · mIoU 21.0 % — linear acc 43.0 % · mIoU 10.5 %",
  );
  assert.equal(
    finalScoresText({ state: "failed", final: null, evals: [], lastStep: 3 }),
    "Failed at step 3, before any evaluation: no scores.",
  );
  assert.equal(finalScoresText({ state: "running", final: null, evals: [ev(8, 40)], lastStep: 9 }), "");
  assert.equal(finalScoresText({ state: "done", final: null, evals: [], lastStep: 9 }), "");
});

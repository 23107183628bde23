/**
 * The run's one estimate (core/progress.ts RunEta, SmoothedRate) and its terminal view (core/cli/
 * train_view.ts TrainView): what is left is counted from measured rates (steps, validations, the final
 * pass, the baseline), first guesses come from pool images or steps, the bar shows the trainer's ETA and
 * the tick stream's step (never a metrics message's older step), progress reaches the dashboard at phase
 * changes and at most every 10 s, and Ctrl-C is answered by phase.
 * @module
 */
import assert from "node:assert/strict";
import { ProgressBar, RunEta, type RunShape, SmoothedRate } from "../../core/progress.ts";
import { TrainView } from "../../core/cli/train_view.ts";
import type { TelemetryMessage } from "../../core/telemetry.ts";
import type { TickMessage } from "../../core/train/progress.ts";

Deno.test("SmoothedRate: first sample as is, then an exponential moving average per unit", () => {
  const r = new SmoothedRate(0.5);
  assert.ok(Number.isNaN(r.perUnit));
  r.add(10, 5); // 2 s per unit
  assert.equal(r.perUnit, 2);
  r.add(4, 1); // 4 s per unit → 2 + 0.5·(4 − 2)
  assert.equal(r.perUnit, 3);
  r.add(1, 0); // no units: ignored
  assert.equal(r.samples, 2);
});

const SHAPE: RunShape = {
  totalSteps: 100,
  batch: 8,
  forwardsPerImage: 1,
  validEvery: 30,
  valImages: 40,
  evalCost: 2,
  baselineImages: 10,
};

Deno.test("RunEta counts the steps, the validations still to come, the final pass and the baseline", () => {
  const eta = new RunEta(SHAPE);
  assert.ok(Number.isNaN(eta.remaining(0)), "nothing measured yet");
  eta.poolImage.add(8, 8); // 1 s per pool image → a validation image is guessed at 2 s, a step at 8 · 1.5 s
  assert.equal(eta.remaining(0, 5), 5 + 100 * 12 + (3 + 1) * 40 * 2 + 10 * 2, "while building the pools");
  eta.step.add(3, 1); // 3 s per step
  // After step 10: 90 steps, validations at 30, 60, 90 (3), final pass, baseline.
  assert.equal(eta.remaining(10), 90 * 3 + (3 + 1) * 40 * 2 + 10 * 2);
  eta.valImage.add(20, 40); // measured: 0.5 s per validation image
  assert.equal(eta.remaining(60), 40 * 3 + (1 + 1) * 40 * 0.5 + 10 * 0.5);
  assert.equal(eta.remaining(100, 7), 7 + 40 * 0.5 + 10 * 0.5, "the rest of the current piece counts too");
  // Without pool images (a resumed run) the first guess comes from the step time: B images per step.
  const resumed = new RunEta(SHAPE);
  resumed.step.add(4, 1);
  assert.equal(resumed.secondsPerValImage(), (4 / 8) * 2);
});

Deno.test("ProgressBar shows the ETA it is given", () => {
  const out: string[] = [];
  const bar = new ProgressBar({ total: 10, tty: false, write: (s) => out.push(s), now: () => 0 });
  bar.update({ step: 3, etaSeconds: 125 });
  assert.equal(out[0], "train step 3/10 (30.0%)  ETA 2m05s\n");
});

function tick(o: Partial<TickMessage>): TickMessage {
  return {
    type: "tick",
    phase: "train",
    step: 0,
    totalSteps: 10,
    done: 0,
    total: 10,
    etaSeconds: null,
    checkpointStep: null,
    ...o,
  };
}

Deno.test("TrainView: steps only from ticks, progress to the dashboard by phase and every 10 s", () => {
  let t = 0;
  const published: TelemetryMessage[] = [];
  const view = new TrainView((m) => published.push(m), () => t);
  view.onTick(tick({ phase: "pool", done: 1, total: 4, step: 0 }));
  view.onTick(tick({ phase: "pool", done: 2, total: 4, step: 0 }));
  t = 11_000;
  view.onTick(tick({ phase: "pool", done: 3, total: 4, step: 0 }));
  view.onTick(tick({ phase: "train", step: 5, done: 5, etaSeconds: 42 }));
  assert.deepEqual(published.map((m) => m.type === "progress" ? [m.phase, m.done] : []), [
    ["pool", 1],
    ["pool", 3],
    ["train", 5],
  ]);
  assert.equal((published[2] as { etaSeconds: number }).etaSeconds, 42);
  assert.equal(view.last?.step, 5);
});

Deno.test("TrainView: Ctrl-C stops at once where nothing new would be saved, else asks for a checkpoint", () => {
  const view = new TrainView(() => {}, () => 0);
  assert.equal(view.interrupt(null).now, true, "before the first tick");
  view.onTick(tick({ phase: "pool", done: 1, total: 32, step: 0 }));
  const pool = view.interrupt(null);
  assert.equal(pool.now, true);
  assert.match(pool.line, /^interrupt: stopped while building pools: nothing to save yet$/);
  view.onTick(tick({ phase: "train", step: 7, checkpointStep: 5 }));
  const train = view.interrupt(null);
  assert.equal(train.now, false);
  assert.match(train.line, /checkpoint at step 7 .* resume from step 5\)$/);
  view.onTick(tick({ phase: "validate", step: 10, checkpointStep: 10, done: 4, total: 40 }));
  assert.equal(view.interrupt(null).now, true, "validating right after a checkpoint: nothing new");
  view.onTick(tick({ phase: "final", step: 10, checkpointStep: 10, done: 4, total: 40 }));
  assert.match(
    view.interrupt(null).line,
    /training is complete \(step 10\); --resume runs the final evaluation/,
  );
  const resumed = new TrainView(() => {}, () => 0);
  resumed.onTick(tick({ phase: "pool", step: 20, done: 1, total: 2 }));
  assert.equal(resumed.interrupt(20).now, true, "a resumed run renewing its pool at the resume step");
});

/**
 * core/progress.ts tests with a fake clock: TTY redraws in place (throttled, ETA from the step rate, width
 * limit), plain lines without escape codes (throttled, final line always), log lines above the bar.
 * @module
 */
import assert from "node:assert/strict";
import { formatDuration, ProgressBar, renderBarLine, renderPlainLine } from "../../core/progress.ts";

function harness(tty: boolean, columns = 120) {
  let t = 0;
  const out: string[] = [];
  const bar = new ProgressBar({
    total: 1000,
    tty,
    columns,
    write: (s) => out.push(s),
    now: () => t,
    plainIntervalMs: 10_000,
    redrawMs: 100,
    window: 5,
  });
  return { bar, out, advance: (ms: number) => (t += ms) };
}

const u = (step: number) => ({
  step,
  losses: { total: 1.23456, ghp: 0.8, lhp: 0.4 },
  imagesPerSec: 12.34,
  stepMs: 81,
});

Deno.test("formatDuration", () => {
  assert.equal(formatDuration(42.4), "42s");
  assert.equal(formatDuration(185), "3m05s");
  assert.equal(formatDuration(3720), "1h02m");
  assert.equal(formatDuration(NaN), "--");
  assert.equal(formatDuration(-1), "--");
});

Deno.test("TTY: one line redrawn in place at most every 100 ms, ETA from the wall-clock step rate", () => {
  const { bar, out, advance } = harness(true);
  for (let s = 1; s <= 50; s++) {
    bar.update(u(s));
    advance(50); // 50 ms per step → 20 steps/s
  }
  // 50 updates 50 ms apart, redraw every ≥ 100 ms → 25 draws.
  assert.equal(out.length, 25);
  for (const line of out) {
    assert.ok(line.startsWith("\r\x1b[2K"), "each draw clears the line first");
    assert.ok(!line.includes("\n"), "no newline while running");
  }
  const last = out.at(-1)!;
  // Step 49 drawn; 951 steps left at 50 ms/step = 47.55 s.
  assert.match(
    last,
    /train +4% \[█*░+\] 49\/1000 {2}ETA 48s {2}loss 1\.2346 \(ghp 0\.800 lhp 0\.400\) {2}12\.3 img\/s {2}81\.0 ms\/step/,
  );
  assert.equal(bar.eta(), (950 * 50) / 1000, "after the update for step 50 (not drawn: < 100 ms)");
  bar.log("eval at step 50: acc 41.2");
  assert.equal(
    out.at(-2),
    "\r\x1b[2Keval at step 50: acc 41.2\n",
    "log line replaces the bar, then the bar is redrawn",
  );
  assert.ok(out.at(-1)!.startsWith("\r\x1b[2Ktrain"));
  bar.update(u(1000)); // final step always draws
  bar.done("done in 50s");
  assert.match(out.at(-3)!, /100% \[█+\] 1000\/1000/);
  assert.equal(out.at(-2), "\n", "the bar ends with a newline");
  assert.equal(out.at(-1), "done in 50s\n");
});

Deno.test("TTY line fits the terminal width; the bar shrinks, then disappears, then text is cut", () => {
  const lines = [200, 100, 60, 40].map((cols) => renderBarLine("train", u(500), 1000, 30, cols));
  lines.forEach((l, i) => assert.ok(l.length <= [200, 100, 60, 40][i], `${l.length} chars`));
  assert.match(
    lines[0],
    /\[█{20}░{20}\] 500\/1000 .*\(ghp 0\.800 lhp 0\.400\).*81\.0 ms\/step$/,
    "wide: full bar",
  );
  assert.match(
    lines[1],
    /\[█+░+\] 500\/1000 {2}ETA 30s {2}loss 1\.2346 {2}12\.3 img\/s$/,
    "100 cols: compact text",
  );
  assert.equal(lines[2], "train  50%  500/1000  ETA 30s  loss 1.2346  12.3 img/s", "60 cols: no bar");
  assert.ok(lines[3].endsWith("…") && lines[3].length === 40, "40 cols: cut");
});

Deno.test("not a TTY: plain lines, no escape codes, at most one per interval plus the final one", () => {
  const { bar, out, advance } = harness(false);
  for (let s = 1; s <= 1000; s++) {
    bar.update(u(s));
    advance(100); // 100 s in total, a line every ≥ 10 s → steps 1, 101, …, 901, and the final 1000
  }
  assert.equal(out.length, 10, "steps 1, 101, …, 901 (the final step waits for done())");
  bar.update({ step: 1000, note: "tick" }); // a second report of the final step: still one final line
  bar.done("1000 steps");
  assert.equal(out.length, 12);
  assert.equal(out.at(-1), "1000 steps\n");
  out.pop();
  for (const line of out) {
    assert.ok(!line.includes("\x1b") && !line.includes("\r"), "no escape codes");
    assert.ok(line.endsWith("\n"));
  }
  assert.equal(
    out[0],
    "train step 1/1000 (0.1%)  ETA --  loss 1.2346 (ghp 0.800 lhp 0.400)  12.3 img/s  81.0 ms/step\n",
  );
  assert.match(out[1], /^train step 101\/1000 \(10\.1%\) {2}ETA 1m30s {2}/);
  assert.match(out.at(-1)!, /^train step 1000\/1000 \(100\.0%\) {2}ETA 0s {2}tick\n$/);
  assert.equal(
    renderPlainLine("x", { step: 5, note: "evaluating" }, 10, NaN),
    "x step 5/10 (50.0%)  ETA --  evaluating",
  );
});

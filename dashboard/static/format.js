// Number, duration and time formatting for the dashboard page (pure functions; tests import this module).

/** A number with `digits` decimals; exponent form for very small or large magnitudes; "–" when unknown. */
export function fmt(v, digits = 3) {
  if (v === undefined || v === null || !Number.isFinite(v)) return "–";
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : v.toFixed(digits);
}

/** A percentage as "57.2 %"; "–" when unknown. */
export function pct(v, digits = 1) {
  return v === undefined || v === null || !Number.isFinite(v) ? "–" : `${v.toFixed(digits)} %`;
}

/** Seconds as "1h02m", "3m05s" or "42s" (the terminal's format, core/progress.ts); "–" when unknown. */
export function fmtDuration(seconds) {
  if (seconds === undefined || seconds === null || !Number.isFinite(seconds) || seconds < 0) return "–";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, "0")}m`;
  if (m > 0) return `${m}m${String(sec).padStart(2, "0")}s`;
  return `${sec}s`;
}

/** A wall-clock time (ms since the epoch) as local "YYYY-MM-DD HH:MM:SS"; "–" when unknown. */
export function fmtDate(ms) {
  if (!Number.isFinite(ms) || ms <= 0) return "–";
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${
    p(d.getMinutes())
  }:${p(d.getSeconds())}`;
}

/** A wall-clock time of day (ms since the epoch) as local "HH:MM:SS". */
export function fmtClock(ms) {
  if (!Number.isFinite(ms)) return "";
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** Status text; a JSON object of numbers (e.g. final metrics) is shown as "key value · …". */
export function formatMessage(text) {
  if (!text) return "";
  try {
    const v = JSON.parse(text);
    if (v && typeof v === "object" && !Array.isArray(v)) {
      return Object.entries(v).map(([k, x]) => `${k} ${typeof x === "number" ? fmt(x, 2) : x}`).join(" · ");
    }
  } catch { /* plain text */ }
  return text;
}

/**
 * The scores line of a run in a final state (issue 14 §1): a finished run's final scores; a stopped or failed
 * run's last evaluation (or that it had none), so the page that watched it ends with numbers either way.
 * `d` = { state, final, evals, lastStep }; "" while the run is not over.
 */
export function finalScoresText(d) {
  const scores = (m) =>
    `cluster acc ${pct(m.cluster_acc)} · mIoU ${pct(m.cluster_miou)} — linear acc ${
      pct(m.linear_acc)
    } · mIoU ${pct(m.linear_miou)}`;
  if (d.state === "done" && d.final) {
    return `Final: ${scores(d.final)} — k-means baseline mIoU ${pct(d.final.kmeans_miou)}`;
  }
  const how = { stopped: "Stopped", failed: "Failed", interrupted: "Interrupted" }[d.state];
  if (!how) return "";
  const at = Number.isFinite(d.lastStep) ? ` at step ${d.lastStep}` : "";
  const last = d.evals?.at(-1);
  return last
    ? `${how}${at}. Last evaluation (step ${last.step}): ${scores(last.metrics)}`
    : `${how}${at}, before any evaluation: no scores.`;
}

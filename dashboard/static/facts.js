// The run's facts panel, progress line and end-of-run banner (issue 14 §1, §5, §6): adapter (and whether it
// is a software fallback), start, elapsed time, command, version and folder; the phase the trainer is in
// (pool building, training, validation, baseline, final evaluation) with its progress; the trainer's one
// smoothed ETA (core/progress.ts RunEta, the terminal's number), counted down between messages.
import { fmt, fmtDate, fmtDuration, formatMessage } from "./format.js";

const PHASES = {
  setup: "setting up",
  pool: "building the reference pools",
  train: "training",
  validate: "validating",
  baseline: "fitting the k-means baseline",
  final: "final evaluation",
};

const $ = (id) => document.getElementById(id);

function row(dl, key, value, cls) {
  const dt = document.createElement("dt");
  dt.textContent = key;
  const dd = document.createElement("dd");
  if (value instanceof Node) dd.append(value);
  else dd.textContent = value;
  if (cls) dd.className = cls;
  dl.append(dt, dd);
  return dd;
}

/** Fills the facts list of a run. `view` = { id, summary, statuses, facts, runsDir, live }. */
export function renderFacts(view) {
  const dl = $("facts");
  dl.replaceChildren();
  const s = view.summary ?? {};
  const f = view.facts ?? s.facts ?? {};
  const adapter = document.createElement("span");
  adapter.textContent = f.adapter ?? "not reported";
  if (f.software) {
    const b = document.createElement("span");
    b.className = "badge warn";
    b.textContent = "software (CPU) adapter";
    b.title = "a CPU implementation of WebGPU (e.g. lavapipe): correct but far slower than a GPU";
    adapter.append(" ", b);
  }
  row(dl, "adapter", adapter);
  if (f.backbone) row(dl, "backbone", f.backbone);
  row(dl, "started", fmtDate(view.started ?? s.started));
  const el = row(dl, view.ended ? "duration" : "elapsed", "–", "elapsed");
  el.id = "elapsed";
  row(dl, "command", f.command ?? "–", "mono wrap");
  row(dl, "version", [f.version, f.deno ? `Deno ${f.deno}` : ""].filter(Boolean).join(" · ") || "–");
  row(dl, "run folder", view.runsDir ? `${view.runsDir}/${view.id}` : view.id ?? "–", "mono wrap");
  tickElapsed(view);
}

/** Updates the elapsed time (live: now − start; ended: end − start). */
export function tickElapsed(view) {
  const el = $("elapsed");
  if (!el) return;
  const start = view.started ?? view.summary?.started;
  const end = view.ended ?? (view.live ? Date.now() : view.summary?.lastTime);
  el.textContent = Number.isFinite(start) && Number.isFinite(end) ? fmtDuration((end - start) / 1000) : "–";
}

/**
 * The progress bar and lines. `view` = { lastMetrics, progress, etaAt (ms when the ETA arrived), state,
 * live, summary }.
 */
export function renderProgress(view) {
  const m = view.lastMetrics, p = view.progress;
  const total = m?.totalSteps ?? p?.totalSteps ?? view.summary?.totalSteps ?? 0;
  const step = Math.max(m?.step ?? 0, p?.step ?? 0, view.summary?.step ?? 0);
  const frac = total > 0 ? Math.min(1, step / total) : 0;
  $("progress-bar").style.width = `${(100 * frac).toFixed(1)}%`;
  const parts = [];
  if (total > 0) parts.push(`step ${step}/${total}`);
  if (m) {
    parts.push(`epoch ${m.epoch}`, `head loss ${fmt(m.losses?.total - m.losses?.lin - m.losses?.clu)}`);
    parts.push(`${fmt(m.imagesPerSec, 1)} img/s`, `${fmt(m.stepMs, 1)} ms/step`);
  }
  $("progress-text").textContent = parts.length
    ? parts.join(" · ")
    : view.live
    ? "waiting for the trainer"
    : "no metrics";
  const phase = $("phase-text");
  const final = ["done", "stopped", "failed", "interrupted"].includes(view.state);
  if (view.live && !final && p) {
    const what = PHASES[p.phase] ?? p.phase;
    const units = p.phase === "train" ? "" : p.total > 0 ? ` ${p.done}/${p.total}` : "";
    phase.textContent = `${what}${units} · ${etaText(view)}`;
    phase.dataset.phase = p.phase;
  } else if (view.live && !final && m && Number.isFinite(m.etaSeconds)) {
    phase.textContent = `training · ${etaText(view)}`;
    phase.dataset.phase = "train";
  } else {
    phase.textContent = "";
    phase.dataset.phase = "";
  }
}

/** The trainer's ETA counted down since it arrived. */
function etaText(view) {
  const eta = view.eta;
  if (!eta || !Number.isFinite(eta.seconds)) return "estimating the time left";
  const left = Math.max(0, eta.seconds - (Date.now() - eta.at) / 1000);
  return `about ${fmtDuration(left)} left (including evaluation)`;
}

/** The scores line of a run in a final state (format.js finalScoresText); hidden while it runs. */
export function renderFinal(text) {
  const el = $("final-scores");
  el.hidden = !text;
  el.textContent = text;
}

/** The latest status sentence. */
export function renderMessage(text) {
  $("message").textContent = formatMessage(text);
}

/**
 * The banner after a live run ended: what happened and where to browse the run from now on.
 * @param {{ state: string, id: string, runsDir: string, keepServing: boolean }} o
 */
export function showEndBanner(o) {
  const el = $("banner");
  el.hidden = false;
  el.className = `banner state-${o.state}`;
  const what = { done: "finished", stopped: "was stopped", failed: "failed" }[o.state] ??
    `ended (${o.state})`;
  const later = o.keepServing
    ? "This server stays up (train --keep-serving) until you press Ctrl-C in its terminal."
    : "The trainer's server stops with the run, so this page no longer updates.";
  el.replaceChildren();
  const b = document.createElement("strong");
  b.textContent = `Run ${o.id} ${what}. `;
  const code = document.createElement("code");
  code.textContent = `deno task dashboard --runs ${o.runsDir}`;
  el.append(b, later, " Browse it and the other runs later with ", code, ".");
}

// hpseg dashboard page logic (issue 7 §2; message types: core/telemetry.ts).
//
// Opens `/events?history=1`: the server first sends `event: reset`, then every logged message, then
// `event: live`, then each new message as it is published. On reconnect the same happens, so the page
// clears its state on `reset` and never shows a message twice. Chart updates are batched to one redraw per
// animation frame, with animations off, so a fast trainer cannot make the page fall behind.
// Picking a past run in the selector shows that run's log from `/api/history?run=<id>` (no live feed).
"use strict";

const Chart = globalThis.Chart;
const params = new URLSearchParams(location.search);
const token = params.get("token");

/** Adds the dashboard token (when the page was opened with one) to a same-origin URL. */
function withToken(url) {
  if (!token) return url;
  return url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
}

/** Dots only while a series is short (a lone eval point would otherwise be invisible). */
const sparsePoints = (ctx) => ((ctx.dataset.hpPoints?.length ?? 0) <= 30 ? 2.5 : 0);

const COLORS = ["#2f6fde", "#d03a3a", "#1f9d55", "#c77c02", "#8e44ad", "#17a2b8", "#555", "#e83e8c"];

/** A line chart over steps; `series` are [key, label] pairs, `opts` may set log scale or a 2nd axis. */
function lineChart(id, series, opts = {}) {
  const canvas = document.getElementById(id);
  const datasets = series.map(([key, label, extra], i) => ({
    label,
    data: [],
    hpPoints: [], // full series; `data` may be a decimated view
    borderColor: COLORS[i % COLORS.length],
    backgroundColor: COLORS[i % COLORS.length] + "33",
    borderWidth: 1.5,
    pointRadius: sparsePoints,
    tension: 0,
    hpKey: key,
    ...(extra ?? {}),
  }));
  const scales = {
    x: { type: "linear", title: { display: true, text: "step" }, ticks: { maxTicksLimit: 8 } },
    y: { type: opts.logY ? "logarithmic" : "linear", ticks: { maxTicksLimit: 6 } },
  };
  if (opts.y1) scales.y1 = { type: "linear", position: "right", grid: { drawOnChartArea: false } };
  return new Chart(canvas, {
    type: "line",
    data: { datasets },
    options: {
      animation: false,
      parsing: false,
      normalized: true,
      maintainAspectRatio: false,
      interaction: { mode: "nearest", axis: "x", intersect: false },
      plugins: { legend: { labels: { boxWidth: 12 } }, decimation: { enabled: true, algorithm: "min-max" } },
      scales,
    },
  });
}

const charts = {
  losses: lineChart("chart-losses", [
    ["ghp", "GHP"],
    ["lhp", "LHP"],
    ["reg", "regulariser"],
    ["lin", "linear probe"],
    ["clu", "cluster probe"],
    ["total", "total"],
  ]),
  lambda: lineChart("chart-lambda", [["lambda", "λ"]]),
  positives: lineChart("chart-positives", [
    ["ag", "task-agnostic"],
    ["sp", "task-specific"],
    ["lhp", "LHP"],
  ]),
  // One colour per pool: p50 solid, p10 and p90 dashed with the band between them shaded.
  thresholds: lineChart("chart-thresholds", [
    ["ag.p10", "TA p10", { borderDash: [4, 3], borderColor: COLORS[0] }],
    ["ag.p50", "TA p50", { borderColor: COLORS[0], borderWidth: 2 }],
    ["ag.p90", "TA p90", {
      borderDash: [4, 3],
      borderColor: COLORS[0],
      fill: "-2",
      backgroundColor: COLORS[0] + "22",
    }],
    ["sp.p10", "TS p10", { borderDash: [4, 3], borderColor: COLORS[3] }],
    ["sp.p50", "TS p50", { borderColor: COLORS[3], borderWidth: 2 }],
    ["sp.p90", "TS p90", {
      borderDash: [4, 3],
      borderColor: COLORS[3],
      fill: "-2",
      backgroundColor: COLORS[3] + "22",
    }],
  ]),
  lr: lineChart("chart-lr", [["lr", "learning rate"]]),
  throughput: lineChart("chart-throughput", [
    ["imagesPerSec", "images/s"],
    ["stepMs", "step ms", { yAxisID: "y1" }],
  ], { y1: true }),
  gpu: lineChart("chart-gpu", []),
  eval: lineChart("chart-eval", [
    ["cluster_acc", "cluster acc"],
    ["cluster_miou", "cluster mIoU"],
    ["linear_acc", "linear acc"],
    ["linear_miou", "linear mIoU"],
  ]),
};

/** Looks up "a.b" in an object. */
function pick(obj, path) {
  let v = obj;
  for (const k of path.split(".")) v = v?.[k];
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

const dirty = new Set();
let frameQueued = false;
function redrawSoon(chart) {
  dirty.add(chart);
  if (frameQueued) return;
  frameQueued = true;
  const flush = () => {
    frameQueued = false;
    for (const c of dirty) {
      // The decimation plugin swaps `dataset.data` for a decimated copy; hand it the full series each time.
      for (const ds of c.data.datasets) ds.data = ds.hpPoints;
      c.update("none");
    }
    dirty.clear();
  };
  // Hidden tabs get no animation frames; a timeout keeps the charts current anyway.
  if (document.hidden) setTimeout(flush, 250);
  else requestAnimationFrame(flush);
}

function addPoints(chart, step, source) {
  for (const ds of chart.data.datasets) {
    const y = pick(source, ds.hpKey);
    if (y !== undefined) ds.hpPoints.push({ x: step, y });
  }
  redrawSoon(chart);
}

let runId = null;
let lastMetrics = null;
const pictures = new Map(); // kind → figure element
const stats = { messages: 0, metrics: 0, evals: 0, pictures: 0, picturesLoaded: 0, resets: 0 };

function resetPage(newRunId) {
  runId = newRunId;
  lastMetrics = null;
  for (const c of Object.values(charts)) {
    for (const ds of c.data.datasets) ds.data = ds.hpPoints = [];
    if (c === charts.gpu) c.data.datasets = [];
    c.update("none");
  }
  document.getElementById("card-gpu").hidden = true;
  for (const fig of pictures.values()) fig.remove();
  pictures.clear();
  document.getElementById("no-pictures").hidden = false;
  document.getElementById("run-id").textContent = runId ?? "no run";
  document.getElementById("progress-text").textContent = "no metrics yet";
  document.getElementById("progress-bar").style.width = "0";
  document.getElementById("message").textContent = "";
  setState("waiting");
  Object.assign(stats, { messages: 0, metrics: 0, evals: 0, pictures: 0, picturesLoaded: 0 });
  stats.resets++;
}

function setState(state) {
  const el = document.getElementById("state");
  el.textContent = state;
  el.className = "badge state-" + state;
}

function fmt(v, digits = 3) {
  if (v === undefined || v === null || !Number.isFinite(v)) return "–";
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : v.toFixed(digits);
}

function fmtDuration(s) {
  if (!Number.isFinite(s) || s < 0) return "–";
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m` : `${m}m${String(sec).padStart(2, "0")}s`;
}

/** Status text; a JSON object of numbers (e.g. the final metrics) is shown as "key value · …". */
function formatMessage(text) {
  if (!text) return "";
  try {
    const v = JSON.parse(text);
    if (v && typeof v === "object" && !Array.isArray(v)) {
      return Object.entries(v).map(([k, x]) => `${k} ${typeof x === "number" ? fmt(x, 2) : x}`).join(" · ");
    }
  } catch { /* plain text */ }
  return text;
}

function onMetrics(m) {
  stats.metrics++;
  lastMetrics = m;
  addPoints(charts.losses, m.step, m.losses);
  addPoints(charts.lambda, m.step, { lambda: m.lambda });
  addPoints(charts.positives, m.step, m.positives);
  addPoints(charts.thresholds, m.step, m.thresholds);
  addPoints(charts.lr, m.step, { lr: m.lr });
  addPoints(charts.throughput, m.step, m);
  if (m.gpuPassMs && Object.keys(m.gpuPassMs).length > 0) {
    const gpu = charts.gpu;
    document.getElementById("card-gpu").hidden = false;
    for (const name of Object.keys(m.gpuPassMs)) {
      if (!gpu.data.datasets.some((d) => d.hpKey === name)) {
        const c = COLORS[gpu.data.datasets.length % COLORS.length];
        gpu.data.datasets.push({
          label: name,
          hpKey: name,
          data: [],
          hpPoints: [],
          borderColor: c,
          pointRadius: sparsePoints,
        });
      }
    }
    addPoints(gpu, m.step, m.gpuPassMs);
  }
  const frac = m.totalSteps > 0 ? Math.min(1, m.step / m.totalSteps) : 0;
  document.getElementById("progress-bar").style.width = (100 * frac).toFixed(1) + "%";
  // The trainer's own estimate of the run's remaining time (the terminal shows the same number).
  const eta = typeof m.etaSeconds === "number"
    ? m.etaSeconds
    : m.stepMs > 0
    ? ((m.totalSteps - m.step) * m.stepMs) / 1000
    : NaN;
  document.getElementById("progress-text").textContent = `step ${m.step}/${m.totalSteps} · epoch ${m.epoch}` +
    ` · loss ${fmt(m.losses?.total)} · ${fmt(m.imagesPerSec, 1)} img/s · ${fmt(m.stepMs, 1)} ms/step` +
    ` · ETA ${fmtDuration(eta)}`;
}

function onPicture(p) {
  stats.pictures++;
  let fig = pictures.get(p.kind);
  if (!fig) {
    fig = document.createElement("figure");
    fig.dataset.kind = p.kind;
    const img = document.createElement("img");
    img.alt = p.kind;
    img.addEventListener("load", () => {
      stats.picturesLoaded++;
      fig.dataset.loaded = "1";
    });
    const cap = document.createElement("figcaption");
    fig.append(img, cap);
    document.getElementById("pictures").append(fig);
    pictures.set(p.kind, fig);
    document.getElementById("no-pictures").hidden = true;
  }
  const label = { ghp: "GHP set", lhp: "LHP neighbours", pred: "predictions" }[p.kind] ?? p.kind;
  fig.querySelector("figcaption").textContent = `${label} · step ${p.step}` +
    (p.caption ? ` · ${p.caption}` : "");
  const src = withToken(
    `/runs/${encodeURIComponent(runId ?? "")}/${p.file.split("/").map(encodeURIComponent).join("/")}`,
  );
  fig.querySelector("img").src = src;
}

/** A resumed run re-does the steps after its checkpoint: drop what the interrupted attempt drew for them. */
function dropAfter(step) {
  for (const c of Object.values(charts)) {
    for (const ds of c.data.datasets) ds.data = ds.hpPoints = ds.hpPoints.filter((p) => p.x <= step);
    redrawSoon(c);
  }
}

function onMessage(m) {
  stats.messages++;
  switch (m.type) {
    case "status":
      if (typeof m.resumedFrom === "number") dropAfter(m.resumedFrom);
      setState(m.state);
      if (m.state === "done" || m.state === "failed" || m.state === "stopped") loadRuns();
      if (m.runId && m.runId !== runId) {
        runId = m.runId;
        document.getElementById("run-id").textContent = runId;
      }
      document.getElementById("message").textContent = formatMessage(m.message);
      if (m.config) document.getElementById("config").textContent = JSON.stringify(m.config, null, 2);
      break;
    case "metrics":
      onMetrics(m);
      break;
    case "eval":
      stats.evals++;
      addPoints(charts.eval, m.step, m.metrics);
      break;
    case "picture":
      onPicture(m);
      break;
  }
}

// Live feed ---------------------------------------------------------------------------------------------
let source = null;
let currentRun = null; // id of the run the server is training now
let viewing = null; // id of the run shown (null = the live run)

function setConn(on, text) {
  const el = document.getElementById("conn");
  el.textContent = text;
  el.className = "badge " + (on ? "conn-on" : "conn-off");
}

function connect() {
  if (source) source.close();
  source = new EventSource(withToken("/events?history=1"));
  source.addEventListener("reset", (e) => {
    const { runId: id } = JSON.parse(e.data);
    currentRun = id;
    resetPage(id);
    setConn(false, "loading history");
  });
  source.addEventListener("live", () => setConn(true, "live"));
  source.onmessage = (e) => {
    try {
      onMessage(JSON.parse(e.data));
    } catch (err) {
      console.error("bad telemetry message", err, e.data);
    }
  };
  source.onerror = () => setConn(false, "reconnecting");
}

async function showPastRun(id) {
  if (source) source.close();
  source = null;
  setConn(false, "viewing log");
  const res = await fetch(withToken(`/api/history?run=${encodeURIComponent(id)}`));
  const body = await res.json();
  resetPage(id);
  for (const m of body.messages ?? []) onMessage(m);
}

async function loadRuns() {
  const sel = document.getElementById("runs");
  try {
    const res = await fetch(withToken("/api/runs"));
    const body = await res.json();
    sel.replaceChildren();
    for (const r of body.runs) {
      const o = document.createElement("option");
      o.value = r.id;
      const step = r.step !== undefined ? ` · step ${r.step}/${r.totalSteps}` : "";
      o.textContent = `${r.id}${r.current ? " (live)" : ""} · ${r.state ?? "?"}${step}`;
      if ((viewing ?? body.current) === r.id) o.selected = true;
      sel.append(o);
    }
  } catch (err) {
    console.error("cannot list runs", err);
  }
}

document.getElementById("runs").addEventListener("change", (e) => {
  const id = e.target.value;
  if (id === currentRun || (viewing === null && id === runId)) {
    viewing = null;
    connect();
  } else {
    viewing = id;
    showPastRun(id);
  }
});

// Exposed for the headless browser test and for debugging in the console.
globalThis.hpsegDashboard = {
  stats,
  charts,
  last: () => lastMetrics,
  points: () =>
    Object.fromEntries(Object.entries(charts).map(([k, c]) => [k, c.data.datasets[0]?.hpPoints.length ?? 0])),
};

connect();
loadRuns();
setInterval(loadRuns, 15000);

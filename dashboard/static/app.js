// hpseg dashboard page (issue 7 §2, issue 14): the entry module. It keeps one record per run (series,
// evaluations, pictures, statuses), fills it from a snapshot (`/api/snapshot`, or the `snapshot` event of
// `/events?snapshot=1` for the server's current run) and then from the live EventSource feed, and draws the
// run view (charts.js, pictures.js, eval_detail.js, facts.js), the compare view (several runs overlaid, with
// their configuration differences) and the runs table (runs.js).
//
// The stream: `reset` (which run, whether the server trains it, where runs are kept), `snapshot`, `live`,
// then messages; `end` when the run reached a final state or the server only browses logs — the page then
// closes the stream (no retrying) and, after a live run, says where to browse it later (issue 14 §1).
import { downloadUrl, getJson, withToken } from "./api.js";
import { ChartBoard } from "./charts.js";
import { panelSeries, RUN_COLORS } from "./chart_specs.js";
import { apply, fromSnapshot, newRun } from "./run_data.js";
import { PictureBoard } from "./pictures.js";
import { EvalDetail } from "./eval_detail.js";
import { RunsTable } from "./runs.js";
import { renderConfigDiff, renderConfigTable } from "./config_view.js";
import { finalScoresText } from "./format.js";
import {
  renderFacts,
  renderFinal,
  renderMessage,
  renderProgress,
  showEndBanner,
  tickElapsed,
} from "./facts.js";

const $ = (id) => document.getElementById(id);
const FINAL = new Set(["done", "stopped", "failed"]);
const POLL_MS = 15000;

// ---- page state --------------------------------------------------------------------------------------------
const page = {
  server: { runId: null, live: false, keepServing: false, runsDir: "runs" },
  shown: null, // run shown in the run view
  compare: [], // ids overlaid (compare view when ≥ 2)
  ended: false, // the server's live run reached its end
  tab: "run",
};
const runs = new Map();
const stats = {
  messages: 0,
  metrics: 0,
  evals: 0,
  pictures: 0,
  resets: 0,
  snapshots: 0,
  ends: 0,
  runLists: 0,
  phases: {}, // progress messages received per phase
};
let listing = [];

// ---- theme: Chart.js colours follow the CSS variables (light or dark) --------------------------------------
function applyTheme() {
  const css = getComputedStyle(document.documentElement);
  const v = (n) => css.getPropertyValue(n).trim();
  globalThis.Chart.defaults.color = v("--muted") || "#66707c";
  globalThis.Chart.defaults.borderColor = v("--grid") || "#dde1e6";
}
applyTheme();

const board = new ChartBoard($("charts"), {
  onZoom: (panel, min, max) => zoom(panel, min, max),
  downloads: (panel) => {
    const id = page.compare.length > 1 ? page.compare[0] : page.shown;
    const d = runs.get(id);
    if (!d) return [];
    const keys = panelSeries(panel.spec, d.config, [...d.series.keys()]).map(([k]) => k);
    return keys.length ? [downloadUrl(id, keys, "csv"), downloadUrl(id, keys, "json")] : [];
  },
});
const pictureBoard = new PictureBoard($("pictures"), $("enlarge"), $("no-pictures"));
const evalDetail = new EvalDetail($("eval-detail"));
const table = new RunsTable($("runs-table"), $("meta-dialog"), {
  open: (id) => openRun(id),
  selectionChanged: (ids) => {
    $("compare-btn").disabled = ids.length < 2;
    $("compare-btn").textContent = `Overlay selected (${ids.length})`;
    renderConfigDiff($("config-diff"), ids.map((id) => diffEntry(id)));
  },
  colorOf: (id) => colorOf(id),
});

function colorOf(id) {
  const i = table.sorted().map((r) => r.id).filter((x) => table.selected.has(x)).indexOf(id);
  return i >= 0 ? RUN_COLORS[i % RUN_COLORS.length] : undefined;
}

function labelOf(id) {
  return listing.find((r) => r.id === id)?.name ?? id;
}

function diffEntry(id) {
  const s = listing.find((r) => r.id === id);
  return { label: labelOf(id), color: colorOf(id), config: runs.get(id)?.config ?? s?.config };
}

// ---- drawing -----------------------------------------------------------------------------------------------
function setBadge(el, text, cls) {
  el.textContent = text;
  el.className = `badge ${cls}`;
}

function factsView(d) {
  const live = d.id === page.server.runId && page.server.live && !page.ended;
  return { ...d, live, runsDir: page.server.runsDir };
}

/** Draws the run view (one run) or the compare view (several). */
function render() {
  const comparing = page.compare.length > 1;
  setDownloads();
  document.body.classList.toggle("comparing", comparing);
  $("compare-box").hidden = !comparing;
  if (comparing) {
    const list = page.compare.filter((id) => runs.has(id)).map((id, i) => ({
      id,
      label: labelOf(id),
      color: RUN_COLORS[i % RUN_COLORS.length],
      data: runs.get(id),
    }));
    $("run-id").textContent = `comparing ${list.length} runs`;
    setBadge($("state"), "compare", "state-compare");
    renderConfigDiff(
      $("compare-diff"),
      list.map((r) => ({ label: r.label, color: r.color, config: r.data.config })),
    );
    $("compare-key").replaceChildren(...list.map((r) => {
      const s = document.createElement("span");
      s.className = "run-chip";
      s.style.borderColor = r.color;
      s.textContent = `${r.label} · ${r.data.state}`;
      return s;
    }));
    board.set(list, axisOptions());
    return;
  }
  const d = runs.get(page.shown);
  if (!d) return;
  $("run-id").textContent = labelOf(d.id);
  $("run-id").title = d.id;
  setBadge($("state"), d.state, `state-${d.state}`);
  document.title = `${d.state} · ${labelOf(d.id)} · hpseg`;
  renderMessage(d.state === "done" && d.final ? "" : d.message);
  renderFinal(finalScoresText(scoresView(d)));
  renderProgress(factsView(d));
  renderFacts(factsView(d));
  renderConfigTable($("config"), d.config);
  board.set([{ id: d.id, label: labelOf(d.id), color: RUN_COLORS[0], data: d }], axisOptions());
  pictureBoard.set(d.id, d.pictures);
  evalDetail.set(d.evals);
}

/** What the scores line needs of a run: its state, final scores, evaluations and last step. */
function scoresView(d) {
  const steps = [d.lastMetrics?.step, d.progress?.step, d.summary?.step].filter(Number.isFinite);
  return {
    state: d.state,
    final: d.final,
    evals: d.evals,
    lastStep: steps.length ? Math.max(...steps) : NaN,
  };
}

/** The toolbar's links to every series of the run shown (the first compared run). */
function setDownloads() {
  const id = page.compare.length > 1 ? page.compare[0] : page.shown;
  for (const [el, fmt] of [[$("dl-all-csv"), "csv"], [$("dl-all-json"), "json"]]) {
    if (id) el.href = downloadUrl(id, [], fmt);
    else el.removeAttribute("href");
  }
}

function axisOptions() {
  return { axis: $("x-axis").value, smoothing: Number($("smoothing").value) };
}

/** A live message for the server's run: fold it and redraw what it touches. */
function onLive(m) {
  stats.messages++;
  const id = page.server.runId;
  let d = runs.get(id);
  if (!d) runs.set(id, d = newRun(id));
  apply(d, m);
  if (m.type === "metrics") stats.metrics++;
  if (m.type === "eval") stats.evals++;
  if (m.type === "picture") stats.pictures++;
  if (m.type === "progress") stats.phases[m.phase] = (stats.phases[m.phase] ?? 0) + 1;
  // A run the list does not know yet (it started after the last poll): list again, once.
  if (!listing.some((r) => r.id === id) && !page.listingAsked) {
    page.listingAsked = true;
    loadRuns();
  }
  const fields = {
    state: d.state,
    step: d.lastMetrics?.step ?? d.progress?.step,
    totalSteps: d.totalSteps || undefined,
  };
  if (m.type === "status" && FINAL.has(m.state)) {
    Object.assign(fields, { live: false, final: m.final, ended: m.time });
  }
  table.patch(id, fields);
  const visible = page.compare.length > 1 ? page.compare.includes(id) : page.shown === id;
  if (!visible) return;
  if (m.type === "metrics" || m.type === "eval" || m.type === "status") board.renderSoon();
  if (page.compare.length > 1) return;
  if (m.type === "picture") pictureBoard.add(m);
  if (m.type === "eval") evalDetail.set(d.evals);
  if (m.type === "status") {
    if (m.config) renderConfigTable($("config"), d.config);
    if (m.facts || FINAL.has(m.state)) renderFacts(factsView(d));
    setBadge($("state"), d.state, `state-${d.state}`);
    document.title = `${d.state} · ${labelOf(d.id)} · hpseg`;
    renderMessage(d.state === "done" && d.final ? "" : d.message);
    renderFinal(finalScoresText(scoresView(d)));
  }
  renderProgress(factsView(d));
}

// ---- the live stream ---------------------------------------------------------------------------------------
let source = null;
let pollTimer = null;

function setConn(text, on) {
  setBadge($("conn"), text, on ? "conn-on" : "conn-off");
}

function connText() {
  if (page.server.live && !page.ended) return "live";
  return page.server.trainer ? "run ended" : "browsing logs";
}

function connect() {
  source?.close();
  source = new EventSource(withToken("/events?snapshot=1"));
  source.addEventListener("reset", (e) => {
    stats.resets++;
    page.server = JSON.parse(e.data);
    page.ended = false;
    $("banner").hidden = true;
    setConn("loading", false);
  });
  source.addEventListener("snapshot", (e) => {
    stats.snapshots++;
    const d = fromSnapshot(JSON.parse(e.data));
    runs.set(d.id, d);
    if (page.shown === null || page.shown === d.id) {
      page.shown = d.id;
      if (page.compare.length < 2) render();
    }
  });
  source.addEventListener(
    "live",
    () => setConn(page.server.live ? "live" : "browsing logs", page.server.live),
  );
  source.addEventListener("end", () => {
    stats.ends++;
    source?.close();
    source = null;
    const wasLive = page.server.live;
    page.ended = true;
    setConn(connText(), false);
    if (wasLive) {
      const d = runs.get(page.server.runId);
      showEndBanner({
        state: d?.state ?? "ended",
        id: page.server.runId,
        runsDir: page.server.runsDir,
        keepServing: page.server.keepServing,
      });
      // The trainer's server is going away: no more polling (unless it stays up).
      if (!page.server.keepServing) stopPolling();
      if (d && page.shown === d.id && page.compare.length < 2) renderFacts(factsView(d));
      if (d) renderProgress(factsView(d));
    }
  });
  source.onmessage = (e) => {
    try {
      onLive(JSON.parse(e.data));
    } catch (err) {
      console.error("bad telemetry message", err, e.data);
    }
  };
  source.onerror = () => {
    if (!page.ended) setConn("reconnecting", false);
  };
}

async function loadRuns() {
  try {
    const body = await getJson("/api/runs");
    stats.runLists++;
    listing = body.runs;
    $("runs-count").textContent = String(listing.length);
    $("runs-dir").textContent = body.runsDir;
    table.set(listing);
    if (page.shown) {
      $("run-id").textContent = page.compare.length > 1 ? $("run-id").textContent : labelOf(page.shown);
    }
  } catch (err) {
    console.warn("cannot list runs:", err.message);
    // No stream either (the run ended, or a runs browser): the server has gone away; stop asking.
    if (page.ended) {
      stopPolling();
      setConn("server stopped", false);
    }
  }
}

function stopPolling() {
  if (pollTimer !== null) clearInterval(pollTimer);
  pollTimer = null;
}

/** Loads (or reloads, when not the live run) a run's snapshot. */
async function ensureRun(id) {
  const live = id === page.server.runId && runs.has(id);
  if (live) return runs.get(id);
  const snap = await getJson(`/api/snapshot?run=${encodeURIComponent(id)}`);
  const d = fromSnapshot(snap);
  runs.set(id, d);
  return d;
}

async function openRun(id) {
  try {
    await ensureRun(id);
    page.shown = id;
    page.compare = [];
    showTab("run");
    render();
  } catch (err) {
    $("message").textContent = `cannot open ${id}: ${err.message}`;
  }
}

async function compareSelected() {
  const ids = table.sorted().map((r) => r.id).filter((id) => table.selected.has(id));
  if (ids.length < 2) return;
  try {
    await Promise.all(ids.map((id) => ensureRun(id)));
    page.compare = ids;
    showTab("run");
    board.resetZoom();
    render();
  } catch (err) {
    $("compare-note").textContent = `cannot load: ${err.message}`;
  }
}

/** A zoomed panel: fetch the visible step range at full resolution for runs whose series were reduced. */
async function zoom(panel, min, max) {
  const list = page.compare.length > 1 ? page.compare : [page.shown];
  for (const id of list) {
    const d = runs.get(id);
    if (!d) continue;
    for (const k of [...d.zoom.keys()]) if (k.startsWith(`${panel.spec.id}:`)) d.zoom.delete(k);
    if (min === null) continue;
    const keys = panelSeries(panel.spec, d.config, [...d.series.keys()]).map(([k]) => k)
      .filter((k) => (d.counts[k] ?? 0) > (d.series.get(k)?.step.length ?? 0));
    if (keys.length === 0) continue;
    const [from, to] = stepRange(d, keys[0], min, max);
    try {
      const body = await getJson(
        `/api/series?run=${encodeURIComponent(id)}&keys=${
          encodeURIComponent(keys.join(","))
        }&from=${from}&to=${to}&points=2000`,
      );
      for (const [k, s] of Object.entries(body.series)) d.zoom.set(`${panel.spec.id}:${k}`, s);
      board.renderPanel(panel);
    } catch (err) {
      console.warn("zoom: cannot load the full series", err.message);
    }
  }
}

/** The step range of an x range on the chosen axis. */
function stepRange(d, key, min, max) {
  const axis = $("x-axis").value;
  if (axis === "step") return [Math.floor(min), Math.ceil(max)];
  const s = d.series.get(key);
  const x = (i) => (axis === "relative" ? s.t[i] / 1000 : d.t0 + s.t[i]);
  let from = s.step[0] ?? 0, to = s.step[s.step.length - 1] ?? 0;
  for (let i = 0; i < s.step.length; i++) {
    if (x(i) <= min) from = s.step[i];
    if (x(i) <= max) to = s.step[Math.min(i + 1, s.step.length - 1)];
  }
  return [from, to];
}

// ---- controls ----------------------------------------------------------------------------------------------
function showTab(tab) {
  page.tab = tab;
  $("view-run").hidden = tab !== "run";
  $("view-runs").hidden = tab !== "runs";
  $("tab-run").classList.toggle("active", tab === "run");
  $("tab-runs").classList.toggle("active", tab === "runs");
  if (tab === "runs") table.render();
  if (tab === "run") board.renderAll();
}

$("tab-run").addEventListener("click", () => showTab("run"));
$("tab-runs").addEventListener("click", () => showTab("runs"));
$("compare-btn").addEventListener("click", () => compareSelected());
$("exit-compare").addEventListener("click", () => {
  page.compare = [];
  board.resetZoom();
  render();
});
$("x-axis").addEventListener("change", () => {
  board.resetZoom();
  board.set(board.runs, axisOptions());
});
$("smoothing").addEventListener("input", () => {
  $("smoothing-value").textContent = Number($("smoothing").value).toFixed(2);
  board.set(board.runs, axisOptions());
});
$("reset-zoom").addEventListener("click", () => board.resetZoom());
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
  applyTheme();
  render();
});
setInterval(() => {
  const d = runs.get(page.shown);
  if (!d || page.compare.length > 1) return;
  const view = factsView(d);
  if (view.live) {
    tickElapsed(view);
    renderProgress(view);
  }
}, 1000);

// Exposed for the headless browser tests and for debugging in the console.
globalThis.hpsegDashboard = {
  stats,
  page,
  runs,
  board,
  pictures: pictureBoard,
  points: () => board.pointCounts(),
  runsIn: (panel) => board.runsIn(panel),
  table,
};

connect();
loadRuns();
pollTimer = setInterval(loadRuns, POLL_MS);

// The dashboard's chart panels (issue 14 §3): Chart.js line charts built from the specs in chart_specs.js,
// for one run or several overlaid (one colour per run, one dash pattern per series). Per panel: a log-scale
// toggle, zoom (drag a range; pinch on touch; Ctrl+wheel) and pan (Shift+drag) through the vendored
// chartjs-plugin-zoom, double-click or "reset" to zoom out, and CSV/JSON downloads of its series. Board-wide:
// the x axis (step, time since start, wall-clock time) and a smoothing weight (the raw curve stays, faint).
// A zoomed panel asks the page for the visible range at full resolution (`onZoom`).
import { PANELS, panelSeries, SERIES_COLORS } from "./chart_specs.js";
import { emaSmooth } from "./smooth.js";
import { fmtClock, fmtDuration } from "./format.js";

const Chart = globalThis.Chart;
const DASHES = [[], [6, 3], [2, 2], [10, 3, 2, 3], [1, 3], [12, 4]];

/** Hex colour with an alpha byte. */
function alpha(hex, a) {
  return hex + Math.round(a * 255).toString(16).padStart(2, "0");
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** x of a point for the chosen axis: step, seconds since the run's start, or wall-clock ms. */
function xOf(axis, s, i, t0) {
  if (axis === "relative") return s.t[i] / 1000;
  if (axis === "wall") return t0 + s.t[i];
  return s.step[i];
}

/** A board of chart panels; see the module comment. */
export class ChartBoard {
  /**
   * @param {HTMLElement} container where the cards go
   * @param {{ onZoom(panel, from, to): void, downloads(panel): Array<[string, string]> }} hooks
   */
  constructor(container, hooks) {
    this.hooks = hooks;
    this.axis = "step";
    this.smoothing = 0;
    this.runs = []; // [{ id, label, color, data }]
    this.panels = new Map();
    for (const spec of PANELS) this.panels.set(spec.id, this.#card(container, spec));
    this.pending = false;
  }

  #card(container, spec) {
    const fig = el("figure", "card");
    fig.dataset.panel = spec.id;
    const head = el("div", "card-head");
    const cap = el("figcaption", "", spec.title);
    if (spec.note) cap.title = spec.note;
    const tools = el("span", "card-tools");
    const log = el("button", "tool log", "log");
    log.type = "button";
    log.title = "logarithmic y axis";
    const reset = el("button", "tool reset", "reset");
    reset.type = "button";
    reset.title = "zoom out (or double-click the chart)";
    const csv = el("a", "tool dl", "CSV");
    const json = el("a", "tool dl", "JSON");
    csv.title = json.title = "download this panel's series at full resolution";
    tools.append(log, reset, csv, json);
    head.append(cap, tools);
    const box = el("div", "canvas-box");
    const canvas = el("canvas");
    box.append(canvas);
    fig.append(head, box);
    container.append(fig);
    const panel = {
      spec,
      fig,
      log: spec.log === true,
      range: null,
      hidden: new Set(),
      csv,
      json,
      chart: null,
    };
    log.classList.toggle("on", panel.log);
    log.addEventListener("click", () => {
      panel.log = !panel.log;
      log.classList.toggle("on", panel.log);
      this.renderPanel(panel);
    });
    const zoomOut = () => {
      panel.range = null;
      this.hooks.onZoom?.(panel, null, null);
      this.renderPanel(panel);
    };
    reset.addEventListener("click", zoomOut);
    canvas.addEventListener("dblclick", zoomOut);
    panel.chart = this.#chart(canvas, panel);
    return panel;
  }

  #chart(canvas, panel) {
    const spec = panel.spec;
    const done = ({ chart }) => {
      const x = chart.scales.x;
      panel.range = { min: x.min, max: x.max };
      this.hooks.onZoom?.(panel, x.min, x.max);
    };
    return new Chart(canvas, {
      type: "line",
      data: { datasets: [] },
      options: {
        animation: false,
        parsing: false,
        normalized: true,
        maintainAspectRatio: false,
        spanGaps: true,
        interaction: { mode: "nearest", axis: "x", intersect: false },
        plugins: {
          legend: {
            labels: {
              boxWidth: 14,
              // One entry per series: in the compare view the runs are told apart by colour (key above the
              // charts), the series by dash pattern.
              generateLabels: (chart) => {
                const seen = new Map();
                for (const d of chart.data.datasets) {
                  if (d.hpRaw || seen.has(d.hpSeries)) continue;
                  seen.set(d.hpSeries, {
                    text: d.hpSeries,
                    fillStyle: this.runs.length > 1 ? "transparent" : d.borderColor,
                    strokeStyle: this.runs.length > 1 ? Chart.defaults.color : d.borderColor,
                    lineDash: d.borderDash ?? [],
                    lineWidth: 2,
                    hidden: panel.hidden.has(d.hpSeries),
                    fontColor: Chart.defaults.color,
                    hpSeries: d.hpSeries,
                  });
                }
                return [...seen.values()];
              },
            },
            onClick: (_e, item) => {
              if (panel.hidden.has(item.hpSeries)) panel.hidden.delete(item.hpSeries);
              else panel.hidden.add(item.hpSeries);
              this.renderPanel(panel);
            },
          },
          tooltip: { filter: (item) => !item.dataset.hpRaw },
          decimation: { enabled: true, algorithm: "min-max" },
          zoom: {
            pan: { enabled: true, mode: "x", modifierKey: "shift", onPanComplete: done },
            zoom: {
              mode: "x",
              drag: { enabled: true, threshold: 8 },
              pinch: { enabled: true },
              wheel: { enabled: true, modifierKey: "ctrl" },
              onZoomComplete: done,
            },
          },
        },
        scales: {
          x: { type: "linear", title: { display: true, text: "step" }, ticks: { maxTicksLimit: 7 } },
          y: { type: "linear", title: { display: true, text: spec.y }, ticks: { maxTicksLimit: 6 } },
          ...(spec.y1
            ? {
              y1: {
                type: "linear",
                position: "right",
                title: { display: true, text: spec.y1 },
                grid: { drawOnChartArea: false },
              },
            }
            : {}),
        },
      },
    });
  }

  /** Sets what is drawn: runs (each { id, label, color, data }) and the board options. */
  set(runs, opts = {}) {
    this.runs = runs;
    if (opts.axis) this.axis = opts.axis;
    if (opts.smoothing !== undefined) this.smoothing = opts.smoothing;
    this.renderAll();
  }

  /** Redraws every panel at the next animation frame (or soon, in a hidden tab). */
  renderSoon() {
    if (this.pending) return;
    this.pending = true;
    const go = () => {
      this.pending = false;
      this.lastRender = performance.now();
      this.renderAll();
    };
    // At most 4 redraws a second however fast messages come; a hidden tab gets no animation frames.
    const wait = Math.max(0, 250 - (performance.now() - (this.lastRender ?? -Infinity)));
    if (document.hidden) setTimeout(go, Math.max(wait, 250));
    else setTimeout(() => requestAnimationFrame(go), wait);
  }

  renderAll() {
    for (const p of this.panels.values()) this.renderPanel(p);
  }

  /** Zooms every panel out. */
  resetZoom() {
    for (const p of this.panels.values()) {
      p.range = null;
      this.hooks.onZoom?.(p, null, null);
    }
    this.renderAll();
  }

  /** Rebuilds one panel's datasets and scales from the runs' data. */
  renderPanel(panel) {
    const { spec, chart } = panel;
    const compare = this.runs.length > 1;
    const datasets = [];
    let maxStep = 0, any = false;
    for (const run of this.runs) {
      const d = run.data;
      const series = panelSeries(spec, d.config, [...d.series.keys()]);
      maxStep = Math.max(maxStep, d.totalSteps ?? 0);
      series.forEach(([key, label, o], i) => {
        const s = d.zoom?.get(`${spec.id}:${key}`) ?? d.series.get(key);
        if (!s || s.step.length === 0) return;
        any = true;
        const color = compare ? run.color : SERIES_COLORS[(o?.color ?? i) % SERIES_COLORS.length];
        const dash = compare ? DASHES[i % DASHES.length] : (o?.style === "dash" ? [4, 3] : []);
        const name = compare ? `${run.label} · ${label}` : label;
        const hidden = panel.hidden.has(label);
        const raw = s.y.map((y, k) => ({ x: xOf(this.axis, s, k, d.t0), y }));
        const base = {
          label: name,
          yAxisID: o?.axis ?? "y",
          borderColor: color,
          borderDash: dash,
          pointRadius: raw.length <= 30 ? 2.5 : 0,
          hidden,
          hpRun: run.id,
          hpKey: key,
          hpSeries: label,
        };
        if (this.smoothing > 0 && raw.length > 2) {
          datasets.push({
            ...base,
            data: raw,
            hpRaw: true,
            borderColor: alpha(color, 0.25),
            borderWidth: 1,
            pointRadius: 0,
          });
          const sm = emaSmooth(s.y, this.smoothing);
          datasets.push({ ...base, data: raw.map((p, k) => ({ x: p.x, y: sm[k] })), borderWidth: 1.8 });
        } else {
          datasets.push({
            ...base,
            data: raw,
            borderWidth: 1.6,
            fill: !compare && o?.fill ? o.fill : false,
            backgroundColor: alpha(color, 0.13),
          });
        }
      });
      if (spec.percent && Number.isFinite(d.kmeans)) {
        // The baseline across the whole run: k-means on the raw backbone features, same protocol.
        const xs = this.#xExtent(d);
        if (xs) {
          any = true;
          const name = compare ? `${run.label} · k-means baseline mIoU` : "k-means baseline mIoU";
          datasets.push({
            label: name,
            hpSeries: "k-means baseline mIoU",
            data: [{ x: xs[0], y: d.kmeans }, { x: xs[1], y: d.kmeans }],
            borderColor: compare ? run.color : "#7f7f7f",
            borderDash: [8, 4],
            borderWidth: 1.5,
            pointRadius: 0,
            hidden: panel.hidden.has("k-means baseline mIoU"),
            hpRun: run.id,
            hpKey: "baseline",
          });
        }
      }
    }
    panel.fig.hidden = !any && spec.dynamic !== undefined; // e.g. no GPU timestamps on this adapter
    chart.data.datasets = datasets;
    const x = chart.options.scales.x, y = chart.options.scales.y;
    x.title.text = { step: "step", relative: "time since start", wall: "wall-clock time" }[this.axis];
    x.ticks.callback = this.axis === "relative"
      ? (v) => fmtDuration(v)
      : this.axis === "wall"
      ? (v) => fmtClock(v)
      : (v) => Number(v).toLocaleString("en-US");
    if (panel.range) {
      x.min = panel.range.min;
      x.max = panel.range.max;
    } else if (this.axis === "step" && maxStep > 0) {
      x.min = 0; // the whole run from its start (one evaluation is not a range of its own)
      delete x.max;
    } else {
      delete x.min;
      delete x.max;
    }
    y.type = panel.log ? "logarithmic" : "linear";
    y.grace = panel.log ? 0 : "5%";
    if (spec.percent && !panel.log) {
      y.min = 0;
      y.max = 100;
    } else {
      delete y.min;
      delete y.max;
    }
    if (chart.options.scales.y1) chart.options.scales.y1.type = panel.log ? "logarithmic" : "linear";
    const dl = this.hooks.downloads?.(panel) ?? [];
    for (const [a, url] of [[panel.csv, dl[0]], [panel.json, dl[1]]]) {
      if (url) a.href = url;
      else a.removeAttribute("href");
    }
    chart.update("none");
  }

  #xExtent(d) {
    if (this.axis === "step") {
      let last = 0;
      for (const s of d.series.values()) last = Math.max(last, s.step[s.step.length - 1] ?? 0);
      return [0, last || d.totalSteps || 0];
    }
    let lo = Infinity, hi = -Infinity;
    for (const s of d.series.values()) {
      if (s.t.length === 0) continue;
      lo = Math.min(lo, s.t[0]);
      hi = Math.max(hi, s.t[s.t.length - 1]);
    }
    if (!Number.isFinite(lo)) return null;
    return this.axis === "relative" ? [lo / 1000, hi / 1000] : [d.t0 + lo, d.t0 + hi];
  }

  /** Points drawn per panel (first series of the first run, raw), for tests and debugging. */
  pointCounts() {
    const out = {};
    for (const [id, p] of this.panels) {
      const ds = p.chart.data.datasets.find((d) => !d.hpRaw) ?? p.chart.data.datasets[0];
      out[id] = ds ? ds.data.length : 0;
    }
    return out;
  }

  /** The runs drawn in a panel (ids of its datasets), for tests. */
  runsIn(panelId) {
    return [...new Set(this.panels.get(panelId).chart.data.datasets.map((d) => d.hpRun))];
  }
}

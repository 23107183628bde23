// What the dashboard plots (issue 14 §3): one panel per quantity, with axis titles and units; the HP terms
// and the probes' supervised losses in separate panels; series that are zero by configuration (the
// regulariser when α = 0) left out. Series keys are the dotted paths of the metrics message
// (dashboard/run_store.ts metricsValues; `eval.<score>` for evaluations). Pure data (tests import it).

/** Colours of the series within a panel (one run) and of the runs in the compare view. */
export const SERIES_COLORS = [
  "#2f6fde",
  "#d03a3a",
  "#1f9d55",
  "#c77c02",
  "#8e44ad",
  "#17a2b8",
  "#7f7f7f",
  "#e83e8c",
];
export const RUN_COLORS = [
  "#2f6fde",
  "#e8590c",
  "#2b8a3e",
  "#ae3ec9",
  "#c92a2a",
  "#1098ad",
  "#5c940d",
  "#862e9c",
];

/**
 * Panels. Each series: [key, label, options]; options.axis "y1" puts it on the right axis, options.style
 * "dash" draws it dashed, options.fill fills to the series `fill` places back, options.hideWhen(config)
 * leaves it out when the configuration makes it constant zero.
 */
export const PANELS = [
  {
    id: "hp",
    title: "Hidden-positive objective",
    y: "loss",
    note: "GHP and LHP terms (hp-method.md §5.4–5.5), their head loss L_HP + α·L_reg",
    series: [
      ["losses.ghp", "GHP term"],
      ["losses.lhp", "LHP term"],
      ["losses.reg", "regulariser L_reg", { hideWhen: (c) => c?.hp?.alpha === 0 }],
      ["losses.head", "head loss", { style: "dash" }],
    ],
  },
  {
    id: "probes",
    title: "Probe losses (supervised, do not train the head)",
    y: "cross-entropy",
    series: [["losses.lin", "linear probe"], ["losses.clu", "cluster probe"]],
  },
  {
    id: "positives",
    title: "Positives per anchor",
    y: "patches",
    series: [["positives.ag", "task-agnostic"], ["positives.sp", "task-specific"], [
      "positives.lhp",
      "LHP window",
    ]],
  },
  {
    id: "thresholds",
    title: "Anchor thresholds R (p10 / p50 / p90)",
    y: "cosine similarity",
    series: [
      ["thresholds.ag.p10", "task-agnostic p10", { color: 0, style: "dash" }],
      ["thresholds.ag.p50", "task-agnostic p50", { color: 0 }],
      ["thresholds.ag.p90", "task-agnostic p90", { color: 0, style: "dash", fill: "-2" }],
      ["thresholds.sp.p10", "task-specific p10", { color: 3, style: "dash" }],
      ["thresholds.sp.p50", "task-specific p50", { color: 3 }],
      ["thresholds.sp.p90", "task-specific p90", { color: 3, style: "dash", fill: "-2" }],
    ],
  },
  {
    id: "lambda",
    title: "λ (weight of task-specific positives)",
    y: "λ",
    series: [["lambda", "λ"]],
  },
  { id: "lr", title: "Learning rate", y: "learning rate", series: [["lr", "head learning rate"]] },
  {
    id: "throughput",
    title: "Throughput",
    y: "images / s",
    y1: "ms / step",
    series: [["imagesPerSec", "images/s"], ["stepMs", "ms/step", { axis: "y1" }]],
  },
  { id: "gpu", title: "GPU time per pass", y: "ms", log: true, dynamic: "gpuPassMs.", series: [] },
  {
    id: "eval",
    title: "Evaluation",
    y: "%",
    percent: true,
    series: [
      ["eval.cluster_acc", "cluster acc"],
      ["eval.cluster_miou", "cluster mIoU"],
      ["eval.linear_acc", "linear acc"],
      ["eval.linear_miou", "linear mIoU"],
    ],
  },
];

/** The series of a panel for a run: fixed ones minus those hidden by `config`, plus dynamic keys present. */
export function panelSeries(panel, config, keys) {
  const out = panel.series.filter(([, , o]) => !(o?.hideWhen && config && o.hideWhen(config)));
  if (panel.dynamic) {
    for (const k of keys) if (k.startsWith(panel.dynamic)) out.push([k, k.slice(panel.dynamic.length)]);
  }
  return out;
}

/**
 * The numeric fields of a metrics message by dotted path, plus `losses.head` = total − probe losses; the
 * same keys the server's series use (dashboard/run_store.ts metricsValues).
 */
export function metricsValues(m) {
  const out = new Map();
  const skip = new Set(["type", "step", "epoch", "totalSteps", "etaSeconds", "time"]);
  const walk = (v, path) => {
    if (typeof v === "number") out.set(path, v);
    else if (v && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) walk(x, path ? `${path}.${k}` : k);
    }
  };
  for (const [k, v] of Object.entries(m)) if (!skip.has(k)) walk(v, k);
  const l = m.losses;
  if (l && [l.total, l.lin, l.clu].every(Number.isFinite)) out.set("losses.head", l.total - l.lin - l.clu);
  return out;
}

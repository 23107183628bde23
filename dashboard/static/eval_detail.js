// Per-class results of each evaluation (issue 14 §4): IoU per class as horizontal bars and the confusion
// matrix as a heat map (rows: ground-truth class, columns: predicted class after the probe's mapping,
// each row normalised to 100 %), for the cluster or the linear probe, with a slider over the evaluations.
import { fmt } from "./format.js";

const Chart = globalThis.Chart;

function cssVar(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

/** The evaluation detail panel; see the module comment. */
export class EvalDetail {
  /** @param {HTMLElement} root the section holding the controls, the bar canvas and the matrix canvas */
  constructor(root) {
    this.root = root;
    this.slider = root.querySelector("#eval-step");
    this.stepText = root.querySelector("#eval-step-text");
    this.probe = root.querySelector("#eval-probe");
    this.matrix = root.querySelector("#confusion");
    this.hover = root.querySelector("#confusion-hover");
    this.evals = [];
    this.index = -1;
    this.follow = true;
    this.bars = new Chart(root.querySelector("#iou-chart"), {
      type: "bar",
      data: { labels: [], datasets: [] },
      options: {
        indexAxis: "y",
        animation: false,
        maintainAspectRatio: false,
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: (c) => `IoU ${fmt(c.raw, 1)} %` } },
        },
        scales: {
          x: { min: 0, max: 100, title: { display: true, text: "IoU (%)" } },
          y: { ticks: { autoSkip: false, font: { size: 11 } } },
        },
      },
    });
    this.slider.addEventListener("input", () => {
      this.index = Number(this.slider.value);
      this.follow = this.index === this.evals.length - 1;
      this.render();
    });
    this.probe.addEventListener("change", () => this.render());
    this.matrix.addEventListener("mousemove", (e) => this.#hover(e));
    this.matrix.addEventListener("mouseleave", () => (this.hover.textContent = ""));
  }

  /** Shows the evaluations (messages with `detail`) of a run. */
  set(evals) {
    this.evals = evals.filter((e) => e.detail);
    if (this.follow || this.index >= this.evals.length) this.index = this.evals.length - 1;
    this.root.hidden = this.evals.length === 0;
    this.slider.max = String(Math.max(0, this.evals.length - 1));
    this.slider.value = String(Math.max(0, this.index));
    this.slider.hidden = this.evals.length < 2;
    this.render();
  }

  render() {
    const e = this.evals[this.index];
    if (!e) return;
    const which = this.probe.value === "linear" ? "linear" : "cluster";
    const d = e.detail, p = d[which], n = d.classNames.length;
    this.stepText.textContent = `step ${e.step}` +
      (this.evals.length > 1 ? ` (${this.index + 1} of ${this.evals.length})` : "") +
      ` · ${which} probe: acc ${fmt(e.metrics[`${which}_acc`], 1)} %, mIoU ${
        fmt(e.metrics[`${which}_miou`], 1)
      } %`;
    const box = this.bars.canvas.parentElement;
    box.style.height = `${Math.max(160, 18 * n + 50)}px`;
    this.bars.data.labels = d.classNames;
    this.bars.data.datasets = [{
      data: p.iou.map((v) => (v === null ? 0 : v)),
      backgroundColor: p.iou.map((
        v,
      ) => (v === null ? "#9994" : which === "cluster" ? "#2f6fdecc" : "#c77c02cc")),
    }];
    this.bars.update("none");
    this.#drawMatrix(d.classNames, p.confusion);
  }

  #drawMatrix(names, counts) {
    const n = names.length, c = this.matrix;
    const label = Math.min(110, 8 + 6.2 * Math.max(...names.map((s) => s.length)));
    const avail = Math.max(200, Math.min(560, c.parentElement.clientWidth || 400));
    const cell = Math.max(4, Math.floor((avail - label) / n));
    const side = label + n * cell;
    const dpr = globalThis.devicePixelRatio || 1;
    c.width = side * dpr;
    c.height = side * dpr;
    c.style.width = `${side}px`;
    c.style.height = `${side}px`;
    const g = c.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, side, side);
    const fg = cssVar("--fg", "#1d232b");
    // counts[pred·n + gt]; row gt normalised over its predictions.
    const rows = [];
    for (let gt = 0; gt < n; gt++) {
      let sum = 0;
      for (let pr = 0; pr < n; pr++) sum += counts[pr * n + gt];
      rows.push(sum);
    }
    this.layout = { label, cell, n, names, counts, rows };
    for (let gt = 0; gt < n; gt++) {
      for (let pr = 0; pr < n; pr++) {
        const v = rows[gt] > 0 ? counts[pr * n + gt] / rows[gt] : 0;
        const ok = pr === gt;
        g.fillStyle = rows[gt] === 0
          ? "rgba(128,128,128,0.15)"
          : ok
          ? `rgba(31,157,85,${0.08 + 0.92 * v})`
          : `rgba(208,58,58,${0.04 + 0.96 * v})`;
        g.fillRect(label + pr * cell, label + gt * cell, cell - 1, cell - 1);
      }
    }
    g.fillStyle = fg;
    g.font = `${Math.min(12, Math.max(8, cell))}px system-ui, sans-serif`;
    g.textBaseline = "middle";
    g.textAlign = "right";
    if (cell >= 7) {
      for (let k = 0; k < n; k++) g.fillText(names[k], label - 4, label + k * cell + cell / 2, label - 6);
      g.save();
      g.translate(label, label - 4);
      g.rotate(-Math.PI / 2);
      g.textAlign = "left";
      for (let k = 0; k < n; k++) g.fillText(names[k], 0, k * cell + cell / 2, label - 6);
      g.restore();
    }
    g.textAlign = "left";
    g.font = "11px system-ui, sans-serif";
    g.fillText("ground truth ↓  predicted →", 2, 10, label - 4);
  }

  #hover(e) {
    const L = this.layout;
    if (!L) return;
    const r = this.matrix.getBoundingClientRect();
    const pr = Math.floor((e.clientX - r.left - L.label) / L.cell),
      gt = Math.floor((e.clientY - r.top - L.label) / L.cell);
    if (pr < 0 || gt < 0 || pr >= L.n || gt >= L.n) {
      this.hover.textContent = "";
      return;
    }
    const v = L.counts[pr * L.n + gt], share = L.rows[gt] > 0 ? (100 * v) / L.rows[gt] : NaN;
    this.hover.textContent = `ground truth ${L.names[gt]} → predicted ${L.names[pr]}: ${
      v.toLocaleString("en-US")
    } px (${fmt(share, 1)} % of the class)`;
  }
}

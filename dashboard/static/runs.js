// The runs browser's table (issue 14 §2): every run in the runs folder with its name, status, start,
// duration, steps, adapter, key configuration values and scores; click a header to sort (again to reverse),
// tick runs to overlay them, click a run to open it, and name runs and write notes (kept in the run folder).
import { fmtDate, fmtDuration, pct } from "./format.js";
import { putJson } from "./api.js";

const get = (o, path) => path.split(".").reduce((v, k) => v?.[k], o);

/** Columns: [id, header, value(summary), text(value, summary)?]. */
const COLUMNS = [
  ["name", "run", (r) => r.name ?? r.id],
  ["state", "status", (r) => r.state],
  ["started", "started", (r) => r.started ?? 0, (v) => fmtDate(v)],
  [
    "duration",
    "duration",
    (r) => (r.started && (r.ended ?? r.lastTime)) ? ((r.ended ?? r.lastTime) - r.started) / 1000 : NaN,
    (v) => fmtDuration(v),
  ],
  ["steps", "steps", (r) => r.step ?? 0, (v, r) => (r.totalSteps ? `${v}/${r.totalSteps}` : String(v))],
  ["adapter", "adapter", (r) => (r.facts?.adapter ?? "") + (r.facts?.software ? " (software)" : "")],
  ["dataset", "dataset", (r) => get(r.config, "dataset.name") ?? ""],
  ["backbone", "backbone", (r) => r.facts?.backbone ?? get(r.config, "backbone.arch") ?? ""],
  ["batch", "batch", (r) => get(r.config, "train.batch") ?? NaN],
  ["res", "res", (r) => get(r.config, "train.res") ?? NaN],
  ["lr", "lr", (r) => get(r.config, "train.lr") ?? NaN],
  ["cmiou", "cluster mIoU", (r) => score(r, "cluster_miou"), (v) => pct(v)],
  ["lmiou", "linear mIoU", (r) => score(r, "linear_miou"), (v) => pct(v)],
  ["kmiou", "k-means mIoU", (r) => r.final?.kmeans_miou ?? NaN, (v) => pct(v)],
];

function score(r, k) {
  const v = r.final?.[k] ?? r.lastEval?.metrics?.[k];
  return typeof v === "number" ? v : NaN;
}

function compare(a, b) {
  const na = typeof a === "number" && !Number.isNaN(a), nb = typeof b === "number" && !Number.isNaN(b);
  if (na && nb) return a - b;
  if (na !== nb) return na ? -1 : 1; // unknown last
  return String(a).localeCompare(String(b));
}

/** The table; see the module comment. */
export class RunsTable {
  /**
   * @param {HTMLTableElement} table
   * @param {{ open(id): void, selectionChanged(ids): void, colorOf(id): string|undefined }} hooks
   */
  constructor(table, dialog, hooks) {
    this.table = table;
    this.dialog = dialog;
    this.hooks = hooks;
    this.runs = [];
    this.sort = { col: "started", dir: -1 };
    this.selected = new Set();
    const head = document.createElement("tr");
    const sel = document.createElement("th");
    sel.textContent = "";
    head.append(sel);
    for (const [id, label] of COLUMNS) {
      const th = document.createElement("th");
      th.dataset.col = id;
      th.tabIndex = 0;
      th.textContent = label;
      th.title = "sort";
      const go = () => {
        this.sort = this.sort.col === id ? { col: id, dir: -this.sort.dir } : { col: id, dir: 1 };
        this.render();
      };
      th.addEventListener("click", go);
      th.addEventListener("keydown", (e) => e.key === "Enter" && go());
      head.append(th);
    }
    table.tHead.replaceChildren(head);
    dialog.querySelector("form").addEventListener("submit", (e) => this.#save(e));
    dialog.querySelector(".cancel").addEventListener("click", () => dialog.close());
  }

  /** New summaries from /api/runs. */
  set(runs) {
    this.runs = runs;
    for (const id of [...this.selected]) if (!runs.some((r) => r.id === id)) this.selected.delete(id);
    this.render();
  }

  /** Updates one run's row from live messages (state, step) without waiting for the next listing. */
  patch(id, fields) {
    const r = this.runs.find((x) => x.id === id);
    if (!r) return;
    Object.assign(r, fields);
    this.render();
  }

  /** Ids in the table's order. */
  sorted() {
    const col = COLUMNS.find((c) => c[0] === this.sort.col) ?? COLUMNS[2];
    return [...this.runs].sort((a, b) =>
      this.sort.dir * compare(col[2](a), col[2](b)) || (a.id < b.id ? -1 : 1)
    );
  }

  render() {
    const body = this.table.tBodies[0];
    body.replaceChildren();
    for (const th of this.table.tHead.querySelectorAll("th[data-col]")) {
      th.dataset.sort = th.dataset.col === this.sort.col ? (this.sort.dir > 0 ? "asc" : "desc") : "";
    }
    for (const r of this.sorted()) {
      const tr = document.createElement("tr");
      tr.dataset.run = r.id;
      if (this.selected.has(r.id)) tr.classList.add("selected");
      const td0 = document.createElement("td");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.checked = this.selected.has(r.id);
      box.setAttribute("aria-label", `select ${r.id}`);
      box.addEventListener("change", () => {
        if (box.checked) this.selected.add(r.id);
        else this.selected.delete(r.id);
        this.hooks.selectionChanged([...this.selected]);
        this.render();
      });
      const color = this.hooks.colorOf(r.id);
      if (color && this.selected.has(r.id)) td0.style.boxShadow = `inset 4px 0 0 ${color}`;
      td0.append(box);
      tr.append(td0);
      for (const [id, , value, text] of COLUMNS) {
        const td = document.createElement("td");
        td.dataset.col = id;
        const v = value(r);
        if (id === "name") {
          const a = document.createElement("a");
          a.href = "#";
          a.className = "run-link";
          a.textContent = r.name ?? r.id;
          a.addEventListener("click", (e) => {
            e.preventDefault();
            this.hooks.open(r.id);
          });
          td.append(a);
          if (r.name) {
            td.append(
              Object.assign(document.createElement("div"), { className: "muted small", textContent: r.id }),
            );
          }
          if (r.notes) {
            td.append(
              Object.assign(document.createElement("div"), {
                className: "notes small",
                textContent: r.notes,
              }),
            );
          }
          const edit = document.createElement("button");
          edit.type = "button";
          edit.className = "tool edit";
          edit.textContent = "✎";
          edit.title = "name and notes";
          edit.addEventListener("click", () => this.#edit(r));
          td.append(" ", edit);
        } else if (id === "state") {
          const b = document.createElement("span");
          b.className = `badge state-${r.state}`;
          b.textContent = r.live ? `${r.state} · live` : r.state;
          td.append(b);
        } else {
          td.textContent = text ? text(v, r) : (typeof v === "number" && Number.isNaN(v) ? "–" : String(v));
        }
        tr.append(td);
      }
      body.append(tr);
    }
  }

  #edit(r) {
    const f = this.dialog.querySelector("form");
    f.elements.id.value = r.id;
    f.elements.name.value = r.name ?? "";
    f.elements.notes.value = r.notes ?? "";
    this.dialog.querySelector(".error").textContent = "";
    this.dialog.querySelector(".title").textContent = `Run ${r.id}`;
    this.dialog.showModal();
  }

  async #save(e) {
    e.preventDefault();
    const f = e.target;
    const id = f.elements.id.value;
    try {
      const meta = await putJson(`/api/runs/${encodeURIComponent(id)}/meta`, {
        name: f.elements.name.value,
        notes: f.elements.notes.value,
      });
      const r = this.runs.find((x) => x.id === id);
      if (r) {
        r.name = meta.name;
        r.notes = meta.notes;
      }
      this.dialog.close();
      this.render();
    } catch (err) {
      this.dialog.querySelector(".error").textContent = `not saved: ${err.message}`;
    }
  }
}

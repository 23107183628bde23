// The training pictures (issue 14 §4): one card per kind (GHP sets, LHP windows, predictions) with a step
// slider over its history — only the picture shown is downloaded (lazily, when the card is on screen) — and a
// click enlarges it in a dialog at full size. A card follows new pictures while its slider is at the latest.
import { pictureUrl } from "./api.js";

const LABELS = { ghp: "GHP positives", lhp: "LHP windows", pred: "Predictions" };
const ORDER = ["ghp", "lhp", "pred"];

/** Picture cards of one run; see the module comment. */
export class PictureBoard {
  /** @param {HTMLElement} container @param {HTMLDialogElement} dialog */
  constructor(container, dialog, empty) {
    this.container = container;
    this.dialog = dialog;
    this.empty = empty;
    this.cards = new Map();
    this.runId = null;
    this.stats = { shown: 0, loaded: 0, requested: 0 };
    dialog.querySelector(".close")?.addEventListener("click", () => dialog.close());
    dialog.addEventListener("click", (e) => {
      if (e.target === dialog) dialog.close(); // a click on the backdrop
    });
  }

  /** Shows the pictures of run `runId` (message list in step order). */
  set(runId, pictures) {
    if (runId !== this.runId) {
      for (const c of this.cards.values()) c.fig.remove();
      this.cards.clear();
      this.runId = runId;
    }
    for (const c of this.cards.values()) c.items = [];
    for (const p of pictures) this.#item(p, false);
    for (const c of this.cards.values()) this.#show(c, c.follow ? c.items.length - 1 : c.index);
    this.empty.hidden = this.cards.size > 0;
  }

  /** Adds one picture message of the shown run. */
  add(p) {
    const c = this.#item(p, true);
    if (c.follow) this.#show(c, c.items.length - 1);
    else this.#slider(c);
    this.empty.hidden = true;
  }

  #item(p, live) {
    let c = this.cards.get(p.kind);
    if (!c) c = this.#card(p.kind);
    // A resumed run redraws a step: the newer picture replaces the older one.
    const at = c.items.findIndex((x) => x.step === p.step);
    if (at >= 0) c.items[at] = p;
    else c.items.push(p);
    if (live) c.items.sort((a, b) => a.step - b.step);
    return c;
  }

  #card(kind) {
    const fig = document.createElement("figure");
    fig.className = "picture";
    fig.dataset.kind = kind;
    const head = document.createElement("div");
    head.className = "picture-head";
    const title = document.createElement("strong");
    title.textContent = LABELS[kind] ?? kind;
    const step = document.createElement("span");
    step.className = "muted step";
    head.append(title, step);
    const slider = document.createElement("input");
    slider.type = "range";
    slider.min = "0";
    slider.className = "picture-slider";
    slider.setAttribute("aria-label", `${LABELS[kind] ?? kind}: step`);
    const img = document.createElement("img");
    img.loading = "lazy";
    img.decoding = "async";
    img.alt = LABELS[kind] ?? kind;
    img.title = "click to enlarge";
    const cap = document.createElement("figcaption");
    fig.append(head, slider, img, cap);
    const c = { kind, fig, slider, img, cap, step, items: [], index: 0, follow: true };
    img.addEventListener("load", () => {
      this.stats.loaded++;
      fig.dataset.loaded = "1";
    });
    img.addEventListener("click", () => this.#enlarge(c));
    slider.addEventListener("input", () => {
      const i = Number(slider.value);
      c.follow = i === c.items.length - 1;
      this.#show(c, i);
    });
    // Keep the kinds in one order whatever arrives first.
    const before = [...this.cards.values()].find((o) => ORDER.indexOf(o.kind) > ORDER.indexOf(kind));
    if (before) this.container.insertBefore(fig, before.fig);
    else this.container.append(fig);
    this.cards.set(kind, c);
    return c;
  }

  #slider(c) {
    c.slider.max = String(Math.max(0, c.items.length - 1));
    c.slider.value = String(c.index);
    c.slider.hidden = c.items.length < 2;
  }

  #show(c, index) {
    if (c.items.length === 0) return;
    c.index = Math.min(Math.max(0, index), c.items.length - 1);
    const p = c.items[c.index];
    this.#slider(c);
    c.step.textContent = `step ${p.step}` +
      (c.items.length > 1 ? ` (${c.index + 1} of ${c.items.length})` : "");
    c.cap.textContent = p.caption ?? "";
    const src = pictureUrl(this.runId, p.file);
    if (c.img.dataset.src !== src) {
      c.fig.dataset.loaded = "";
      c.img.dataset.src = src;
      c.img.dataset.file = p.file;
      c.img.src = src;
      this.stats.requested++;
    }
    this.stats.shown = this.cards.size;
  }

  #enlarge(c) {
    const p = c.items[c.index];
    if (!p) return;
    const img = this.dialog.querySelector("img");
    img.src = pictureUrl(this.runId, p.file);
    this.dialog.querySelector(".title").textContent = `${LABELS[c.kind] ?? c.kind} · step ${p.step}`;
    this.dialog.showModal();
  }

  /** What each card shows, for tests: kind → { step, file, count, loaded }. */
  describe() {
    const out = {};
    for (const [k, c] of this.cards) {
      out[k] = {
        step: c.items[c.index]?.step,
        file: c.img.dataset.file,
        count: c.items.length,
        loaded: c.fig.dataset.loaded === "1" && c.img.complete && c.img.naturalWidth > 0,
        width: c.img.naturalWidth,
        height: c.img.naturalHeight,
      };
    }
    return out;
  }
}

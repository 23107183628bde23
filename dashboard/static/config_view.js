// The run configuration as a readable table, and the differences between runs' configurations
// (issue 14 §2, §6). flattenConfig, configDiff and describeValue are pure (tests import this module); the
// render functions fill DOM elements.

/** What each configuration key means (hp-method.md symbols); keys not listed are shown without a note. */
export const CONFIG_NOTES = {
  "dataset.name": "dataset",
  "dataset.root": "dataset folder",
  "dataset.five_crop": "train on precomputed five-crops",
  "dataset.image_size": "generated image side (synthetic)",
  "dataset.train_count": "training images (synthetic)",
  "dataset.val_count": "validation images (synthetic)",
  "dataset.n_classes": "classes of a folder dataset",
  "backbone.arch": "frozen ViT backbone",
  "backbone.patch": "patch size (px)",
  "backbone.weights": "backbone weights file",
  "head.dim": "code dimension D",
  "head.dropout": "dropout on features and codes",
  "hp.tau": "temperature τ",
  "hp.tau_base": "base temperature τ_b",
  "hp.alpha": "consistency regulariser weight α",
  "hp.rho": "random-negative fraction ρ",
  "hp.pool_size": "reference pool size K",
  "hp.renew_interval": "task-specific pool renewed every … batches",
  "hp.ema_momentum": "EMA head momentum",
  "hp.lambda_warmup": "steps before λ starts to rise",
  "hp.sigma": "LHP attention scale σ",
  "hp.loss_impl": "loss implementation",
  "train.epochs": "epochs",
  "train.batch": "images per step",
  "train.res": "training crop (px)",
  "train.lr": "head learning rate",
  "train.weight_decay": "weight decay",
  "train.clip": "gradient-norm clip",
  "train.proj_lr": "projection-head learning rate",
  "train.linear_lr": "linear-probe learning rate",
  "train.cluster_lr": "cluster-probe learning rate",
  "train.seed": "random seed",
  "train.aug_mode": "augmentation",
  "train.log_every": "metrics read back every … steps",
  "train.checkpoint_every": "checkpoint and pictures every … steps",
  "eval.res": "evaluation resolution (px)",
  "eval.batch": "evaluation batch",
  "eval.valid_freq": "validation every … steps",
  "eval.selection": "reported checkpoint",
  "eval.crf": "CRF refinement in evaluation",
};

/** [dotted key, value] pairs of a nested configuration object, in its order. */
export function flattenConfig(cfg, prefix = "") {
  const out = [];
  if (!cfg || typeof cfg !== "object") return out;
  for (const [k, v] of Object.entries(cfg)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === "object" && !Array.isArray(v)) out.push(...flattenConfig(v, key));
    else out.push([key, v]);
  }
  return out;
}

/** A value as people read it: "(none)" for empty strings, "auto" where 0 means "from the data". */
export function describeValue(key, v) {
  if (v === "" || v === null || v === undefined) return key === "backbone.weights" ? "(embedded)" : "(none)";
  if (key === "dataset.n_classes" && v === 0) return "0 (from the dataset)";
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (Array.isArray(v)) return v.join(", ");
  return String(v);
}

/**
 * The keys whose values differ between configurations: [{ key, values: [value per config] }], in the
 * order keys first appear. A key missing from a configuration counts as undefined.
 * @param {Array<object|undefined>} configs
 */
export function configDiff(configs) {
  const flats = configs.map((c) => new Map(flattenConfig(c ?? {})));
  const keys = [];
  const seen = new Set();
  for (const f of flats) {
    for (const k of f.keys()) {
      if (!seen.has(k)) {
        seen.add(k);
        keys.push(k);
      }
    }
  }
  const out = [];
  for (const key of keys) {
    const values = flats.map((f) => f.get(key));
    const first = JSON.stringify(values[0]);
    if (values.some((v) => JSON.stringify(v) !== first)) out.push({ key, values });
  }
  return out;
}

function cell(tag, text, cls) {
  const el = document.createElement(tag);
  el.textContent = text;
  if (cls) el.className = cls;
  return el;
}

/** Fills `el` with the configuration as a table grouped by section. */
export function renderConfigTable(el, cfg) {
  el.replaceChildren();
  if (!cfg) {
    el.append(cell("p", "not reported yet", "muted"));
    return;
  }
  const table = document.createElement("table");
  table.className = "kv config-table";
  let section = null;
  for (const [key, v] of flattenConfig(cfg)) {
    const sec = key.split(".")[0];
    if (sec !== section) {
      section = sec;
      const tr = document.createElement("tr");
      const th = cell("th", sec, "section");
      th.colSpan = 3;
      tr.append(th);
      table.append(tr);
    }
    const tr = document.createElement("tr");
    tr.dataset.key = key;
    tr.append(
      cell("td", key.slice(sec.length + 1), "key"),
      cell("td", describeValue(key, v), "value"),
      cell("td", CONFIG_NOTES[key] ?? "", "note muted"),
    );
    table.append(tr);
  }
  el.append(table);
}

/** Fills `el` with the differing keys of the runs' configurations (columns = runs). */
export function renderConfigDiff(el, runs) {
  el.replaceChildren();
  if (runs.length < 2) {
    el.append(cell("p", "select two or more runs to see how their configurations differ", "muted"));
    return;
  }
  const diff = configDiff(runs.map((r) => r.config));
  if (diff.length === 0) {
    el.append(cell("p", "the selected runs have identical configurations", "muted"));
    return;
  }
  const table = document.createElement("table");
  table.className = "kv diff-table";
  const head = document.createElement("tr");
  head.append(cell("th", "key"));
  for (const r of runs) {
    const th = cell("th", r.label);
    if (r.color) th.style.borderBottom = `3px solid ${r.color}`;
    head.append(th);
  }
  table.append(head);
  for (const { key, values } of diff) {
    const tr = document.createElement("tr");
    tr.dataset.key = key;
    tr.append(cell("td", key, "key"));
    for (const v of values) tr.append(cell("td", describeValue(key, v), "value"));
    table.append(tr);
  }
  el.append(table);
}

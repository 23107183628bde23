/**
 * The architecture as a test (README "Architecture"): imports point only down the layer list below, no
 * file or folder takes part in an import circle, production code never imports `tests/`, and every WGSL
 * file's header names a wrapper that exists and text-imports it (or, for a fragment in `shaders/include/`,
 * is included by some shader).
 *
 * Imports are read from the sources (static, `export … from`, string-literal `import()` and
 * `new Worker(new URL("…", import.meta.url))`), so the graph is the one `deno compile` sees.
 * @module
 */
import assert from "node:assert/strict";
import { dirname, join, normalize, relative } from "node:path";
import { includesOf, SHADER_ROOT } from "../core/gpu/wgsl.ts";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");

/**
 * Production units from the top layer to the bottom. A unit is a folder (every file in it) or, for the
 * shared leaf modules directly under `core/`, one file. A unit may import only units after it.
 */
export const LAYERS = [
  "main.ts",
  "core/cli", // one file per subcommand: composes everything below
  "dashboard", // Hono server and the static page
  "core/bench", // `deno task bench` suites
  "core/train", // running HP: graph, loop, Worker, validation, pictures, run folder
  "core/viz", // training pictures drawn on the CPU
  "core/eval", // metrics, Hungarian matching, CRF, the evaluation path, k-means
  "core/model", // HP's model maths: heads, projection, loss, LHP, pools, probes, config, checkpoint
  "core/data", // loader, batches, augmentation
  "datasets", // dataset implementations and their registry
  "core/vit", // the frozen DINO / DINOv2 backbone, its weights and the embedded one
  "core/kernels", // generic GPU kernels, one wrapper per shader
  "core/telemetry.ts",
  "core/io", // checkpoint formats and atomic files
  "core/image", // PNG/JPEG codecs, size caps, image transforms
  "core/gpu", // device, buffers, pipelines, WGSL assembly, step recorder, readback
  "core/progress.ts",
  "core/version.ts",
  "core/rng.ts",
  "core/limits.ts",
  "core/errors.ts",
];

// ---- reading imports ----

/** Source text with comments removed (strings and template literals kept), so examples in JSDoc don't count. */
export function stripComments(src: string): string {
  let out = "";
  for (let i = 0; i < src.length; i++) {
    const c = src[i], n = src[i + 1];
    if (c === "/" && n === "/") {
      while (i < src.length && src[i] !== "\n") i++;
      out += "\n";
    } else if (c === "/" && n === "*") {
      const end = src.indexOf("*/", i + 2);
      const skipped = src.slice(i, end < 0 ? src.length : end + 2);
      out += skipped.replace(/[^\n]/g, " ");
      i = end < 0 ? src.length : end + 1;
    } else if (c === '"' || c === "'" || c === "`") {
      let j = i + 1;
      while (j < src.length && src[j] !== c) j += src[j] === "\\" ? 2 : 1;
      out += src.slice(i, j + 1);
      i = j;
    } else out += c;
  }
  return out;
}

const IMPORT_RE = new RegExp(
  [
    String.raw`\bimport\s+(?:type\s+)?[^"'\`;]*?\bfrom\s*["']([^"']+)["']`,
    String.raw`\bexport\s+(?:type\s+)?[^"'\`;]*?\bfrom\s*["']([^"']+)["']`,
    String.raw`\bimport\s*["']([^"']+)["']`,
    String.raw`\bimport\(\s*["']([^"']+)["']\s*\)`,
    String.raw`new\s+URL\(\s*["'](\.{1,2}/[^"']+\.ts)["']\s*,\s*import\.meta\.url`,
  ].join("|"),
  "g",
);

/** Relative import specifiers of a source file, resolved to repository paths. */
export function importsOf(file: string, src: string): string[] {
  const out: string[] = [];
  for (const m of stripComments(src).matchAll(IMPORT_RE)) {
    const spec = m.slice(1).find((s) => s !== undefined)!;
    if (!spec.startsWith(".")) continue; // npm:, node:, bare packages
    out.push(normalize(join(dirname(file), spec)));
  }
  return out;
}

function listFiles(dir: string, pred: (f: string) => boolean): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of Deno.readDirSync(join(ROOT, rel))) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) {
        if (!["node_modules", "fixtures", "vendor", ".git"].includes(e.name)) walk(p);
      } else if (pred(p)) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

const isCode = (f: string) => /\.(ts|js)$/.test(f);
const PRODUCTION = ["main.ts", ...["core", "datasets", "dashboard"].flatMap((d) => listFiles(d, isCode))];
const graph = new Map(PRODUCTION.map((f) => [f, importsOf(f, Deno.readTextFileSync(join(ROOT, f)))]));

/** The layer unit of a production file (see {@link LAYERS}). */
export function unitOf(file: string): string {
  if (file === "main.ts" || /^core\/[^/]+$/.test(file)) return file;
  const parts = file.split("/");
  return parts[0] === "core" ? `core/${parts[1]}` : parts[0];
}

// ---- cycles ----

/** Strongly connected components with more than one node (or a self-edge), each as a sorted list. */
export function circles(edges: Map<string, Set<string>>): string[][] {
  let index = 0;
  const idx = new Map<string, number>(), low = new Map<string, number>(), onStack = new Set<string>();
  const stack: string[] = [], out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index), low.set(v, index++), stack.push(v), onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!idx.has(w)) visit(w), low.set(v, Math.min(low.get(v)!, low.get(w)!));
      else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do onStack.delete(w = stack.pop()!), scc.push(w); while (w !== v);
      if (scc.length > 1 || edges.get(v)?.has(v)) out.push(scc.sort());
    }
  };
  for (const v of edges.keys()) if (!idx.has(v)) visit(v);
  return out;
}

/** One concrete circle through the nodes of a component, for the failure message. */
function tour(edges: Map<string, Set<string>>, scc: string[]): string {
  const inScc = new Set(scc), path = [scc[0]], seen = new Set(path);
  for (;;) {
    const next = [...edges.get(path.at(-1)!) ?? []].find((w) =>
      inScc.has(w) && (w === scc[0] || !seen.has(w))
    );
    if (!next || next === scc[0]) return [...path, scc[0]].join(" → ");
    path.push(next), seen.add(next);
  }
}

Deno.test("layers: no production file takes part in an import circle", () => {
  const edges = new Map([...graph].map(([f, deps]) => [f, new Set(deps.filter((d) => graph.has(d)))]));
  const found = circles(edges).map((c) => tour(edges, c));
  assert.deepEqual(found, [], `import circles between files:\n${found.join("\n")}`);
});

Deno.test("layers: no folder takes part in an import circle", () => {
  const edges = new Map<string, Set<string>>();
  for (const [f, deps] of graph) {
    const from = unitOf(f);
    if (!edges.has(from)) edges.set(from, new Set());
    for (const d of deps) if (graph.has(d) && unitOf(d) !== from) edges.get(from)!.add(unitOf(d));
  }
  const found = circles(edges).map((c) => tour(edges, c));
  assert.deepEqual(found, [], `import circles between folders:\n${found.join("\n")}`);
});

Deno.test("layers: every import points down the layer list", () => {
  const rank = new Map(LAYERS.map((u, i) => [u, i]));
  const unknown = [...new Set(PRODUCTION.map(unitOf))].filter((u) => !rank.has(u));
  assert.deepEqual(unknown, [], "units missing from LAYERS in tests/layers_test.ts (and README's picture)");
  const upward: string[] = [];
  for (const [f, deps] of graph) {
    for (const d of deps) {
      if (!graph.has(d)) continue;
      const [a, b] = [unitOf(f), unitOf(d)];
      if (a !== b && rank.get(b)! < rank.get(a)!) upward.push(`${f} → ${d} (${a} is below ${b})`);
    }
  }
  assert.deepEqual(upward, [], `imports that point up:\n${upward.join("\n")}`);
});

Deno.test("layers: production code never imports tests/", () => {
  const bad = [...graph].flatMap(([f, deps]) =>
    deps.filter((d) => d.startsWith("tests/")).map((d) => `${f} → ${d}`)
  );
  assert.deepEqual(bad, [], bad.join("\n"));
});

Deno.test("layers: every import resolves to an existing file", () => {
  const missing = [...graph].flatMap(([f, deps]) => deps.filter((d) => !exists(d)).map((d) => `${f} → ${d}`));
  assert.deepEqual(missing, [], missing.join("\n"));
});

function exists(path: string): boolean {
  try {
    Deno.statSync(join(ROOT, path));
    return true;
  } catch {
    return false;
  }
}

// ---- shaders ----

/** `// <key>: <value>` lines of a WGSL file's header (the comment block before the first code line). */
export function wgslHeader(src: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of src.split("\n")) {
    if (!line.startsWith("//")) {
      if (line.trim() === "") continue;
      break;
    }
    const m = /^\/\/\s*(wrapper|reference|test|fragment):\s*(.+)$/.exec(line);
    if (m) out.set(m[1], m[2].trim());
  }
  return out;
}

const SHADERS = listFiles(SHADER_ROOT, (f) => f.endsWith(".wgsl"));

Deno.test("shaders: every kernel names its wrapper, which text-imports it from the mirrored folder", () => {
  assert.ok(SHADERS.length > 20, `only ${SHADERS.length} shaders found`);
  const problems: string[] = [];
  for (const file of SHADERS.filter((f) => !f.startsWith(`${SHADER_ROOT}/include/`))) {
    const h = wgslHeader(Deno.readTextFileSync(join(ROOT, file)));
    const wrapper = h.get("wrapper");
    if (!wrapper) {
      problems.push(`${file}: no "// wrapper: core/…/<name>.ts" line in its header`);
      continue;
    }
    if (!exists(wrapper)) problems.push(`${file}: its wrapper ${wrapper} does not exist`);
    else if (!graph.get(wrapper)?.includes(file)) problems.push(`${file}: ${wrapper} does not import it`);
    // shaders/<folder>/<stem>[_part].wgsl ↔ core/<folder>/<stem>.ts
    const rel = relative(SHADER_ROOT, file).replace(/\.wgsl$/, "");
    const stem = relative("core", wrapper).replace(/\.ts$/, "");
    if (rel !== stem && !rel.startsWith(`${stem}_`)) {
      problems.push(`${file}: expected at shaders/${stem}[_part].wgsl to mirror ${wrapper}`);
    }
    for (const key of ["reference", "test"]) {
      const v = h.get(key);
      if (!v) problems.push(`${file}: no "// ${key}: …" line in its header`);
      else if (!exists(v.split(/\s/)[0])) problems.push(`${file}: ${key} ${v.split(/\s/)[0]} does not exist`);
    }
  }
  assert.deepEqual(problems, [], problems.join("\n"));
});

Deno.test("shaders: every fragment in shaders/include/ says what it is and is included somewhere", () => {
  const included = new Set(
    SHADERS.flatMap((f) =>
      includesOf(Deno.readTextFileSync(join(ROOT, f))).map((i) => `${SHADER_ROOT}/include/${i}`)
    ),
  );
  const problems: string[] = [];
  for (const file of SHADERS.filter((f) => f.startsWith(`${SHADER_ROOT}/include/`))) {
    const h = wgslHeader(Deno.readTextFileSync(join(ROOT, file)));
    if (!h.get("fragment")) problems.push(`${file}: no "// fragment: …" line in its header`);
    if (h.has("wrapper")) problems.push(`${file}: a fragment has no wrapper of its own`);
    if (!included.has(file)) problems.push(`${file}: no shader includes it`);
  }
  for (const inc of included) if (!exists(inc)) problems.push(`#include of a missing fragment: ${inc}`);
  assert.deepEqual(problems, [], problems.join("\n"));
});

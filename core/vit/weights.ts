/**
 * DINO ViT weights: loading from any supported checkpoint format, key normalisation, variant detection
 * and validation (dino-backbone.md §1.1, §3.1, §3.2, hp-method.md §8.7), plus the formula weights of
 * dino-backbone.md §5.1 for golden tests.
 *
 * Every format is normalised to DINO's own 150 state-dict names (for depth 12) holding float32 data:
 * - official DINO backbone files (flat state dict), and full checkpoints (`teacher` preferred, then
 *   `state_dict` / `model` / `student`), with `module.` / `backbone.` prefixes stripped and `head.*` dropped;
 * - the official HP `ckpt.pth` (`net_model_state_dict`, backbone under `model.*`);
 * - Hugging Face `facebook/dino-*` (`embeddings.*`, `encoder.layer.*`, optional `vit.` prefix), with the
 *   split query/key/value rows concatenated back into qkv;
 * - DINOv2 (official `dinov2_vit*14[_reg4]_pretrain.pth` and HF `facebook/dinov2-*`): LayerScale
 *   `blocks.i.ls{1,2}.gamma` and `register_tokens` are kept under those names (core/vit/dinov2_weights.ts).
 * The number of heads is not stored anywhere: it defaults to dim/64 (DINO's head dim is 64 in every
 * variant), can come from a sibling HF `config.json` or safetensors metadata `heads`, or from `opts.heads`.
 * @module
 */
import { InputError } from "../errors.ts";
import { readSafetensorsSync } from "../io/safetensors.ts";
import { PthFile, type PyValue, TensorRef } from "../io/pth.ts";
import { shapeNumel } from "../io/tensor_data.ts";
import type { PosResize } from "./pos_embed.ts";
import {
  detectDinov2Parts,
  DINOV2_HEAD_PREFIXES,
  DINOV2_HF_BLOCK,
  DINOV2_HF_TOP,
  dinov2Size,
  IGNORED_KEYS,
  refuseNonBackbone,
  unchunkBlockKey,
} from "./dinov2_weights.ts";

/** Architecture of a DINO ViT (dino-backbone.md §1.1). */
export interface VitConfig {
  /** Patch size p (8 or 16 for DINO). */
  patch: number;
  /** Embedding width C. */
  dim: number;
  depth: number;
  heads: number;
  /** LayerNorm epsilon (1e-6 for DINO; HF configs say 1e-12, which dino-backbone.md §1.4 says to ignore). */
  eps: number;
  /** Side of the learned position grid G (pos_embed has G²+1 rows): 14 for p16, 28 for p8. */
  posGrid: number;
  /** MLP hidden width (4·C for DINO). */
  mlpDim: number;
  /** Register tokens inserted after CLS (DINOv2 `_reg4_` files: 4; default 0). */
  registers?: number;
  /** LayerScale γ on both residual branches, `blocks.i.ls{1,2}.gamma` (DINOv2; default false). */
  layerScale?: boolean;
  /** pos_embed resize rule for other grids (core/vit/pos_embed.ts; default "offset", DINO's +0.1 rule). */
  posResize?: PosResize;
}

/** Weights in DINO naming, float32, plus where they came from. */
export interface VitWeights {
  config: VitConfig;
  tensors: Map<string, Float32Array>;
  /** File path, or "formula" for {@link formulaVitWeights}. */
  source: string;
  /** "dino", "dino-full", "hp-ckpt", "hf" or "formula". */
  format: string;
}

/** Options for {@link loadVitWeights}. */
export interface LoadVitOptions {
  /** Number of heads (default: HF config.json / metadata `heads` / dim/64). */
  heads?: number;
  /** LayerNorm eps (default 1e-6). */
  eps?: number;
}

/** Parameter names inside each transformer block (`blocks.{i}.<name>`), in state-dict order. */
export const BLOCK_PARAMS = [
  "norm1.weight",
  "norm1.bias",
  "attn.qkv.weight",
  "attn.qkv.bias",
  "attn.proj.weight",
  "attn.proj.bias",
  "norm2.weight",
  "norm2.bias",
  "mlp.fc1.weight",
  "mlp.fc1.bias",
  "mlp.fc2.weight",
  "mlp.fc2.bias",
] as const;

/** Parameter names of one block for `c`: {@link BLOCK_PARAMS}, plus ls1/ls2 γ with LayerScale (DINOv2 order). */
export function blockParams(c: Pick<VitConfig, "layerScale">): string[] {
  if (!c.layerScale) return [...BLOCK_PARAMS];
  return [...BLOCK_PARAMS.slice(0, 6), "ls1.gamma", ...BLOCK_PARAMS.slice(6), "ls2.gamma"];
}

/**
 * State-dict names and shapes, in state-dict order (for DINO v1 the order §5.1's formula enumerates;
 * DINOv2 adds `register_tokens` after pos_embed and `ls{1,2}.gamma` in each block, as its files do).
 */
export function dinoShapes(c: VitConfig): Array<[string, number[]]> {
  const C = c.dim, H = c.mlpDim, R = c.registers ?? 0;
  const out: Array<[string, number[]]> = [
    ["cls_token", [1, 1, C]],
    ["pos_embed", [1, c.posGrid * c.posGrid + 1, C]],
    ...(R > 0 ? [["register_tokens", [1, R, C]] as [string, number[]]] : []),
    ["patch_embed.proj.weight", [C, 3, c.patch, c.patch]],
    ["patch_embed.proj.bias", [C]],
  ];
  const block: Record<string, number[]> = {
    "norm1.weight": [C],
    "norm1.bias": [C],
    "attn.qkv.weight": [3 * C, C],
    "attn.qkv.bias": [3 * C],
    "attn.proj.weight": [C, C],
    "attn.proj.bias": [C],
    "norm2.weight": [C],
    "norm2.bias": [C],
    "mlp.fc1.weight": [H, C],
    "mlp.fc1.bias": [H],
    "mlp.fc2.weight": [C, H],
    "mlp.fc2.bias": [C],
    "ls1.gamma": [C],
    "ls2.gamma": [C],
  };
  const params = blockParams(c);
  for (let i = 0; i < c.depth; i++) for (const p of params) out.push([`blocks.${i}.${p}`, block[p]]);
  out.push(["norm.weight", [C]], ["norm.bias", [C]]);
  return out;
}

/**
 * "ViT-S/8", "ViT-B/16", "DINOv2 ViT-S/14", "DINOv2 ViT-L/14-reg4", … or "custom ViT (C=64, depth 2,
 * 4 heads, p8)" ("custom DINOv2 ViT (…)" with LayerScale).
 */
export function variantName(c: VitConfig): string {
  const R = c.registers ?? 0;
  if (c.layerScale) {
    const size = c.mlpDim === 4 * c.dim && c.heads * 64 === c.dim ? dinov2Size(c.dim, c.depth) : null;
    const reg = R > 0 ? `-reg${R}` : "";
    if (size) return `DINOv2 ViT-${size}/${c.patch}${reg}`;
    return `custom DINOv2 ViT (C=${c.dim}, depth ${c.depth}, ${c.heads} heads, p${c.patch}${
      R > 0 ? `, ${R} registers` : ""
    })`;
  }
  const std = c.depth === 12 && c.mlpDim === 4 * c.dim && c.heads * 64 === c.dim && R === 0;
  if (std && c.dim === 384) return `ViT-S/${c.patch}`;
  if (std && c.dim === 768) return `ViT-B/${c.patch}`;
  return `custom ViT (C=${c.dim}, depth ${c.depth}, ${c.heads} heads, p${c.patch})`;
}

// ---------------------------------------------------------------------------------------------------
// Formula weights (dino-backbone.md §5.1)

/**
 * Deterministic weights defined by formula (dino-backbone.md §5.1): for tensor index k in state-dict order
 * and flat element j, u = sin(0.731·j + 1.917·k + 0.5); cls/pos 0.5u, biases 0.05u, LayerNorm weights
 * 1 + 0.1u, other weights u·√(3/fan_in); rounded to float32.
 */
export function formulaVitWeights(
  config: Pick<VitConfig, "patch" | "dim" | "depth" | "heads" | "posGrid"> & Partial<VitConfig>,
): VitWeights {
  const c: VitConfig = { eps: 1e-6, mlpDim: 4 * config.dim, ...config };
  const tensors = new Map<string, Float32Array>();
  dinoShapes(c).forEach(([name, shape], k) => {
    const n = shapeNumel(shape);
    const a = new Float32Array(n);
    const isNormWeight = /(^|\.)norm\d?\.weight$/.test(name);
    const fanIn = n / shape[0];
    for (let j = 0; j < n; j++) {
      const u = Math.sin(0.731 * j + 1.917 * k + 0.5);
      if (name === "cls_token" || name === "pos_embed") a[j] = 0.5 * u;
      else if (name.endsWith("bias")) a[j] = 0.05 * u;
      else if (isNormWeight) a[j] = 1 + 0.1 * u;
      else a[j] = u * Math.sqrt(3 / fanIn);
    }
    tensors.set(name, a);
  });
  return { config: c, tensors, source: "formula", format: "formula" };
}

// ---------------------------------------------------------------------------------------------------
// Loading

/** Uniform read access to the tensors of one file, whatever the container. */
interface TensorSource {
  keys: string[];
  shape(key: string): number[];
  read(key: string): Float32Array;
}

function fail(path: string, why: string, hint?: string): never {
  throw new InputError(`Cannot load ViT weights from ${path}: ${why}`, { hint });
}

function sniff(path: string): "zip" | "safetensors" | "legacy" | "unknown" {
  let f: Deno.FsFile;
  try {
    // A directory opens on Linux but fails the first read with a bare "Is a directory (os error 21)".
    if (!Deno.statSync(path).isFile) throw new Error("not a regular file (a directory?)");
    f = Deno.openSync(path, { read: true });
  } catch (err) {
    const why = err instanceof Deno.errors.NotFound ? "no such file" : (err as Error).message;
    throw new InputError(`Cannot open weights file ${path}: ${why}`);
  }
  const head = new Uint8Array(9);
  let n = 0;
  try {
    while (n < 9) {
      const r = f.readSync(head.subarray(n));
      if (!r) break;
      n += r;
    }
  } finally {
    f.close();
  }
  if (n >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) return "zip";
  if (n >= 2 && head[0] === 0x80) return "legacy";
  if (n === 9 && head[8] === 0x7b) return "safetensors";
  return "unknown";
}

/**
 * Loads DINO ViT weights from a `.pth`/`.bin` (torch zip) or `.safetensors` file, normalises the keys,
 * detects the variant from the shapes and checks every tensor.
 * @throws InputError naming the file (and key, expected and found shape) on any problem.
 */
export function loadVitWeights(path: string, opts: LoadVitOptions = {}): Promise<VitWeights> {
  try {
    return Promise.resolve(loadVitWeightsSync(path, opts));
  } catch (err) {
    return Promise.reject(err);
  }
}

/** Synchronous {@link loadVitWeights}. */
export function loadVitWeightsSync(path: string, opts: LoadVitOptions = {}): VitWeights {
  const kind = sniff(path);
  if (kind === "unknown") {
    fail(path, "not a PyTorch zip checkpoint or a safetensors file (unrecognised first bytes)");
  }
  let heads = opts.heads;
  if (kind === "safetensors") {
    const st = readSafetensorsSync(path);
    try {
      const h = Number(st.metadata.heads);
      if (heads === undefined && Number.isInteger(h) && h > 0) heads = h;
      const src: TensorSource = {
        keys: st.keys(),
        shape: (k) => st.info(k).shape,
        read: (k) => st.getWeight(k), // floating point and finite, or an InputError
      };
      return normalise(path, src, "", { ...opts, heads: heads ?? hfConfigHeads(path) });
    } finally {
      st.close();
    }
  }
  const pth = PthFile.open(path); // rejects the legacy format with a hint
  try {
    const { dict, format, prefix } = pickStateDict(path, pth.root);
    const refs = new Map<string, TensorRef>();
    for (const [k, v] of dict) if (typeof k === "string" && v instanceof TensorRef) refs.set(k, v);
    const src: TensorSource = {
      keys: [...refs.keys()],
      shape: (k) => [...refs.get(k)!.shape],
      read: (k) => pth.readWeight(refs.get(k)!, `tensor "${k}"`),
    };
    return normalise(path, src, format, { ...opts, heads: heads ?? hfConfigHeads(path) }, prefix);
  } finally {
    pth.close();
  }
}

/** `num_attention_heads` from a Hugging Face config.json next to the weights, if there is one. */
function hfConfigHeads(path: string): number | undefined {
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ".";
  try {
    const cfg = JSON.parse(Deno.readTextFileSync(`${dir}/config.json`));
    const h = cfg?.num_attention_heads;
    return Number.isInteger(h) && h > 0 ? h : undefined;
  } catch {
    return undefined;
  }
}

/** Picks the tensor dict inside a pickled checkpoint (dino-backbone.md §3.1 "recommended normalisation"). */
function pickStateDict(
  path: string,
  root: PyValue,
): { dict: Map<PyValue, PyValue>; format: string; prefix: string } {
  if (!(root instanceof Map)) fail(path, "the checkpoint's top level is not a dict");
  const get = (k: string) => (root as Map<PyValue, PyValue>).get(k);
  const hp = get("net_model_state_dict");
  if (hp instanceof Map) return { dict: hp, format: "hp-ckpt", prefix: "model." };
  for (const k of ["teacher", "state_dict", "model", "student"]) {
    const d = get(k);
    if (d instanceof Map) return { dict: d, format: "dino-full", prefix: "" };
  }
  return { dict: root as Map<PyValue, PyValue>, format: "", prefix: "" };
}

const HF_BLOCK: Record<string, string> = {
  "layernorm_before.weight": "norm1.weight",
  "layernorm_before.bias": "norm1.bias",
  "attention.output.dense.weight": "attn.proj.weight",
  "attention.output.dense.bias": "attn.proj.bias",
  "layernorm_after.weight": "norm2.weight",
  "layernorm_after.bias": "norm2.bias",
  "intermediate.dense.weight": "mlp.fc1.weight",
  "intermediate.dense.bias": "mlp.fc1.bias",
  "output.dense.weight": "mlp.fc2.weight",
  "output.dense.bias": "mlp.fc2.bias",
};
const HF_TOP: Record<string, string> = {
  "embeddings.cls_token": "cls_token",
  "embeddings.position_embeddings": "pos_embed",
  "embeddings.patch_embeddings.projection.weight": "patch_embed.proj.weight",
  "embeddings.patch_embeddings.projection.bias": "patch_embed.proj.bias",
  "layernorm.weight": "norm.weight",
  "layernorm.bias": "norm.bias",
};

/** A normalised key: either a direct source key or the concatenation of several (HF q/k/v). */
type Mapped = { from: string[] };

function normalise(
  path: string,
  src: TensorSource,
  format: string,
  opts: LoadVitOptions,
  requiredPrefix = "",
): VitWeights {
  // 1. Strip prefixes; keep only backbone keys.
  const stripped = new Map<string, string>(); // normalised → source key
  for (const key of src.keys) {
    let k = key;
    if (requiredPrefix) {
      if (!k.startsWith(requiredPrefix)) continue; // HP: cluster heads, EMA heads, probes
      k = k.slice(requiredPrefix.length);
    }
    for (let again = true; again;) {
      again = false;
      for (const p of ["module.", "backbone.", "vit."]) {
        if (k.startsWith(p)) {
          k = k.slice(p.length);
          again = true;
        }
      }
    }
    if (
      k === "_metadata" || k.startsWith("head.") || k.startsWith("pooler.") || k.startsWith("classifier.") ||
      DINOV2_HEAD_PREFIXES.some((p) => k.startsWith(p))
    ) continue;
    stripped.set(unchunkBlockKey(k), key);
  }
  const refusal = refuseNonBackbone([...stripped.keys()], (k) => src.shape(stripped.get(k)!), path);
  if (refusal) fail(path, refusal);
  // 2. HF names → DINO names.
  const isHf = [...stripped.keys()].some((k) =>
    k.startsWith("embeddings.") || k.startsWith("encoder.layer.")
  );
  const mapped = new Map<string, Mapped>();
  const unexpected: string[] = [];
  if (isHf) {
    format = "hf";
    const qkv = new Map<string, Record<string, string>>();
    for (const [k, orig] of stripped) {
      const top = HF_TOP[k] ?? DINOV2_HF_TOP[k];
      if (top) {
        mapped.set(top, { from: [orig] });
        continue;
      }
      const m = /^encoder\.layer\.(\d+)\.(.+)$/.exec(k);
      const qm = m && /^attention\.attention\.(query|key|value)\.(weight|bias)$/.exec(m[2]);
      if (m && qm) {
        const name = `blocks.${m[1]}.attn.qkv.${qm[2]}`;
        const parts = qkv.get(name) ?? {};
        parts[qm[1]] = orig;
        qkv.set(name, parts);
      } else if (m && (HF_BLOCK[m[2]] ?? DINOV2_HF_BLOCK[m[2]])) {
        mapped.set(`blocks.${m[1]}.${HF_BLOCK[m[2]] ?? DINOV2_HF_BLOCK[m[2]]}`, { from: [orig] });
      } else unexpected.push(orig);
    }
    for (const [name, parts] of qkv) {
      const missing = ["query", "key", "value"].filter((p) => !parts[p]);
      if (missing.length) {
        fail(
          path,
          `key "${name}" needs HF ${missing.join(", ")} tensors too (found only ${
            Object.keys(parts).join(", ")
          })`,
        );
      }
      mapped.set(name, { from: [parts.query, parts.key, parts.value] });
    }
  } else {
    for (const [k, orig] of stripped) mapped.set(k, { from: [orig] });
  }
  const shapeOf = (m: Mapped): number[] => {
    const shapes = m.from.map((k) => src.shape(k));
    if (shapes.length === 1) return shapes[0];
    return [shapes.reduce((a, s) => a + s[0], 0), ...shapes[0].slice(1)];
  };
  for (const k of IGNORED_KEYS) mapped.delete(k);
  const dinov2 = detectDinov2Parts((k) => mapped.has(k), (k) => shapeOf(mapped.get(k)!));
  format ||= dinov2.layerScale ? "dinov2" : "dino";
  // 3. Infer the config from shapes.
  const need = (k: string) => {
    const m = mapped.get(k);
    if (!m) {
      fail(
        path,
        `no "${k}" tensor found (${mapped.size} backbone keys after normalisation, e.g. ${
          [...mapped.keys()].slice(0, 3).join(", ") || "none"
        })`,
        "expected a DINO or DINOv2 ViT state dict, a DINO full checkpoint, an HP ckpt.pth or a facebook/dino-* / facebook/dinov2-* safetensors file",
      );
    }
    return shapeOf(m!);
  };
  const cls = need("cls_token"), pe = need("patch_embed.proj.weight"), pos = need("pos_embed");
  const fc1 = need("blocks.0.mlp.fc1.weight");
  const dim = cls[cls.length - 1];
  const patch = pe[2];
  let depth = 0;
  for (const k of mapped.keys()) {
    const m = /^blocks\.(\d+)\./.exec(k);
    if (m) depth = Math.max(depth, Number(m[1]) + 1);
  }
  const posGrid = Math.round(Math.sqrt(pos[1] - 1));
  if (pos.length !== 3 || posGrid * posGrid + 1 !== pos[1]) {
    fail(
      path,
      `key "pos_embed" has shape [${pos.join(", ")}], expected [1, G²+1, ${dim}] for a square grid G`,
    );
  }
  const heads = opts.heads ?? (dim % 64 === 0 ? dim / 64 : 0);
  if (!Number.isInteger(heads) || heads <= 0 || dim % heads !== 0) {
    fail(
      path,
      `cannot infer the number of heads for width ${dim} (not a multiple of 64)${
        opts.heads ? ` or ${opts.heads} does not divide it` : ""
      }`,
      "pass the head count explicitly (--heads N on the command line, `heads` in code)",
    );
  }
  const config: VitConfig = { patch, dim, depth, heads, eps: opts.eps ?? 1e-6, posGrid, mlpDim: fc1[0] };
  if (dinov2.layerScale || dinov2.registers) Object.assign(config, dinov2);
  // 4. Check every expected key and shape; collect all problems into one message.
  const problems: string[] = [];
  const tensors = new Map<string, Float32Array>();
  const expected = dinoShapes(config);
  for (const [name, shape] of expected) {
    const m = mapped.get(name);
    if (!m) {
      problems.push(`missing key "${name}" (expected shape [${shape.join(", ")}])`);
      continue;
    }
    const found = shapeOf(m);
    if (found.length !== shape.length || found.some((d, i) => d !== shape[i])) {
      problems.push(`key "${name}": expected shape [${shape.join(", ")}], found [${found.join(", ")}]`);
    }
  }
  const known = new Set(expected.map(([n]) => n));
  for (const k of mapped.keys()) if (!known.has(k)) unexpected.push(k);
  for (const k of unexpected) problems.push(`unexpected key "${k}"`);
  if (problems.length) {
    const shown = problems.slice(0, 6).join("; ") +
      (problems.length > 6 ? `; and ${problems.length - 6} more` : "");
    fail(path, `${variantName(config)} (${format}): ${shown}`);
  }
  // 5. Read the data (lazily per tensor; HF q/k/v rows concatenated in that order).
  for (const [name, shape] of expected) {
    const m = mapped.get(name)!;
    if (m.from.length === 1) tensors.set(name, src.read(m.from[0]));
    else {
      const out = new Float32Array(shapeNumel(shape));
      let off = 0;
      for (const k of m.from) {
        const part = src.read(k);
        out.set(part, off);
        off += part.length;
      }
      tensors.set(name, out);
    }
  }
  return { config, tensors, source: path, format };
}

/**
 * `hpseg predict`: segments images with a checkpoint (hp-method.md §8.1–§8.2, §8.5) and writes label PNGs,
 * colour overlays and a legend. Needs no ground truth, so it works for runs trained on unlabeled folders.
 *
 * By default every mask has its input's own size (hp-method.md §8.1 evaluates at 320; users want their own): the image is resized (nearest, PIL indices)
 * so its shorter side is --res and its longer side the nearest multiple of the patch size, the code's
 * per-patch scores are bilinearly upsampled straight to the original size (core/eval/evaluate.ts), any
 * aspect ratio. `--crop` keeps the evaluation protocol instead (shorter side to --res, centre crop,
 * res×res masks). With `--crf` the CRF runs at the forward size and its labels are resized (nearest) to the
 * original size. Output paths keep each input's path relative to the inputs' common folder (a folder input
 * counts as itself), so `val/000.png` and `train/000.png` do not collide.
 * @module
 */
import { dirname, join, relative, resolve } from "node:path";
import { type Command, numberOpt, parseCommandArgs, stringOpt } from "./command.ts";
import { InputError, UsageError } from "../errors.ts";
import { openGpu } from "../gpu/device.ts";
import { BufferArena } from "../gpu/buffers.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { encodeGrayPng, encodeRgbPng, readImage, type RgbImage } from "../image/codecs.ts";
import {
  evalTransform,
  normalizeImageNet,
  resizeImageNearest,
  resizeMapNearest,
} from "../image/transforms.ts";
import { Predictor } from "../eval/evaluate.ts";
import { buildEvalModel, type GpuEvalModel, loadEvalModel, resolveCheckpoint } from "../eval/eval_model.ts";
import { CrfPool } from "../eval/crf_pool.ts";
import { formatBytes, vitScratchPerImage } from "../train/feasibility.ts";
import { ProgressBar } from "../progress.ts";
import { DEFAULT_RES } from "./eval.ts";
import { nearestMultiples } from "../vit/variants.ts";
import { MAX_RESOLUTION } from "../limits.ts";
import { refuseOutputDirOverInputs } from "../io/paths.ts";

const HELP = `Usage: hpseg predict --checkpoint RUN_OR_FILE --out DIR [--crop] [--crf] INPUT...

Segments images (files, or folders searched recursively for .jpg/.jpeg/.png) with a checkpoint. By default
every mask has the size of its input image: the image is resized so its shorter side is --res (the longer
side to the nearest multiple of the patch size, any aspect ratio) and the scores are upsampled back to the
original size. --crop instead resizes and centre-crops to --res×--res as the evaluation protocol does.
For every input it writes, under DIR and keeping the input's path relative to the inputs' common folder:
  PATH/NAME_cluster.png   cluster ids (8-bit greyscale; the unsupervised segmentation)
  PATH/NAME_linear.png    linear-probe classes (8-bit greyscale)
  PATH/NAME_overlay.png   the image blended 50 % with the cluster colours
and once: legend.png (one colour swatch per id, left to right) and legend.json (id → colour, and the class
name of each linear-probe id when the checkpoint knows its dataset). No ground truth is needed; score the
maps with \`hpseg score --pred DIR --dataset NAME --root DIR\`.

Options:
  --checkpoint P   run folder or checkpoint file (required; see \`hpseg eval --help\`)
  --selection S    val | last (run folders; default last)
  --out DIR        output folder (required; created)
  --res N          shorter side of the forward (default: the checkpoint config's eval.res; 320 for
                   checkpoints without a config, e.g. ckpt.pth)
  --crop           evaluation protocol: centre crop, res×res masks
  --crf            refine both maps with the dense CRF (hp-method.md §8.5)
  -h, --help       show this help`;

/** A fixed, well-separated palette (id k → colour), cycling hues by the golden angle. */
export function paletteColor(k: number): [number, number, number] {
  const h = (k * 137.508) % 360, s = 0.65, v = k % 2 ? 0.8 : 0.95;
  const c = v * s, x = c * (1 - Math.abs(((h / 60) % 2) - 1)), m = v - c;
  const [r, g, b] = h < 60
    ? [c, x, 0]
    : h < 120
    ? [x, c, 0]
    : h < 180
    ? [0, c, x]
    : h < 240
    ? [0, x, c]
    : h < 300
    ? [x, 0, c]
    : [c, 0, x];
  return [Math.round((r + m) * 255), Math.round((g + m) * 255), Math.round((b + m) * 255)];
}

const IMAGE = /\.(jpe?g|png)$/i;

async function walk(dir: string, out: string[]): Promise<void> {
  const names: Deno.DirEntry[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e);
  names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of names) {
    if (e.isDirectory) await walk(join(dir, e.name), out);
    else if (e.isFile && IMAGE.test(e.name)) out.push(join(dir, e.name));
  }
}

/** Input images (folders searched recursively), absolute paths in a stable order. */
export async function listInputs(inputs: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of inputs) {
    let st: Deno.FileInfo;
    try {
      st = await Deno.stat(p);
    } catch {
      throw new InputError(`Cannot read input ${p}: no such file or folder`);
    }
    if (st.isDirectory) await walk(resolve(p), out);
    else out.push(resolve(p));
  }
  if (!out.length) throw new InputError(`No .jpg/.jpeg/.png images in ${inputs.join(", ")}`);
  return [...new Set(out)];
}

/**
 * Each file's output stem: its path relative to the inputs' common folder (a folder input counts as
 * itself, a file input as its folder), without the extension.
 */
export function outputStems(files: string[], roots: string[]): string[] {
  let common = roots[0];
  for (const r of roots) {
    while (relative(common, r).startsWith("..")) common = dirname(common);
  }
  return files.map((f) => relative(common, f).replace(IMAGE, ""));
}

/** The folder each input counts as for {@link outputStems}: itself for a folder, its parent for a file. */
async function inputRoots(inputs: string[]): Promise<string[]> {
  return await Promise.all(
    inputs.map(async (p) => (await Deno.stat(p)).isDirectory ? resolve(p) : dirname(resolve(p))),
  );
}

/** Forward size for a full-image prediction: shorter side `res`, longer side the nearest patch multiple. */
export function forwardSize(width: number, height: number, res: number, patch: number): [number, number] {
  const long = (l: number, s: number) => Math.max(patch, Math.round((res * l) / s / patch) * patch);
  return width <= height ? [res, long(height, width)] : [long(width, height), res];
}

/** A model and predictor for one (forward size, output size), kept while images of that size come. */
interface Slot {
  key: string;
  arena: BufferArena;
  model: GpuEvalModel;
  pred: Predictor;
  images: ReturnType<BufferArena["tensor"]>;
}

export const command: Command = {
  name: "predict",
  summary: "Segment images with a checkpoint (full-size label PNGs, overlays, legend)",
  help: HELP,
  async run(argv) {
    const args = parseCommandArgs("predict", argv, {
      checkpoint: { type: "string" },
      selection: { type: "string" },
      out: { type: "string" },
      res: { type: "string" },
      crop: { type: "boolean" },
      crf: { type: "boolean" },
    }, true);
    if (args.help) {
      console.log(HELP);
      return 0;
    }
    const ckpt = stringOpt(args, "checkpoint"), outDir = stringOpt(args, "out");
    if (!ckpt) throw new UsageError("predict: --checkpoint RUN_OR_FILE is required");
    if (!outDir) throw new UsageError("predict: --out DIR is required");
    if (!args.positionals.length) throw new UsageError("predict: give at least one INPUT image or folder");
    const sel = stringOpt(args, "selection", "last");
    if (sel !== "val" && sel !== "last") {
      throw new UsageError(`predict: --selection must be "val" or "last", got "${sel}"`);
    }
    const crop = args.values.crop === true;
    const ckptPath = await resolveCheckpoint(ckpt, sel);
    // Outputs must not overwrite an input, nor land where the next run would read them as inputs.
    refuseOutputDirOverInputs("--out", outDir, [
      { what: "checkpoint", path: ckptPath },
      ...args.positionals.map((p) => ({ what: "input", path: p })),
    ]);
    const files = await listInputs(args.positionals);
    const stems = outputStems(files, await inputRoots(args.positionals));
    const m = await loadEvalModel(ckptPath);
    const patch = m.vit.config.patch;
    const res = numberOpt(args, "res", m.config?.eval.res ?? DEFAULT_RES);
    if (!Number.isInteger(res) || res <= 0 || res > MAX_RESOLUTION || res % patch) {
      throw new UsageError(
        `predict: --res must be a multiple of the patch size ${patch} in [1, ${MAX_RESOLUTION}], got ${res}` +
          nearestMultiples(res, patch),
      );
    }
    await Deno.mkdir(outDir, { recursive: true });
    const gpu = await openGpu();
    const limit = Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
    const pool = args.values.crf ? new CrfPool() : undefined;
    let slot: Slot | null = null;
    const slotFor = async (fw: number, fh: number, ow: number, oh: number, file: string): Promise<Slot> => {
      const key = `${fw}x${fh}->${ow}x${oh}`;
      if (slot?.key === key) return slot;
      const need = Math.max(vitScratchPerImage(m.vit.config, fh, fw), 2 * ow * oh * 4 * (pool ? m.n : 1));
      if (need > limit) {
        throw new InputError(
          `Cannot segment ${file}: at ${fw}×${fh} (output ${ow}×${oh}) one buffer needs ${
            formatBytes(need)
          }, ` +
            `over the adapter's ${formatBytes(limit)} binding limit; use a smaller --res or --crop`,
        );
      }
      if (slot) {
        slot.model.destroy();
        slot.arena.destroyAll();
      }
      const arena = new BufferArena(gpu, `predict-${key}`);
      const model = await buildEvalModel(gpu, arena, m, 1, fh, fw);
      const pred = await Predictor.create(gpu, arena, model, m.probes, {
        B: 1,
        H: oh,
        W: ow,
        n: m.n,
        probs: !!pool,
      });
      const images = arena.tensor([1, 3, fh, fw], "f32", "predict-image");
      return slot = { key, arena, model, pred, images };
    };
    const bar = new ProgressBar({ total: files.length, label: "predict" });
    try {
      for (let i = 0; i < files.length; i++) {
        const f = files[i];
        const original = await readImage(f);
        let fwd: RgbImage, shown: RgbImage;
        if (crop) fwd = shown = evalTransform(original, res);
        else {
          const [fw, fh] = forwardSize(original.width, original.height, res, patch);
          fwd = resizeImageNearest(original, fw, fh);
          shown = original;
        }
        // Without CRF the scores go straight to the output size; the CRF runs at the forward size.
        const [ow, oh] = pool ? [fwd.width, fwd.height] : [shown.width, shown.height];
        const s = await slotFor(fwd.width, fwd.height, ow, oh, f);
        s.images.write(normalizeImageNet(fwd));
        const r = await s.pred.run(s.images);
        let cluster = r.cluster, linear = r.linear;
        if (pool) {
          const pix = ow * oh;
          [cluster, linear] = await Promise.all(
            [0, 1].map((w) =>
              pool.refine(r.probs!.slice(w * pix * m.n, (w + 1) * pix * m.n), fwd.data.slice(), oh, ow, m.n)
            ),
          );
          cluster = resizeMapNearest(cluster, ow, oh, shown.width, shown.height);
          linear = resizeMapNearest(linear, ow, oh, shown.width, shown.height);
        }
        const W = shown.width, H = shown.height, pix = W * H;
        const overlay = new Uint8Array(pix * 3);
        for (let p = 0; p < pix; p++) {
          const c = paletteColor(cluster[p]);
          for (let ch = 0; ch < 3; ch++) overlay[p * 3 + ch] = (shown.data[p * 3 + ch] + c[ch]) >> 1;
        }
        const base = join(outDir, stems[i]);
        await Deno.mkdir(dirname(base), { recursive: true });
        await writeFileAtomic(`${base}_cluster.png`, encodeGrayPng(W, H, cluster));
        await writeFileAtomic(`${base}_linear.png`, encodeGrayPng(W, H, linear));
        await writeFileAtomic(`${base}_overlay.png`, encodeRgbPng({ width: W, height: H, data: overlay }));
        bar.update({ step: i + 1 });
      }
      bar.done();
      const sw = 24, legend = new Uint8Array(m.n * sw * sw * 3);
      for (let y = 0; y < sw; y++) {
        for (let x = 0; x < m.n * sw; x++) {
          legend.set(paletteColor(Math.floor(x / sw)), (y * m.n * sw + x) * 3);
        }
      }
      await writeFileAtomic(
        join(outDir, "legend.png"),
        encodeRgbPng({ width: m.n * sw, height: sw, data: legend }),
      );
      const names = m.classNames;
      const entries = Array.from({ length: m.n }, (_, k) => ({
        id: k,
        color: paletteColor(k),
        ...(names ? { class: names[k] } : {}),
      }));
      const doc = {
        checkpoint: m.path,
        crf: !!pool,
        mode: crop ? `centre crop ${res}×${res}` : `full image, shorter side ${res} for the forward`,
        classes: names,
        note: "ids of *_linear.png are classes (names above); ids of *_cluster.png are unmatched clusters",
        ids: entries,
      };
      await writeFileAtomic(
        join(outDir, "legend.json"),
        new TextEncoder().encode(JSON.stringify(doc, null, 1) + "\n"),
      );
      console.log(`predict: wrote ${files.length} image(s) to ${outDir}`);
    } finally {
      if (slot) {
        (slot as Slot).model.destroy();
        (slot as Slot).arena.destroyAll();
      }
      pool?.close();
      gpu.destroy();
    }
    return 0;
  },
};

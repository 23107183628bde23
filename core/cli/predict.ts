/**
 * `hpseg predict`: segments images with a checkpoint (hp-method.md §8.1–§8.2, §8.5) and writes label PNGs,
 * colour overlays and a legend. Needs no ground truth, so it works for runs trained on unlabeled folders.
 * @module
 */
import { basename, extname, join } from "node:path";
import { type Command, numberOpt, parseCommandArgs, stringOpt, UsageError } from "./command.ts";
import { InputError } from "../errors.ts";
import { openGpu } from "../gpu/device.ts";
import { BufferArena } from "../gpu/buffers.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { encodeGrayPng, encodeRgbPng, readImage } from "../data/image.ts";
import { evalTransform, normalizeImageNet } from "../data/transforms.ts";
import { Predictor } from "../eval/evaluate.ts";
import { buildEvalModel, loadEvalModel, resolveCheckpoint } from "../eval/eval_model.ts";
import { CrfPool } from "../eval/crf_pool.ts";
import { DEFAULT_RES } from "./eval.ts";
import { nearestMultiples } from "../vit/variants.ts";
import { MAX_RESOLUTION } from "../limits.ts";
import { refuseOutputDirOverInputs } from "../io/paths.ts";

const HELP = `Usage: hpseg predict --checkpoint RUN_OR_FILE --out DIR [--crf] INPUT...

Segments images (files, or folders of .jpg/.jpeg/.png) with a checkpoint. Each image is resized (shorter side,
nearest) and centre-cropped to --res, as in evaluation. For every input NAME it writes to DIR:
  NAME_cluster.png   cluster ids (8-bit greyscale; the unsupervised segmentation)
  NAME_linear.png    linear-probe classes (8-bit greyscale)
  NAME_overlay.png   the image blended 50 % with the cluster colours
and once: legend.png (one colour swatch per id, left to right) and legend.json (id → colour [, class name]).
No ground truth is needed.

Options:
  --checkpoint P   run folder or checkpoint file (required; see \`hpseg eval --help\`)
  --selection S    val | last (run folders; default last)
  --out DIR        output folder (required; created)
  --res N          resolution (default: the checkpoint config's eval.res; 320 for checkpoints without a
                   config, e.g. ckpt.pth)
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

async function listInputs(inputs: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of inputs) {
    let st: Deno.FileInfo;
    try {
      st = await Deno.stat(p);
    } catch {
      throw new InputError(`Cannot read input ${p}: no such file or folder`);
    }
    if (st.isDirectory) {
      const names: string[] = [];
      for await (const e of Deno.readDir(p)) {
        if (e.isFile && /\.(jpe?g|png)$/i.test(e.name)) names.push(join(p, e.name));
      }
      out.push(...names.sort());
    } else out.push(p);
  }
  if (!out.length) throw new InputError(`No .jpg/.jpeg/.png images in ${inputs.join(", ")}`);
  return out;
}

export const command: Command = {
  name: "predict",
  summary: "Segment images with a checkpoint (label PNGs, overlays, legend)",
  help: HELP,
  async run(argv) {
    const args = parseCommandArgs("predict", argv, {
      checkpoint: { type: "string" },
      selection: { type: "string" },
      out: { type: "string" },
      res: { type: "string" },
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
    const ckptPath = await resolveCheckpoint(ckpt, sel);
    // Outputs must not overwrite an input, nor land where the next run would read them as inputs.
    refuseOutputDirOverInputs("--out", outDir, [
      { what: "checkpoint", path: ckptPath },
      ...args.positionals.map((p) => ({ what: "input", path: p })),
    ]);
    const files = await listInputs(args.positionals);
    const m = await loadEvalModel(ckptPath);
    const res = numberOpt(args, "res", m.config?.eval.res ?? DEFAULT_RES);
    if (!Number.isInteger(res) || res <= 0 || res > MAX_RESOLUTION || res % m.vit.config.patch) {
      throw new UsageError(
        `predict: --res must be a multiple of the patch size ${m.vit.config.patch} in [1, ${MAX_RESOLUTION}], got ${res}` +
          nearestMultiples(res, m.vit.config.patch),
      );
    }
    await Deno.mkdir(outDir, { recursive: true });
    const gpu = await openGpu();
    const arena = new BufferArena(gpu, "predict");
    const pool = args.values.crf ? new CrfPool() : undefined;
    try {
      const model = await buildEvalModel(gpu, arena, m, 1, res);
      const pred = await Predictor.create(gpu, arena, model, m.probes, {
        B: 1,
        H: res,
        W: res,
        n: m.n,
        probs: !!pool,
      });
      const images = arena.tensor([1, 3, res, res], "f32", "predict-image");
      const pix = res * res;
      for (const f of files) {
        const img = evalTransform(await readImage(f), res);
        images.write(normalizeImageNet(img));
        const r = await pred.run(images);
        let cluster = r.cluster, linear = r.linear;
        if (pool) {
          [cluster, linear] = await Promise.all(
            [0, 1].map((w) =>
              pool.refine(r.probs!.slice(w * pix * m.n, (w + 1) * pix * m.n), img.data.slice(), res, res, m.n)
            ),
          );
        }
        const name = basename(f, extname(f));
        const overlay = new Uint8Array(pix * 3);
        for (let i = 0; i < pix; i++) {
          const c = paletteColor(cluster[i]);
          for (let ch = 0; ch < 3; ch++) overlay[i * 3 + ch] = (img.data[i * 3 + ch] + c[ch]) >> 1;
        }
        await writeFileAtomic(join(outDir, `${name}_cluster.png`), encodeGrayPng(res, res, cluster));
        await writeFileAtomic(join(outDir, `${name}_linear.png`), encodeGrayPng(res, res, linear));
        await writeFileAtomic(
          join(outDir, `${name}_overlay.png`),
          encodeRgbPng({ width: res, height: res, data: overlay }),
        );
      }
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
      const entries = Array.from({ length: m.n }, (_, k) => ({ id: k, color: paletteColor(k) }));
      await writeFileAtomic(
        join(outDir, "legend.json"),
        new TextEncoder().encode(
          JSON.stringify({ checkpoint: m.path, crf: !!pool, ids: entries }, null, 1) + "\n",
        ),
      );
      console.log(`predict: wrote ${files.length} image(s) to ${outDir}`);
      model.destroy();
    } finally {
      pool?.close();
      arena.destroyAll();
      gpu.destroy();
    }
    return 0;
  },
};

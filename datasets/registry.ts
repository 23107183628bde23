/**
 * The dataset registry: `openDataset` picks the implementation for a {@link DatasetOptions} (the full-image
 * datasets, their five-crop folders, packed caches). Implementations are imported on demand, so opening one
 * loads only its own decoders. The Workers that reopen a dataset from its `spec` (the loader's, `prepare`'s)
 * come here too.
 * @module
 */
import { InputError } from "../core/errors.ts";
import { DATASET_NAMES, type DatasetOptions, requireDir, type SegDataset, usesFiveCrop } from "./dataset.ts";
import { rootLayoutHint } from "./layouts.ts";

/** Opens a dataset; bad paths raise an InputError naming the expected path and layout. */
export async function openDataset(opts: DatasetOptions): Promise<SegDataset> {
  if (!DATASET_NAMES.includes(opts.dataset)) {
    throw new InputError(`Unknown dataset "${opts.dataset}" (known: ${DATASET_NAMES.join(", ")})`);
  }
  if (opts.split !== "train" && opts.split !== "val") {
    throw new InputError(`Unknown split "${opts.split}" (known: train, val)`);
  }
  if (opts.packedSize !== undefined) {
    const { openPacked, packedPath } = await import("./packed.ts");
    if (!opts.root) throw new InputError("A packed cache needs the dataset root (pass --root DIR)");
    return await openPacked(packedPath(opts), opts);
  }
  if (opts.dataset !== "synthetic" && !opts.root) {
    throw new InputError(`A dataset root is required for ${opts.dataset} (pass --root DIR)`);
  }
  const fiveCrop = usesFiveCrop(opts);
  if (opts.root) {
    await requireDir(opts.root, `dataset root for ${opts.dataset}`, rootLayoutHint(opts.dataset, fiveCrop));
  }
  if (fiveCrop && opts.dataset !== "potsdam") {
    const { openCropped } = await import("./cropped.ts");
    return await openCropped(opts);
  }
  switch (opts.dataset) {
    case "cocostuff27":
      return await (await import("./cocostuff27.ts")).openCocoStuff27(opts);
    case "cityscapes":
      return await (await import("./cityscapes.ts")).openCityscapes(opts);
    case "potsdam":
      return await (await import("./potsdam.ts")).openPotsdam(opts);
    case "folder":
      return await (await import("./folder.ts")).openFolder(opts);
    case "synthetic":
      return await (await import("./synthetic.ts")).openSynthetic(opts);
  }
}

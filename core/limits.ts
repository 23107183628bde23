/**
 * Upper bounds on what a user can ask for, in one place ("the schema's bounds equal
 * what the runtime supports"): the config schema (core/model/config.ts), the CLI flags and the kernels all read
 * them from here, and tests/hostile/limits_test.ts checks that they agree.
 *
 * Adapter-dependent limits (buffer sizes against `maxStorageBufferBindingSize`) cannot be known before a
 * device exists; those are checked when buffers are made and reported as one-line LimitErrors
 * (core/errors.ts).
 * @module
 */

/** Largest code width D the HP loss's backward kernel supports (16 vec4 accumulators per thread). */
export const MAX_CODE_DIM = 512;

/** Largest P = S² patches per training crop: the LHP weights kernel sorts a row in workgroup memory. */
export const MAX_TRAIN_PATCHES = 2048;

/** Largest class count the evaluation kernel's workgroup confusion histogram holds (2·n² bins ≤ 4050). */
export const MAX_EVAL_CLASSES = 45;

/** Web Workers one command may start (loaders, prepare encoders). Each is a V8 isolate of 10–30 MB. */
export const MAX_WORKERS = 64;

/** Images a synthetic split may have (the loader shuffles an index array of this length every epoch). */
export const MAX_SYNTHETIC_COUNT = 1_000_000;

/** Largest image side and crop/resolution in pixels any command accepts (`--size`, `--res`, config res). */
export const MAX_RESOLUTION = 4096;

/** Largest batch any command accepts (`--batch`, train.batch, eval.batch). */
export const MAX_BATCH = 4096;

/** Largest step count (`--steps`; checkpoint metadata stores u32 counts). */
export const MAX_STEPS = 2 ** 31 - 1;

/**
 * Image decoding caps, checked from the file header before any pixel is decoded (a
 * 1.2 MB PNG of 20000×20000 pixels decoded to 6 GB). Defaults: 100 megapixels (a 12 MP photo is 12) and
 * 65535 pixels per side (JPEG's own limit); `HPSEG_MAX_IMAGE_PIXELS` and `HPSEG_MAX_IMAGE_SIDE` change them.
 */
export const DEFAULT_MAX_IMAGE_PIXELS = 100_000_000;
export const DEFAULT_MAX_IMAGE_SIDE = 65535;

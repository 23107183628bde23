/**
 * The tiny training run the trainer, resume and train→eval round-trip tests share: 32 px synthetic scenes
 * (4×4 patches of the embedded backbone), 16 training and 4 validation images, batch 4 (N = 64), pool 8.
 * Each test adds its own schedule (`--set` overrides) on top.
 * @module
 */
export const TINY_RUN = [
  "dataset.image_size=32",
  "dataset.train_count=16",
  "dataset.val_count=4",
  "train.res=32",
  "train.batch=4",
  "eval.res=32",
  "eval.batch=4",
  "hp.pool_size=8",
];

/** The schedule of the subprocess tests: pool renewal and λ ramp within a few steps, a checkpoint every 3. */
export const TINY_SCHEDULE = [
  ...TINY_RUN,
  "hp.renew_interval=2",
  "hp.lambda_warmup=2",
  "train.log_every=1",
  "train.checkpoint_every=3",
];

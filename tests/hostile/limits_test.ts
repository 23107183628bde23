/**
 * The config schema's bounds are what the runtime supports (issue 11 finding 10): the kernels' own limits
 * and the schema come from core/limits.ts, a value at the bound is accepted and one past it refused with a
 * line naming the key and the value — before any run folder or Worker exists.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../../core/model/config.ts";
import { CONFIG_SCHEMA } from "../../core/model/config_schema.ts";
import { HP_MAX_D } from "../../core/model/loss.ts";
import { LHP_MAX_P } from "../../core/model/lhp.ts";
import { MAX_EVAL_CLASSES, MAX_SYNTHETIC_COUNT } from "../../core/limits.ts";
import { assertInputError } from "../_util.ts";

const max = (k: string) => (CONFIG_SCHEMA[k] as { max: number }).max;

Deno.test("finding 10: schema bounds equal the kernels' limits; one past a bound is refused by key and value", () => {
  assert.equal(max("head.dim"), HP_MAX_D);
  assert.equal(max("dataset.n_classes"), MAX_EVAL_CLASSES);
  assert.equal(max("dataset.train_count"), MAX_SYNTHETIC_COUNT);
  loadConfig("synthetic", [`head.dim=${HP_MAX_D}`]);
  assertInputError(
    () => loadConfig("synthetic", [`head.dim=${HP_MAX_D + 4}`]),
    "head.dim",
    `${HP_MAX_D + 4}`,
  );
  assertInputError(
    () => loadConfig("synthetic", ["head.dim=70"]),
    "head.dim must be a multiple of 4, got 70",
  );
  // train.res: (res / patch)² patches per crop, at most LHP_MAX_P (the embedded backbone has patch 8).
  const side = Math.floor(Math.sqrt(LHP_MAX_P)) * 8;
  loadConfig("synthetic", [`train.res=${side}`, "eval.res=64"]);
  assertInputError(() => loadConfig("synthetic", [`train.res=${side + 8}`]), "train.res", `${side + 8}`);
  // B·P² and 9·B·P must fit the kernels' u32 / f32-exact indices.
  assertInputError(
    () => loadConfig("synthetic", [`train.res=${side}`, "train.batch=4096"]),
    /train\.batch 4096 at train\.res 360 is over the \d+ images/,
  );
  assertInputError(() => loadConfig("synthetic", ["dataset.train_count=2147483647"]), "dataset.train_count");
  assertInputError(
    () => loadConfig("synthetic", [`dataset.n_classes=${MAX_EVAL_CLASSES + 1}`]),
    "dataset.n_classes",
  );
});

/** The list of subcommands, in the order `hpseg --help` shows them. @module */
import type { Command } from "./command.ts";
import { command as train } from "./train.ts";
import { command as evalCmd } from "./eval.ts";
import { command as predict } from "./predict.ts";
import { command as score } from "./score.ts";
import { command as features } from "./features.ts";
import { command as prepare } from "./prepare.ts";
import { command as bench } from "./bench.ts";
import { command as compile } from "./compile.ts";
import { command as dashboard } from "./dashboard.ts";

export const commands: Command[] = [
  train,
  evalCmd,
  predict,
  score,
  features,
  prepare,
  bench,
  dashboard,
  compile,
];

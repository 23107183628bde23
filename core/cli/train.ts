/** `hpseg train`: Train HP heads (default: embedded synthetic scenes, no downloads). @module */
import { notBuiltYet } from "./command.ts";

export const command = notBuiltYet(
  "train",
  "Train HP heads (default: embedded synthetic scenes, no downloads)",
  `Usage: hpseg train [options]

Train HP heads (default: embedded synthetic scenes, no downloads).

Options:
  -h, --help   Show this help`,
);

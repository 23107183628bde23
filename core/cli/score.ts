/** `hpseg score`: Score label PNGs against ground truth (Hungarian or identity). @module */
import { notBuiltYet } from "./command.ts";

export const command = notBuiltYet(
  "score",
  "Score label PNGs against ground truth (Hungarian or identity)",
  `Usage: hpseg score [options]

Score label PNGs against ground truth (Hungarian or identity).

Options:
  -h, --help   Show this help`,
);

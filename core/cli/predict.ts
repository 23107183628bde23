/** `hpseg predict`: Write segment maps and overlays for images. @module */
import { notBuiltYet } from "./command.ts";

export const command = notBuiltYet(
  "predict",
  "Write segment maps and overlays for images",
  `Usage: hpseg predict [options]

Write segment maps and overlays for images.

Options:
  -h, --help   Show this help`,
);

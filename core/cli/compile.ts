/** `hpseg compile`: Build the single hpseg executable with deno compile. @module */
import { notBuiltYet } from "./command.ts";

export const command = notBuiltYet(
  "compile",
  "Build the single hpseg executable with deno compile",
  `Usage: hpseg compile [options]

Build the single hpseg executable with deno compile.

Options:
  -h, --help   Show this help`,
);

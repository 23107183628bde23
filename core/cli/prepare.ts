/** `hpseg prepare`: Prepare a dataset: five-crops and packed caches. @module */
import { notBuiltYet } from "./command.ts";

export const command = notBuiltYet(
  "prepare",
  "Prepare a dataset: five-crops and packed caches",
  `Usage: hpseg prepare [options]

Prepare a dataset: five-crops and packed caches.

Options:
  -h, --help   Show this help`,
);

/** `hpseg eval`: Evaluate a checkpoint: cluster/linear Acc and mIoU, optional CRF. @module */
import { notBuiltYet } from "./command.ts";

export const command = notBuiltYet(
  "eval",
  "Evaluate a checkpoint: cluster/linear Acc and mIoU, optional CRF",
  `Usage: hpseg eval [options]

Evaluate a checkpoint: cluster/linear Acc and mIoU, optional CRF.

Options:
  -h, --help   Show this help`,
);

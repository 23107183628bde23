/** `hpseg features`: Extract DINO patch features and attention logits to safetensors. @module */
import { notBuiltYet } from "./command.ts";

export const command = notBuiltYet(
  "features",
  "Extract DINO patch features and attention logits to safetensors",
  `Usage: hpseg features [options]

Extract DINO patch features and attention logits to safetensors.

Options:
  -h, --help   Show this help`,
);

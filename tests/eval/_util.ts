/**
 * Helpers shared by the eval CLI tests (eval, predict, score through main.ts).
 * @module
 */
import { main } from "../../main.ts";

/** Runs main() with `argv`, capturing console.log / console.error lines; returns the exit code and both. */
export async function runCli(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [], err: string[] = [];
  const log = console.log, error = console.error;
  console.log = (...a: unknown[]) => out.push(a.join(" "));
  console.error = (...a: unknown[]) => err.push(a.join(" "));
  try {
    return { code: await main(argv), out, err };
  } finally {
    console.log = log;
    console.error = error;
  }
}

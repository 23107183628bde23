/**
 * hpseg — unsupervised semantic segmentation with Hidden Positives on WebGPU.
 *
 * Thin entry point: picks the subcommand and runs it. Each command lives in core/cli/<name>.ts.
 * @module
 */
import { type Command, UsageError } from "./core/cli/command.ts";
import { commands } from "./core/cli/registry.ts";

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return [
    "hpseg — unsupervised semantic segmentation with Hidden Positives (CVPR 2023) on WebGPU",
    "",
    "Usage: hpseg <command> [options]      (deno task <command> [options])",
    "",
    "Commands:",
    ...lines,
    "",
    "Run `hpseg <command> --help` for a command's options.",
  ].join("\n");
}

/** Runs the CLI with `argv` and returns the exit code. Errors the user caused print one line. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  const command: Command | undefined = commands.find((c) => c.name === name);
  if (!command) {
    console.error(`hpseg: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`error: ${err.message}`);
      console.error(`Run \`hpseg ${name} --help\` for usage.`);
      return 2;
    }
    if (err instanceof Error && (err as { userFacing?: boolean }).userFacing) {
      console.error(`error: ${err.message}`);
      return 1;
    }
    if (Deno.env.get("HPSEG_DEBUG")) throw err;
    const msg = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    console.error(`error: ${msg}`);
    console.error("(set HPSEG_DEBUG=1 for the stack trace)");
    return 1;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}

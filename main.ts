/**
 * hpseg — unsupervised semantic segmentation with Hidden Positives on WebGPU.
 *
 * Thin entry point: picks the subcommand and runs it. Each command lives in core/cli/<name>.ts.
 * @module
 */
import { type Command } from "./core/cli/command.ts";
import { commands } from "./core/cli/registry.ts";
import { BACKEND_LIST } from "./core/gpu/device.ts";
import { isOsError, UsageError } from "./core/errors.ts";

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
    "Global option: --backend vulkan|gl|metal|dx12 picks the WebGPU backend (default: the best adapter).",
    "Run `hpseg <command> --help` for a command's options.",
  ].join("\n");
}

/**
 * Removes the global `--backend LIST` / `--backend=LIST` flag (any position) and exports it as
 * HPSEG_BACKEND, which core/gpu/device.ts forwards to Deno's DENO_WEBGPU_BACKEND (e.g. "vulkan", "gl").
 */
export function takeBackendFlag(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      out.push(...argv.slice(i));
      break;
    }
    let value: string | undefined;
    if (a === "--backend") {
      value = argv[++i];
      if (value === undefined || value.startsWith("-")) {
        throw new Error("--backend needs a value, e.g. vulkan");
      }
    } else if (a.startsWith("--backend=")) {
      value = a.slice("--backend=".length);
    } else {
      out.push(a);
      continue;
    }
    if (!BACKEND_LIST.test(value)) {
      throw new Error(`--backend must be a comma list of vulkan, gl, metal, dx12; got "${value}"`);
    }
    Deno.env.set("HPSEG_BACKEND", value);
  }
  return out;
}

/** Runs the CLI with `argv` and returns the exit code. Errors the user caused print one line. */
export async function main(argv: string[]): Promise<number> {
  let args: string[];
  try {
    args = takeBackendFlag(argv);
  } catch (err) {
    console.error(`error: ${(err as Error).message}`);
    return 2;
  }
  const [name, ...rest] = args;
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
    // User-caused problems print as one line: our own errors, and the OS's (Deno names the path and the
    // operation, e.g. "Permission denied (os error 13): open 'x'").
    if (err instanceof Error && ((err as { userFacing?: boolean }).userFacing || isOsError(err))) {
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

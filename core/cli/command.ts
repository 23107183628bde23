/**
 * The shape every subcommand shares, and the argument parser they all use.
 *
 * Parsing goes through `node:util` parseArgs (JSR's @std/cli is not reachable from our machines).
 * A bad flag or value raises `UsageError` (core/errors.ts), which main.ts prints as one line plus a `--help`
 * hint.
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "../errors.ts";

/** One `hpseg <name>` subcommand. `run` returns the process exit code. */
export interface Command {
  name: string;
  /** One line for `hpseg --help`. */
  summary: string;
  /** Full `hpseg <name> --help` text. */
  help: string;
  run(argv: string[]): Promise<number>;
}

export type OptionSpec = NonNullable<ParseArgsConfig["options"]>;

/** Result of {@link parseCommandArgs}: typed-enough values plus positionals. */
export interface ParsedArgs {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
  help: boolean;
}

/**
 * Parses `argv` for command `name`; `--help`/`-h` is always accepted.
 * Unknown flags raise a UsageError naming the flag.
 */
export function parseCommandArgs(
  name: string,
  argv: string[],
  options: OptionSpec,
  allowPositionals = false,
): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({
      args: joinNegativeValues(argv, options),
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowPositionals,
      strict: true,
    });
    const help = values.help === true;
    delete (values as Record<string, unknown>).help;
    return { values: values as ParsedArgs["values"], positionals, help };
  } catch (err) {
    const msg = err instanceof Error ? err.message.split("\n")[0] : String(err);
    throw new UsageError(`hpseg ${name}: ${msg}`);
  }
}

/**
 * `--steps -5` → `--steps=-5` for string options: parseArgs refuses a value that starts with a dash as
 * "ambiguous", which hides the real problem (a negative number) that the option's own check reports.
 */
function joinNegativeValues(argv: string[], options: OptionSpec): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      out.push(...argv.slice(i));
      break;
    }
    const name = a.startsWith("--") ? a.slice(2) : null;
    const next = argv[i + 1];
    if (
      name && options[name]?.type === "string" && next !== undefined && /^-(\d|\.\d|Infinity)/.test(next)
    ) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/**
 * Reads an integer option within [min, max] (`fallback` when absent); anything else is a UsageError naming
 * the flag, the range and the value.
 */
export function intOpt(
  args: ParsedArgs,
  key: string,
  range: { min: number; max: number },
  fallback: number,
): number;
export function intOpt(
  args: ParsedArgs,
  key: string,
  range: { min: number; max: number },
  fallback?: number,
): number | undefined;
export function intOpt(
  args: ParsedArgs,
  key: string,
  range: { min: number; max: number },
  fallback?: number,
): number | undefined {
  const raw = stringOpt(args, key);
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < range.min || v > range.max) {
    throw new UsageError(`--${key} must be an integer in [${range.min}, ${range.max}], got "${raw}"`);
  }
  return v;
}

/** Reads a string option, or `fallback` when absent. */
export function stringOpt(args: ParsedArgs, key: string, fallback?: string): string | undefined {
  const v = args.values[key];
  if (v === undefined) return fallback;
  if (typeof v !== "string") throw new UsageError(`--${key} needs a value`);
  return v;
}

/** Reads a numeric option; a non-number raises a UsageError naming the flag and value. */
export function numberOpt(args: ParsedArgs, key: string, fallback: number): number;
export function numberOpt(args: ParsedArgs, key: string, fallback?: number): number | undefined;
export function numberOpt(args: ParsedArgs, key: string, fallback?: number): number | undefined {
  const v = stringOpt(args, key);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`--${key} must be a number, got "${v}"`);
  return n;
}

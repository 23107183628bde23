/**
 * `hpseg compile` (webgpu-notes.md §1.12): builds the single `hpseg` executable with `deno compile`.
 *
 * What gets embedded: everything in main.ts's module graph — the WGSL shaders, the dashboard page, script,
 * styles and Chart.js are text imports, so they are in the graph. Worker entry modules created as
 * `new Worker(new URL("./x.ts", import.meta.url))` are found by scanning the sources and passed with
 * `--include`, and so is configs/ when it has files (webgpu-notes.md §1.12).
 *
 * The runtime: `deno compile` downloads its base binary `denort` from dl.deno.land, which some build machines
 * cannot reach (ours cannot). Before running it, this command checks for `DENORT_BIN` (or `--denort`), then for
 * the zip in `$DENO_DIR/dl/release/v<version>/`, then whether dl.deno.land answers; when none holds it stops
 * with one message saying how to point it at a local runtime.
 * @module
 */
import { fileURLToPath } from "node:url";
import { type Command, parseCommandArgs, stringOpt } from "./command.ts";
import { InputError, UsageError } from "../errors.ts";

const HELP = `Usage: hpseg compile [options]      (deno task compile [options])

Build the single hpseg executable with deno compile. Shaders, the dashboard and configs are embedded; the
executable never reads its own assets from the working directory.

Options:
  --output <path>   Executable to write (default: hpseg in the repository root)
  --target <triple> Target, e.g. x86_64-unknown-linux-gnu, aarch64-apple-darwin (default: this machine)
  --denort <path>   Local denort runtime binary (same as DENORT_BIN=<path>)
  --net <hosts>     Network allowlist baked into the executable (default: 127.0.0.1,localhost,[::1], enough
                    for the dashboard on loopback; add an address to serve the dashboard on it)
  --dry-run         Print the deno compile command and stop
  -h, --help        Show this help

The deno runtime (denort) normally comes from https://dl.deno.land. Where that is unreachable:
  1. On a machine with internet access download
       https://dl.deno.land/release/v<version>/denort-<target>.zip
     (the version is this Deno's, e.g. ${Deno.version.deno}), then either
  2a. unzip it and run   DENORT_BIN=/path/to/denort deno task compile
  2b. or copy the zip, unchanged, to   $DENO_DIR/dl/release/v<version>/denort-<target>.zip
      (DENO_DIR: see \`deno info\`), and run deno task compile.
Pointing DENORT_BIN at the full deno binary does not work: the result starts the REPL.
Without any of these, build on a connected machine, or ship deno with the sources and use deno task.`;

/** Repository root (this file is core/cli/compile.ts). */
function repoRoot(): string {
  return fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");
}

/** Worker entry modules referenced as `new Worker(new URL("<rel>", import.meta.url)…` under `dirs`. */
export async function findWorkerEntries(
  root: string,
  dirs = ["core", "datasets", "dashboard"],
): Promise<string[]> {
  const found = new Set<string>();
  const re = /new\s+Worker\(\s*new\s+URL\(\s*["'`]([^"'`]+)["'`]\s*,\s*import\.meta\.url\s*\)/g;
  async function walk(dir: string): Promise<void> {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(`${root}/${dir}`)];
    } catch {
      return;
    }
    for (const e of entries) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(rel);
      else if (e.isFile && /\.(ts|js|mjs)$/.test(e.name)) {
        // Comment lines are skipped: doc comments may show the pattern with placeholder paths.
        const code = (await Deno.readTextFile(`${root}/${rel}`)).split("\n")
          .filter((l) => !/^\s*(\*|\/\/|\/\*)/.test(l)).join("\n");
        for (const m of code.matchAll(re)) {
          const target = new URL(m[1], `file://${root}/${rel}`).pathname;
          if (target.startsWith(root + "/") && exists(target)) found.add(target.slice(root.length + 1));
        }
      }
    }
  }
  for (const d of dirs) await walk(d);
  return [...found].sort();
}

/** Where `deno compile` caches the runtime zip for `version` and `target`. */
export function denortZipPath(denoDir: string, version: string, target: string): string {
  return `${denoDir}/dl/release/v${version}/denort-${target}.zip`;
}

/** Download address of the runtime zip. */
export function denortUrl(version: string, target: string): string {
  return `https://dl.deno.land/release/v${version}/denort-${target}.zip`;
}

async function denoDir(): Promise<string> {
  const fromEnv = Deno.env.get("DENO_DIR");
  if (fromEnv) return fromEnv;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
    stderr: "null",
  })
    .output();
  try {
    return JSON.parse(new TextDecoder().decode(out.stdout)).denoDir;
  } catch {
    return `${Deno.env.get("HOME") ?? "~"}/.cache/deno`;
  }
}

/** The executable format a target triple runs. */
export function executableFormat(target: string): "ELF" | "Mach-O" | "PE" {
  return target.includes("windows") ? "PE" : target.includes("apple") ? "Mach-O" : "ELF";
}

/** The executable format of `path` from its first bytes, or null when it is none of ELF, Mach-O, PE. */
export function sniffExecutable(path: string): "ELF" | "Mach-O" | "PE" | null {
  const head = new Uint8Array(4);
  try {
    using f = Deno.openSync(path, { read: true });
    if ((f.readSync(head) ?? 0) < 4) return null;
  } catch {
    return null;
  }
  const [a, b, c, d] = head;
  if (a === 0x7f && b === 0x45 && c === 0x4c && d === 0x46) return "ELF";
  if (a === 0x4d && b === 0x5a) return "PE";
  const magic = ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
  if ([0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe, 0xcafebabe].includes(magic)) return "Mach-O";
  return null;
}

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** Whether `url` answers within `ms` (any HTTP status counts as reachable). */
async function reachable(url: string, ms: number): Promise<boolean> {
  try {
    const res = await fetch(url, { method: "HEAD", signal: AbortSignal.timeout(ms) });
    await res.body?.cancel();
    return true;
  } catch {
    return false;
  }
}

/** The runtime `deno compile` will use, or an InputError explaining how to provide one. */
export async function locateRuntime(
  opts: {
    denort?: string;
    target: string;
    version: string;
    probeUrl?: string;
    denoDir?: string;
    env?: boolean;
  },
): Promise<{ kind: "DENORT_BIN" | "cached-zip" | "download"; path?: string }> {
  const bin = opts.denort ?? (opts.env === false ? undefined : Deno.env.get("DENORT_BIN"));
  if (bin) {
    if (!exists(bin)) throw new InputError(`DENORT_BIN points at ${bin}, which is not a file`);
    // deno compile prints a Rust backtrace for a runtime that is not an executable of the target's format.
    const want = executableFormat(opts.target);
    const got = sniffExecutable(bin);
    if (got !== want) {
      throw new InputError(
        `DENORT_BIN points at ${bin}, which is ${got ? `a ${got} file` : "not an executable"}; ` +
          `target ${opts.target} needs the ${want} denort binary`,
        { hint: `unzip denort-${opts.target}.zip from ${denortUrl(opts.version, opts.target)}` },
      );
    }
    return { kind: "DENORT_BIN", path: bin };
  }
  const zip = denortZipPath(opts.denoDir ?? await denoDir(), opts.version, opts.target);
  if (exists(zip)) return { kind: "cached-zip", path: zip };
  const url = opts.probeUrl ?? denortUrl(opts.version, opts.target);
  if (await reachable(url, 8000)) return { kind: "download" };
  throw new InputError(
    `Cannot build hpseg: deno compile needs its runtime denort-${opts.target}.zip from ${
      denortUrl(opts.version, opts.target)
    }, which is unreachable from here, and no local runtime was given`,
    {
      hint:
        `download that zip on a connected machine, then run DENORT_BIN=<unzipped denort> deno task compile, ` +
        `or copy the zip to ${zip} (see deno task compile --help)`,
    },
  );
}

/** Arguments for `deno compile`. */
export function compileArgs(
  o: { output: string; target?: string; includes: string[]; net: string; entry: string },
): string[] {
  const args = [
    "compile",
    "--no-prompt",
    // The trainer Worker's narrowed permissions (core/cli/train.ts) are an unstable API.
    "--unstable-worker-options",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    "--allow-sys",
    `--allow-net=${o.net}`,
    "--output",
    o.output,
  ];
  if (o.target) args.push("--target", o.target);
  for (const inc of o.includes) args.push("--include", inc);
  args.push(o.entry);
  return args;
}

export const command: Command = {
  name: "compile",
  summary: "Build the single hpseg executable with deno compile",
  help: HELP,
  async run(argv) {
    const args = parseCommandArgs("compile", argv, {
      output: { type: "string" },
      target: { type: "string" },
      denort: { type: "string" },
      net: { type: "string" },
      "dry-run": { type: "boolean" },
    });
    if (args.help) {
      console.log(HELP);
      return 0;
    }
    const root = repoRoot();
    if (!exists(`${root}/main.ts`) || !exists(`${root}/deno.json`)) {
      throw new UsageError(
        "hpseg compile runs from the source tree (deno task compile), not from a built executable",
      );
    }
    const target = stringOpt(args, "target") ?? Deno.build.target;
    const net = stringOpt(args, "net") ?? "127.0.0.1,localhost,[::1]";
    if (!/^[A-Za-z0-9.:\[\],_-]+$/.test(net)) {
      throw new UsageError(`--net must be a comma-separated host list, got "${net}"`);
    }
    const output = stringOpt(args, "output") ?? `${root}/hpseg`;
    const includes = await findWorkerEntries(root);
    try {
      if ([...Deno.readDirSync(`${root}/configs`)].some((e) => e.isFile)) includes.push("configs");
    } catch { /* no configs folder */ }
    const denoArgs = compileArgs({
      output,
      target: stringOpt(args, "target"),
      includes,
      net,
      entry: "main.ts",
    });
    if (args.values["dry-run"]) {
      console.log(["deno", ...denoArgs].join(" "));
      return 0;
    }
    const rt = await locateRuntime({ denort: stringOpt(args, "denort"), target, version: Deno.version.deno });
    console.error(
      `compile: runtime ${rt.kind}${rt.path ? ` ${rt.path}` : ""}; embedding ${
        includes.join(", ") || "graph only"
      }`,
    );
    const env: Record<string, string> = rt.kind === "DENORT_BIN" ? { DENORT_BIN: rt.path! } : {};
    const status = await new Deno.Command(Deno.execPath(), { args: denoArgs, cwd: root, env }).spawn().status;
    if (!status.success) {
      throw new InputError(`deno compile failed with exit code ${status.code} (its output is above)`);
    }
    console.error(`compile: wrote ${output}`);
    return 0;
  },
};

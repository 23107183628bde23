/**
 * `hpseg dashboard` (style.md §2.3): serves the dashboard for past runs without training — the latest run in the
 * runs folder, or `--run <id>`. `hpseg train` starts the same server itself (dashboard/server.ts
 * `startDashboard`) for the live run.
 * @module
 */
import { type Command, numberOpt, parseCommandArgs, stringOpt } from "./command.ts";
import { InputError, UsageError } from "../errors.ts";
import { RUN_LOG_FILE } from "../telemetry.ts";
import { startDashboard } from "../../dashboard/server.ts";

const HELP = `Usage: hpseg dashboard [options]      (deno task dashboard [options])

Serve the runs browser for runs already on disk (no training): the page opens on the latest run (or --run)
with its charts, pictures and per-class results, and its Runs tab lists every run in the runs folder —
sortable, with names and notes (saved in the run folder), and any runs overlaid in the same charts with the
differences of their configurations.

Options:
  --runs <dir>      Runs folder (default: runs)
  --run <id>        Run to open (default: the most recently modified run with a ${RUN_LOG_FILE})
  --host <addr>     Bind address (default: 127.0.0.1). A non-loopback address requires --token
  --port <n>        Port (default: 8787; 0 picks a free one)
  --token <secret>  Require this token on every request (header x-hpseg-token or ?token=)
  -h, --help        Show this help`;

async function latestRun(runsDir: string): Promise<string | undefined> {
  let best: [number, string] | undefined;
  try {
    for await (const e of Deno.readDir(runsDir)) {
      if (!e.isDirectory) continue;
      try {
        const st = await Deno.stat(`${runsDir}/${e.name}/${RUN_LOG_FILE}`);
        const t = st.mtime?.getTime() ?? 0;
        if (!best || t > best[0]) best = [t, e.name];
      } catch { /* not a run */ }
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new InputError(`Runs folder ${runsDir} does not exist`, { hint: "pass --runs <dir>" });
    }
    throw err;
  }
  return best?.[1];
}

export const command: Command = {
  name: "dashboard",
  summary: "Serve the training dashboard for runs on disk",
  help: HELP,
  async run(argv) {
    const args = parseCommandArgs("dashboard", argv, {
      runs: { type: "string" },
      run: { type: "string" },
      host: { type: "string" },
      port: { type: "string" },
      token: { type: "string" },
    });
    if (args.help) {
      console.log(HELP);
      return 0;
    }
    const runsDir = (stringOpt(args, "runs") ?? "runs").replace(/\/+$/, "");
    const port = numberOpt(args, "port", 8787);
    const run = stringOpt(args, "run") ?? await latestRun(runsDir);
    if (run !== undefined && !/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(run)) {
      throw new UsageError(`--run must be a run folder name, got "${run}"`);
    }
    const dash = await startDashboard({
      runsDir,
      runDir: run ? `${runsDir}/${run}` : undefined,
      host: stringOpt(args, "host"),
      port,
      token: stringOpt(args, "token"),
      readOnly: true,
    });
    console.log(`dashboard: ${dash.url}${run ? ` (run ${run})` : " (no runs yet)"}`);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      Deno.addSignalListener("SIGINT", stop);
      if (Deno.build.os !== "windows") Deno.addSignalListener("SIGTERM", stop);
    });
    await dash.close();
    return 0;
  },
};

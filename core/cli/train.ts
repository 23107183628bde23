/**
 * `hpseg train`: HP training (hp-method.md §1). With no arguments it trains on the embedded synthetic scenes
 * with the built-in deterministic backbone (configs/synthetic.yaml) and prints the final
 * metrics as one JSON line.
 *
 * The main thread only parses arguments, creates the run directory, serves the dashboard (unless
 * `--no-serve`), draws the progress bar and relays Ctrl-C; the trainer runs in a Worker
 * (core/train/worker.ts) because GPU readbacks block the thread that awaits them. The Worker gets only
 * the permissions training needs ({@link trainerPermissions}).
 * @module
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Command, numberOpt, parseCommandArgs, stringOpt } from "./command.ts";
import { InputError, UsageError } from "../errors.ts";
import { MAX_STEPS, MAX_WORKERS } from "../limits.ts";
import { type DashboardHandle, readRunLog, RunLog, type TelemetryMessage } from "../telemetry.ts";
import { TrainView } from "./train_view.ts";
import { commandLine, HPSEG_VERSION } from "../version.ts";
import { sharedJpegDecoderDir } from "../image/codecs.ts";
import type { HpConfig } from "../model/config_schema.ts";
import { resolveConfig } from "../train/run_dir.ts";
import { openNewRun, openResumedRun } from "../train/run_session.ts";
import { watchStopSignals } from "./stop_signals.ts";
import type { StartRequest, WorkerResult } from "../train/worker.ts";
import type { FinalMetrics } from "../train/loop.ts";
import type { TickMessage } from "../train/progress.ts";

/** hpseg's own modules: the trainer starts its loader and CRF Workers from them, which needs read access. */
const APP_ROOT = new URL("../../", import.meta.url).protocol === "file:"
  ? fileURLToPath(new URL("../../", import.meta.url))
  : "";

/**
 * What the trainer Worker may do: read the dataset root, the backbone weights, its run folder, hpseg's
 * own modules (to start its loader Workers) and the fallback JPEG decoder's `.wasm` folder (core/data/
 * image.ts; the loader Workers inherit these permissions); write only the run folder; read the environment
 * (the WebGPU backend variables); no network, subprocesses, FFI or system information. Needs deno.json's
 * `"unstable": ["worker-options"]` (Worker permissions are unstable).
 */
export function trainerPermissions(config: HpConfig, runDir: string): Deno.PermissionOptionsObject {
  const read = [runDir, config.dataset.root, config.backbone.weights, APP_ROOT, sharedJpegDecoderDir()]
    .filter((p): p is string => !!p)
    .map((p) => resolve(p));
  return { read, write: [resolve(runDir)], env: true, net: false, run: false, ffi: false, sys: false };
}

const HELP = `Usage: hpseg train [options]

Trains HP's segmentation head on a frozen ViT (hp-method.md §1). With no options: the embedded synthetic
scenes and the built-in deterministic backbone (no downloads, a few minutes on a CPU software adapter).
Writes runs/<run-id>/ (config.yaml, metrics.jsonl, checkpoints/, pictures/), serves the live dashboard, and
prints the final metrics as one JSON line on stdout:
  {"cluster_acc":…, "cluster_miou":…, "linear_acc":…, "linear_miou":…, "kmeans_miou":…}   (percent)
kmeans_miou is the baseline: k-means (n_clusters = n_classes) on the raw backbone features of the
validation images, scored with the same Hungarian protocol. With eval.crf (the official configs) the line
also holds "crf": the four probe scores after the dense CRF (hp-method.md §8.5).

Options:
  --config NAME|PATH   synthetic (default), cocostuff27, cityscapes, potsdam, a DINOv2 config
                       (cocostuff27_dinov2_s14, _s14_reg4, _b14, _b14_reg4), or a YAML file
  --set KEY=VALUE      override a config key, e.g. --set train.batch=32 (repeatable)
  --resume RUN_DIR     continue a run from its newest checkpoint (same schedule, bit-for-bit)
  --from-step N        with --resume: continue from the checkpoint of step N instead (later checkpoints
                       are moved to checkpoints/abandoned-<time>/)
  --out DIR            parent folder of run directories (default runs)
  --steps N            stop after N training steps in total (default: epochs × batches per epoch)
  --no-serve           do not start the dashboard server
  --keep-serving       keep the dashboard server up after the run ends, until Ctrl-C
  --host H             dashboard bind address (default 127.0.0.1; others need --token)
  --port N             dashboard port (default 8787; 0 = any free port)
  --token T            dashboard access token
  --workers N          data-loading Web Workers, overriding dataset.workers (auto: 0 for synthetic, generated
                       in the trainer's thread; other datasets min(CPU threads − 1, 4); 0 = no Workers)
  --json               print every telemetry message as a JSON line on stdout (final metrics last)
  -h, --help           show this help

Ctrl-C, SIGTERM and SIGHUP save a checkpoint and exit (a second one aborts); resume with
--resume runs/<run-id>. One trainer per run folder: a second one is refused while the first runs.`;

const OPTIONS = {
  config: { type: "string" },
  set: { type: "string", multiple: true },
  resume: { type: "string" },
  "from-step": { type: "string" },
  out: { type: "string" },
  steps: { type: "string" },
  "no-serve": { type: "boolean" },
  "keep-serving": { type: "boolean" },
  host: { type: "string" },
  port: { type: "string" },
  token: { type: "string" },
  workers: { type: "string" },
  json: { type: "boolean" },
} as const;

function positiveInt(
  name: string,
  v: number | undefined,
  allowZero = false,
  max = MAX_STEPS,
): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v < (allowZero ? 0 : 1)) {
    throw new UsageError(`--${name} must be a ${allowZero ? "non-negative" : "positive"} integer, got ${v}`);
  }
  if (v > max) throw new UsageError(`--${name} must be at most ${max}, got ${v}`);
  return v;
}

/**
 * The final JSON line: the five scores in percent, rounded to 0.01 (null when not computed); with eval.crf
 * also `crf`, the four probe scores after the dense CRF.
 */
export function finalLine(f: FinalMetrics): Record<string, unknown> {
  const round = (v: number | null) => v !== null && Number.isFinite(v) ? Math.round(v * 100) / 100 : null;
  const probes = (s: Omit<FinalMetrics, "kmeans_miou" | "crf">) => ({
    cluster_acc: round(s.cluster_acc),
    cluster_miou: round(s.cluster_miou),
    linear_acc: round(s.linear_acc),
    linear_miou: round(s.linear_miou),
  });
  return { ...probes(f), kmeans_miou: round(f.kmeans_miou), ...(f.crf ? { crf: probes(f.crf) } : {}) };
}

/** Resolves at the next SIGINT, SIGTERM or SIGHUP (`--keep-serving` after the run). */
function untilStopSignal(): Promise<void> {
  return new Promise((resolve) => {
    const watch = watchStopSignals({
      stop: () => {
        watch[Symbol.dispose]();
        resolve();
      },
      abort: () => {},
    });
  });
}

/** Total system memory (what a software adapter's buffers live in), or undefined without permission. */
function systemMemory(): number | undefined {
  try {
    return Deno.systemMemoryInfo().total;
  } catch {
    return undefined;
  }
}

export const command: Command = {
  name: "train",
  summary: "Train HP heads (default: embedded synthetic scenes, no downloads)",
  help: HELP,
  async run(argv) {
    const args = parseCommandArgs("train", argv, OPTIONS);
    if (args.help) {
      console.log(HELP);
      return 0;
    }
    const sets = (args.values.set as string[] | undefined) ?? [];
    const resumeDir = stringOpt(args, "resume");
    const steps = positiveInt("steps", numberOpt(args, "steps"));
    const port = positiveInt("port", numberOpt(args, "port"), true, 65535);
    const workers = positiveInt("workers", numberOpt(args, "workers"), true, MAX_WORKERS);
    const fromStep = positiveInt("from-step", numberOpt(args, "from-step"), true);
    if (fromStep !== undefined && !resumeDir) throw new UsageError("--from-step needs --resume RUN_DIR");
    if (resumeDir && (args.values.config !== undefined || sets.length)) {
      throw new UsageError("--resume continues a run with its own config; --config/--set cannot change it");
    }
    const serve = args.values["no-serve"] !== true;
    const keepServing = args.values["keep-serving"] === true;
    if (keepServing && !serve) throw new UsageError("--keep-serving needs the dashboard (drop --no-serve)");
    const json = args.values.json === true;

    // The run folder stays locked until this function returns (one trainer per folder); a new run that
    // fails before its first checkpoint leaves no folder behind (core/train/run_session.ts).
    using run = resumeDir ? await openResumedRun(resumeDir, fromStep) : await openNewRun(
      stringOpt(args, "out") ?? "runs",
      resolveConfig(stringOpt(args, "config") ?? "synthetic", sets),
    );
    for (const line of run.notes) console.error(line);
    const { config, runDir, runId } = run;
    const resumeFrom = run.resume?.step ?? null;
    if (run.resume) {
      const total = steps ?? run.resume.totalSteps;
      if (typeof total === "number" && run.resume.step >= total) {
        // A finished run is not trained again: report it, or say that only its final evaluation runs.
        const done = (await readRunLog(runDir)).findLast((m) => m.type === "status" && m.state === "done");
        if (done?.type === "status" && done.final) {
          console.error(`${runDir} already finished at step ${run.resume.step}: ${done.message}`);
          console.log(JSON.stringify(finalLine(done.final)));
          return 0;
        }
        console.error(`${runDir} reached its last step (${total}); running its final evaluation`);
      }
    }
    const runsDir = runDir.split("/").slice(0, -1).join("/") || ".";
    console.error(`run directory: ${runDir}`);

    let dashboard: DashboardHandle | null = null;
    let log: RunLog | null = null;
    if (serve) {
      // Loaded only when serving: Hono and the page stay out of `--no-serve` runs.
      const { startDashboard } = await import("../../dashboard/server.ts");
      dashboard = await startDashboard({
        runsDir,
        runDir,
        host: stringOpt(args, "host"),
        port,
        token: stringOpt(args, "token"),
        keepServing,
      });
      console.error(`dashboard: ${dashboard.url}`);
    } else {
      log = new RunLog(runDir);
    }
    // The start message also carries what only this thread knows: the command line and the versions.
    const facts = { command: commandLine(Deno.args), version: HPSEG_VERSION, deno: Deno.version.deno };
    const publish = (m: TelemetryMessage) => {
      if (m.type === "status" && m.state === "starting") m = { ...m, facts: { ...m.facts, ...facts } };
      if (dashboard) dashboard.publish(m);
      else log!.append(m);
      if (json) console.log(JSON.stringify(m));
    };

    const view = new TrainView(publish);
    const say = (line: string) => view.say(line);
    const worker = new Worker(new URL("../train/worker.ts", import.meta.url), {
      type: "module",
      deno: { permissions: trainerPermissions(config, runDir) },
    });
    // Ctrl-C, SIGTERM, SIGHUP: checkpoint and stop where there is new work to save, else stop at once; a
    // second signal aborts. Either way the log records "stopped" and the run folder is unlocked.
    // The "stopped" status reaches open pages before the process exits (the server flushes it and waits,
    // at most a couple of seconds, for the pages to take it).
    const quit = (code: number, message: string): void => {
      worker.terminate();
      publish({ type: "status", state: "stopped", runId, message });
      log?.close();
      run[Symbol.dispose]();
      const exit = () => Deno.exit(code);
      if (dashboard) dashboard.close().then(exit, exit);
      else exit();
    };
    using signals = watchStopSignals({
      stop: (sig, code) => {
        const answer = view.interrupt(resumeFrom);
        if (!answer.now) {
          say(answer.line);
          worker.postMessage({ kind: "stop" });
          return;
        }
        view.done();
        say(answer.line);
        quit(code, `${sig}: ${answer.line}`);
      },
      abort: (sig, code) => {
        say("interrupt: quitting without a checkpoint");
        quit(code, `aborted by a second ${sig}`);
      },
    });
    try {
      const outcome = await new Promise<WorkerResult>((resolve) => {
        worker.onmessage = (ev: MessageEvent<TelemetryMessage | TickMessage | WorkerResult>) => {
          const m = ev.data;
          // Telemetry has a `type` (a picture message also has a `kind`); the final result has only `kind`.
          if (!("type" in m)) return resolve(m as WorkerResult);
          if (m.type === "tick") return view.onTick(m);
          if (m.type === "metrics") view.onMetrics(m);
          else if (m.type === "eval") {
            const e = m.metrics;
            // Unlabeled folders have no scores (NaN here, null in the JSON line): say so instead of "NaN".
            const f = (v: number) => Number.isFinite(v) ? v.toFixed(1) : "n/a";
            say(
              `step ${m.step}: cluster acc ${f(e.cluster_acc)} mIoU ${f(e.cluster_miou)} · ` +
                `linear acc ${f(e.linear_acc)} mIoU ${f(e.linear_miou)}`,
            );
          } else if (m.type === "status" && m.message && (m.state === "starting" || m.state === "running")) {
            say(m.message);
          }
          publish(m);
        };
        worker.onerror = (ev) => {
          ev.preventDefault();
          resolve({ kind: "error", message: ev.message, userFacing: false });
        };
        const req: StartRequest = {
          kind: "start",
          config,
          runDir,
          runId,
          resume: run.resume !== null,
          resumeCheckpoint: run.resume?.path,
          maxSteps: steps,
          workers,
          memoryBytes: systemMemory(),
        };
        worker.postMessage(req);
      });
      if (outcome.kind === "error") {
        view.done("failed");
        if (outcome.userFacing) throw new InputError(outcome.message);
        if (Deno.env.get("HPSEG_DEBUG") && outcome.stack) console.error(outcome.stack);
        throw new Error(outcome.message);
      }
      const r = outcome.result;
      if (r.stopped) {
        view.done(`stopped at step ${r.step}`);
        const at = r.checkpointStep ?? resumeFrom;
        console.error(
          at !== null
            ? `checkpoint of step ${at} saved; resume with: deno task train --resume ${runDir}`
            : "stopped before the first checkpoint; nothing to resume",
        );
        return signals.exitCode;
      }
      view.done(`${r.step} steps`);
      console.log(JSON.stringify(finalLine(r.final as FinalMetrics)));
      return 0;
    } catch (err) {
      if (keepServing) console.error(`run failed: ${(err as Error).message}`);
      throw err;
    } finally {
      worker.terminate();
      if (dashboard && keepServing) {
        signals[Symbol.dispose]();
        console.error(`dashboard: still serving ${dashboard.url} (--keep-serving); Ctrl-C to stop`);
        await untilStopSignal();
      }
      await dashboard?.close();
      log?.close();
    }
  },
};

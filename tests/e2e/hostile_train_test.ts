/**
 * Faults around training runs (issue 11 findings 1, 4, 6, 7, 8, 9, 10, 13), with tiny runs of the embedded
 * default as a user starts them (subprocesses of main.ts). One 6-step run (checkpoints at 3 and 6) is made
 * once and copied for each scenario.
 */
import assert from "node:assert/strict";
import { loadCheckpoint, saveCheckpoint } from "../../core/model/checkpoint.ts";
import { acquireRunLock, lockHolder, RUN_LOCK_FILE } from "../../core/train/run_lock.ts";
import { listStepCheckpoints } from "../../core/train/run_checkpoints.ts";
import { type MetricsMessage, readRunLog, type StatusMessage } from "../../core/telemetry.ts";
import { createApp } from "../../dashboard/server.ts";
import { gpuCommandTest } from "../_util.ts";
import { TINY_SCHEDULE } from "../_tiny.ts";
import { assertOneLineError, hpseg, hpsegCommand, pngBomb } from "../hostile/_hostile.ts";

const TINY = [...TINY_SCHEDULE, "eval.valid_freq=1000"].flatMap((s) => ["--set", s]);
const tmp = Deno.makeTempDirSync({ prefix: "hpseg-hostile-train-" });
let base: string | null = null;

/** The 6-step base run (made once per file). */
async function baseRun(): Promise<string> {
  if (base) return base;
  const r = await hpseg(["train", ...TINY, "--steps", "6", "--no-serve", "--out", `${tmp}/base`]);
  assert.equal(r.code, 0, r.stderr);
  base = `${tmp}/base/${[...Deno.readDirSync(`${tmp}/base`)][0].name}`;
  return base;
}

/** A copy of the base run under `name` (same run id as folder name, so logs stay consistent). */
async function copyRun(name: string): Promise<string> {
  const src = await baseRun();
  const dst = `${tmp}/${name}/${src.split("/").pop()}`;
  Deno.mkdirSync(dst, { recursive: true });
  const copy = (from: string, to: string) => {
    for (const e of Deno.readDirSync(from)) {
      if (e.isDirectory) {
        Deno.mkdirSync(`${to}/${e.name}`);
        copy(`${from}/${e.name}`, `${to}/${e.name}`);
      } else Deno.copyFileSync(`${from}/${e.name}`, `${to}/${e.name}`);
    }
  };
  copy(src, dst);
  return dst;
}

const steps = (run: string) => listStepCheckpoints(run).map((s) => s.step);

gpuCommandTest(
  "finding 1: a second trainer on a locked run folder is refused; a stale lock is replaced",
  async () => {
    const run = await copyRun("lock");
    const lock = acquireRunLock(run); // this test process plays the running trainer
    try {
      const r = await hpseg(["train", "--resume", run, "--no-serve"]);
      assertOneLineError(r, [new RegExp(`Run folder .* is in use by another trainer \\(pid ${Deno.pid}`)], 1);
      assert.deepEqual(steps(run), [3, 6], "the refused trainer changed the checkpoints");
    } finally {
      lock.release();
    }
    // A lock left by a killed trainer: its pid no longer runs.
    const dead = new Deno.Command("true").spawn();
    await dead.status;
    Deno.writeTextFileSync(
      `${run}/${RUN_LOCK_FILE}`,
      JSON.stringify({ pid: dead.pid, start: "1", boot: null, host: "", since: "earlier" }),
    );
    assert.equal(lockHolder(run), null);
    const ok = await hpseg(["train", "--resume", run, "--steps", "7", "--no-serve"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.throws(() => Deno.statSync(`${run}/${RUN_LOCK_FILE}`), "the lock outlived the run");
  },
);

gpuCommandTest(
  "finding 6: a state with NaN/Inf is never saved as good; the message names a finite checkpoint",
  async () => {
    const run = await copyRun("diverge");
    // An optimiser moment at the edge of float32: the next probe update overflows to Inf while every loss
    // of that step is still finite — only the state shows it.
    const last = `${run}/checkpoints/last.safetensors`;
    const s = await loadCheckpoint(last);
    s.optim.linear.m.fill(3.4e38);
    await saveCheckpoint(last, s);
    await saveCheckpoint(`${run}/checkpoints/step-6.safetensors`, s);
    const r = await hpseg(["train", "--resume", run, "--steps", "7", "--no-serve"]);
    assertOneLineError(r, [
      /Training stopped at step 7: the training state holds NaN\/Inf values \(probe\.linear\.params/,
      /the last good checkpoint is .*last\.safetensors \(step 6\)/,
    ], 1);
    assert.equal((await loadCheckpoint(last)).step, 6, "last.safetensors was overwritten");
    assert.deepEqual(steps(run), [3, 6]);
    for (const e of Deno.readDirSync(`${run}/checkpoints`)) {
      await loadCheckpoint(
        `${run}/checkpoints/${e.name}`,
      );
    }
  },
);

gpuCommandTest("finding 11: a NaN checkpoint is an error for eval (it scored 24.6 %)", async () => {
  const run = await copyRun("nan-eval");
  const last = `${run}/checkpoints/last.safetensors`;
  const s = await loadCheckpoint(last);
  s.head[5] = NaN;
  await saveCheckpoint(last, s);
  const r = await hpseg(["eval", "--checkpoint", last, "--json"]);
  assertOneLineError(r, [/last\.safetensors/, /"cluster1\.0\.weight" holds 1 NaN\/Inf value/], 1);
});

for (const [sig, code] of [["SIGTERM", 143], ["SIGHUP", 129]] as const) {
  gpuCommandTest(`finding 7: ${sig} saves a checkpoint, records "stopped" and exits ${code}`, async () => {
    const run = await copyRun(sig);
    const child = hpsegCommand(["train", "--resume", run, "--steps", "100000", "--no-serve"]).spawn();
    const output = child.output();
    try {
      // Wait until the resumed run has trained a step (observable in its log), then signal.
      const t0 = Date.now();
      let started = false;
      while (!started && Date.now() - t0 < 120_000) {
        await new Promise((r) => setTimeout(r, 100));
        started = (await readRunLog(run)).some((m) => m.type === "metrics" && m.step > 6);
      }
      assert.ok(started, "the resumed run did not start training");
      child.kill(sig);
    } catch (err) {
      try {
        child.kill("SIGKILL"); // never leave a 100000-step run behind
      } catch { /* already ended */ }
      await output;
      throw err;
    }
    const out = await output;
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, code, stderr);
    assert.match(stderr, /checkpoint of step \d+ saved; resume with/);
    const log = await readRunLog(run);
    const end = log.filter((m): m is StatusMessage => m.type === "status").pop()!;
    assert.equal(end.state, "stopped");
    const stopped = Number(/stopped at step (\d+)/.exec(end.message ?? "")?.[1]);
    assert.ok(stopped > 6, end.message);
    assert.equal((await loadCheckpoint(`${run}/checkpoints/last.safetensors`)).step, stopped);
    assert.throws(() => Deno.statSync(`${run}/${RUN_LOCK_FILE}`), "the lock outlived the run");
  });
}

gpuCommandTest(
  "finding 8: resume takes the newest intact step file, cleans temporaries; --from-step N works",
  async () => {
    const run = await copyRun("order");
    const ck = `${run}/checkpoints`;
    const reference = await loadCheckpoint(`${ck}/step-6.safetensors`);
    // A kill between the two writes in the old order: step-6 written, last still at step 3, a torn temporary.
    Deno.copyFileSync(`${ck}/step-3.safetensors`, `${ck}/last.safetensors`);
    Deno.writeFileSync(`${ck}/last.safetensors.4242.deadbeef.tmp`, new Uint8Array(100));
    Deno.writeFileSync(`${run}/pictures/ghp_0000009.png.4242.tmp`, new Uint8Array(10));
    const r = await hpseg(["train", "--resume", run, "--steps", "6", "--no-serve"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /resuming .* from .*step-6\.safetensors \(step 6\)/);
    assert.deepEqual([...Deno.readDirSync(ck)].filter((e) => e.name.endsWith(".tmp")), []);
    assert.deepEqual([...Deno.readDirSync(`${run}/pictures`)].filter((e) => e.name.endsWith(".tmp")), []);

    // --from-step 3: re-trains 4..6 and lands on the same parameters; the later checkpoints are kept aside.
    const f = await hpseg(["train", "--resume", run, "--from-step", "3", "--steps", "6", "--no-serve"]);
    assert.equal(f.code, 0, f.stderr);
    assert.match(f.stderr, /resuming .* from .*step-3\.safetensors \(step 3\)/);
    assert.match(f.stderr, /checkpoints after step 3 moved to .*abandoned-/);
    const aside = [...Deno.readDirSync(ck)].find((e) => e.isDirectory && e.name.startsWith("abandoned-"));
    assert.ok(aside && Deno.statSync(`${ck}/${aside.name}/step-6.safetensors`).isFile);
    const again = await loadCheckpoint(`${ck}/last.safetensors`);
    assert.equal(again.step, 6);
    assert.deepEqual(again.head, reference.head, "θ differs from the run that went through step 6 first");
    const none = await hpseg(["train", "--resume", run, "--from-step", "5", "--no-serve"]);
    assertOneLineError(none, [
      /Cannot resume .* from step 5: no readable checkpoint at that step \(readable: 6, 3\)/,
    ], 1);

    // finding 13: the history the dashboard serves shows every step once, as the run really went.
    const app = createApp({ runsDir: run.slice(0, run.lastIndexOf("/")) });
    const res = await app.request(`/api/history?run=${run.split("/").pop()}`, {
      headers: { host: "localhost" },
    });
    const hist = (await res.json()).messages as MetricsMessage[];
    const seen = hist.filter((m) => m.type === "metrics").map((m) => m.step);
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 6], `steps in the history: ${seen}`);
    assert.ok(
      (await readRunLog(run)).filter((m) => m.type === "metrics").length > 6,
      "the log itself keeps every attempt",
    );
  },
);

gpuCommandTest("finding 9: a run that fails before its first checkpoint leaves no run folder", async () => {
  const data = `${tmp}/empty-data`, out = `${tmp}/early`;
  Deno.mkdirSync(data, { recursive: true });
  const r = await hpseg([
    "train",
    ...TINY,
    "--set",
    "dataset.name=folder",
    "--set",
    `dataset.root=${data}`,
    "--no-serve",
    "--out",
    out,
  ]);
  assertOneLineError(r, [new RegExp(data)], 1);
  assert.deepEqual([...Deno.readDirSync(out)], [], "the failed run left a folder");
});

gpuCommandTest(
  "finding 4: a PNG bomb in a folder dataset stops training with one line from the loader",
  async () => {
    const data = `${tmp}/bomb-data/images`, out = `${tmp}/bomb-runs`;
    Deno.mkdirSync(data, { recursive: true });
    for (let i = 0; i < 8; i++) {
      Deno.writeFileSync(
        `${data}/${i}.png`,
        pngBomb(i === 3 ? 20000 : 32, i === 3 ? 20000 : 32),
      );
    }
    const r = await hpseg([
      "train",
      ...TINY,
      "--set",
      "dataset.name=folder",
      "--set",
      `dataset.root=${data}`,
      "--set",
      "dataset.n_classes=3",
      "--workers",
      "1",
      "--no-serve",
      "--out",
      out,
    ]);
    assertOneLineError(r, [/3\.png/, /20000×20000 = 400000000 pixels/], 1);
    assert.ok(r.seconds < 120, `took ${r.seconds} s`);
  },
);

gpuCommandTest(
  "finding 10: values the runtime cannot handle are one line (config or trainer Worker)",
  async () => {
    for (
      const [set, pattern] of [
        ["head.dim=4096", /head\.dim must be in \[4, 512\], got 4096/],
        ["train.res=4096", /train\.res 4096 gives 262144 patches per crop .* over the 2048/],
        ["dataset.train_count=2147483647", /dataset\.train_count must be in \[1, 1000000\]/],
        // Adapter-dependent: over the buffer binding limit (lavapipe) or more than the dataset gives.
        ["hp.pool_size=1048576", /pool-ag.*binding limit|pool of 1048576 needs/],
      ] as const
    ) {
      const r = await hpseg(["train", ...TINY, "--set", set, "--no-serve", "--out", `${tmp}/limits`]);
      assertOneLineError(r, [pattern], 1);
    }
  },
);

Deno.test({
  name: "cleanup of the hostile training runs",
  fn() {
    Deno.removeSync(tmp, { recursive: true });
  },
});

/**
 * Ctrl-C and resume as a user meets them (`deno task train` subprocesses, issue 10 §2 and §8):
 * - Ctrl-C while the pools are being built (a long GPU phase before the first step, with nothing to save)
 *   is answered at once: one line saying so, exit 130 within 2 s;
 * - Ctrl-C during the steps saves a checkpoint and says where to resume; resuming a finished run does not
 *   train or evaluate again: it reports the run's final scores.
 * @module
 */
import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { join } from "node:path";
import { testGpu } from "../_util.ts";
import { task, taskArgs, taskEnv } from "../_task.ts";
import { TINY_SCHEDULE } from "../_tiny.ts";

const ignore = (await testGpu()) === null;
const ROOT = new URL("../../", import.meta.url).pathname;
const sets = (s: string[]) => s.flatMap((x) => ["--set", x]);

/**
 * Starts `deno task train …`; `line` resolves once stderr matches `waitFor` (or the process ends: check
 * `matched()`), `done()` gives the exit status and output.
 */
function spawnTrain(args: string[], waitFor: RegExp) {
  const child = new Deno.Command(Deno.execPath(), {
    args: taskArgs("train", args),
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: taskEnv(),
  }).spawn();
  let stderr = "";
  let matched = false;
  const seen = Promise.withResolvers<void>();
  const line = seen.promise;
  const reading = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      stderr += chunk;
      if (!matched && waitFor.test(stderr)) {
        matched = true;
        seen.resolve();
      }
    }
    seen.resolve(); // the process ended without the line: the caller's assertion says so
  })();
  const stdout = new Response(child.stdout).text();
  return {
    child,
    line,
    matched: () => matched,
    async done() {
      const status = await child.status;
      await reading;
      return { code: status.code, stderr, stdout: await stdout };
    },
  };
}

Deno.test({
  name: "train: Ctrl-C while the pools are built is answered at once (exit 130, one line)",
  sanitizeOps: false,
  sanitizeResources: false,
  ignore,
  async fn() {
    const out = await Deno.makeTempDir({ prefix: "hpseg-sigint-pool-" });
    try {
      // 224-px scenes and a 256-patch pool: 32 backbone batches, many seconds on a software adapter.
      const run = spawnTrain(
        [
          ...sets(["dataset.image_size=224", "train.res=224", "eval.res=224", "hp.pool_size=256"]),
          "--no-serve",
          "--out",
          out,
        ],
        /building pools 1\/32/,
      );
      await run.line;
      if (!run.matched()) assert.fail(`no pool progress line: ${(await run.done()).stderr}`);
      const t0 = performance.now();
      run.child.kill("SIGINT");
      const r = await run.done();
      const seconds = (performance.now() - t0) / 1000;
      assertEquals(r.code, 130, r.stderr);
      assert(seconds < 2, `took ${seconds.toFixed(2)} s to stop`);
      assert(/^interrupt: stopped while building pools: nothing to save yet$/m.test(r.stderr), r.stderr);
      assert(!/^\s+at /m.test(r.stderr), r.stderr);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test({
  name: "train: Ctrl-C during the steps checkpoints; resuming a finished run reports it without training",
  sanitizeOps: false,
  sanitizeResources: false,
  ignore,
  async fn() {
    const out = await Deno.makeTempDir({ prefix: "hpseg-sigint-steps-" });
    try {
      const tiny = sets([...TINY_SCHEDULE, "eval.valid_freq=1000"]);
      // A progress line of the training phase (it carries the losses; a pool renewal's line carries its
      // note instead, and one right after a checkpoint would have nothing new to save).
      const run = spawnTrain(
        [...tiny, "--steps", "400", "--no-serve", "--out", out],
        /train step [1-9]\d*\/.* {2}loss /,
      );
      await run.line;
      if (!run.matched()) assert.fail(`no step line: ${(await run.done()).stderr}`);
      run.child.kill("SIGINT");
      const r = await run.done();
      assertEquals(r.code, 130, r.stderr);
      assert(/^interrupt: saving a checkpoint at step \d+/m.test(r.stderr), r.stderr);
      const saved = /checkpoint of step (\d+) saved; resume with: deno task train --resume (\S+)/.exec(
        r.stderr,
      );
      assert(saved, r.stderr);
      const dir = saved[2];

      // A finished run: train it to the end, then --resume reports the final line and trains nothing.
      const done = await task("train", [...tiny, "--steps", "4", "--no-serve", "--out", join(out, "done")]);
      assertEquals(done.code, 0, done.stderr);
      const runDir = join(out, "done", [...Deno.readDirSync(join(out, "done"))][0].name);
      const again = await task("train", ["--resume", runDir, "--no-serve"]);
      assertEquals(again.code, 0, again.stderr);
      assert(/already finished at step 4: finished 4 steps/.test(again.stderr), again.stderr);
      assertEquals(again.stdout.trim(), done.stdout.trim().split("\n").pop());
      assert(!/train step/.test(again.stderr), "no training happened");
      assert(dir.length > 0);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

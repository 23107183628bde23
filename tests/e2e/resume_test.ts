/**
 * `hpseg train` as a user runs it (subprocesses): one-line errors for bad input, and resume after a hard
 * kill (issue 5 acceptance): a run SIGKILLed after a checkpoint resumes with `--resume`, ends at the same
 * final step with readable checkpoint files and log, recomputes at most one checkpoint interval, and ends
 * with parameters bit-identical to an uninterrupted run (same schedule: loader position, RNG, λ, pools,
 * optimiser moments).
 */
import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { testGpu } from "../_util.ts";
import { loadCheckpoint } from "../../core/model/checkpoint.ts";
import { listStepCheckpoints } from "../../core/train/run_checkpoints.ts";
import { readRunLog } from "../../core/telemetry.ts";
import { TINY_SCHEDULE } from "../_tiny.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

function cmd(args: string[], piped = true): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "train", ...args],
    stdout: piped ? "piped" : "null",
    stderr: piped ? "piped" : "null",
    env: { DENO_WEBGPU_BACKEND: Deno.env.get("DENO_WEBGPU_BACKEND") ?? "vulkan", XDG_RUNTIME_DIR: "/tmp" },
  });
}

async function train(args: string[]) {
  const out = await cmd(args).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

for (
  const [args, code, pattern] of [
    [["--steps", "0"], 2, /--steps must be a positive integer, got 0/],
    [["--bogus"], 2, /bogus/],
    [["--config", "/nonexistent/x.yaml"], 1, /Cannot read config \/nonexistent\/x\.yaml/],
    [["--set", "hp.tau=abc"], 1, /hp\.tau/],
    [["--set", "nosuch.key=1"], 1, /nosuch\.key/],
    [["--resume", "/nonexistent/run"], 1, /Cannot resume \/nonexistent\/run/],
    [["--resume", "x", "--set", "hp.tau=1"], 2, /--resume continues a run with its own config/],
  ] as Array<[string[], number, RegExp]>
) {
  Deno.test(`train ${args.join(" ")} fails with one error line (exit ${code})`, async () => {
    const r = await train([...args, "--no-serve"]);
    assertEquals(r.code, code, r.stderr);
    assert(pattern.test(r.stderr), `stderr does not match ${pattern}: ${r.stderr}`);
    assert(!/^\s+at /m.test(r.stderr), `stack trace printed: ${r.stderr}`);
    assertEquals(r.stdout.trim(), "");
  });
}

const TINY = [...TINY_SCHEDULE, "eval.valid_freq=1000"].flatMap((s) => ["--set", s]);
const STEPS = 30, EVERY = 3;

function onlyRun(out: string): string {
  const dirs = [...Deno.readDirSync(out)].filter((e) => e.isDirectory);
  assertEquals(dirs.length, 1, `expected one run directory in ${out}`);
  return `${out}/${dirs[0].name}`;
}

Deno.test({
  name: "train: a SIGKILLed run resumes to the same final step and parameters as an uninterrupted one",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    if (!(await testGpu())) return;
    const tmp = await Deno.makeTempDir({ prefix: "hpseg-resume-" });
    try {
      // Reference: uninterrupted.
      const ref = await train([...TINY, "--steps", String(STEPS), "--no-serve", "--out", `${tmp}/ref`]);
      assertEquals(ref.code, 0, ref.stderr);
      const refState = await loadCheckpoint(`${onlyRun(`${tmp}/ref`)}/checkpoints/last.safetensors`);
      assertEquals(refState.step, STEPS);

      // Killed after its second checkpoint.
      const child = cmd([...TINY, "--steps", String(STEPS), "--no-serve", "--out", `${tmp}/cut`], false)
        .spawn();
      let runDir = "";
      const t0 = Date.now();
      while (Date.now() - t0 < 120_000) {
        await new Promise((r) => setTimeout(r, 50));
        try {
          runDir = onlyRun(`${tmp}/cut`);
        } catch {
          continue;
        }
        if (listStepCheckpoints(runDir).some((c) => c.step >= 2 * EVERY)) break;
      }
      try {
        child.kill("SIGKILL");
      } catch { /* already finished: asserted below */ }
      const status = await child.status;
      assert(!status.success, "the run finished before it could be killed");
      const logged = (await readRunLog(runDir)).filter((m) => m.type === "metrics").map((m) => m.step);
      const killedAfter = Math.max(0, ...logged);

      const res = await train(["--resume", runDir, "--no-serve"]);
      assertEquals(res.code, 0, res.stderr);
      const from = Number(/resuming .* \(step (\d+)\)/.exec(res.stderr)?.[1]);
      assert(from >= 2 * EVERY, `resumed from step ${from}`);
      assert(killedAfter - from < EVERY, `recomputed ${killedAfter - from} steps (interval ${EVERY})`);
      const final = JSON.parse(res.stdout.trim().split("\n").pop()!);
      assert(Number.isFinite(final.cluster_miou), res.stdout);

      // Every checkpoint file reads back; the final one matches the uninterrupted run bit for bit.
      for (const e of Deno.readDirSync(`${runDir}/checkpoints`)) {
        assert(!e.name.endsWith(".tmp"), `temporary file left: ${e.name}`);
        await loadCheckpoint(`${runDir}/checkpoints/${e.name}`);
      }
      const last = await loadCheckpoint(`${runDir}/checkpoints/last.safetensors`);
      assertEquals(last.step, STEPS);
      assertEquals(last.head, refState.head, "θ differs from the uninterrupted run");
      assertEquals(last.ema, refState.ema, "ξ differs from the uninterrupted run");
      assertEquals(last.pools.sp, refState.pools.sp, "Pool_sp differs from the uninterrupted run");
      assert((await readRunLog(runDir)).some((m) => m.type === "status" && m.state === "done"));
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

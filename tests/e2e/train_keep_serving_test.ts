/**
 * `hpseg train --keep-serving` (issue 14 §1): after the run the server stays up, so a page opened later still
 * gets the whole run — its history, its final state, and `end` at once, since nothing more will come — and
 * Ctrl-C then stops it with exit code 0. Run as users run it: main.ts through `deno run` with the train
 * task's permissions, on a tiny synthetic config.
 * @module
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");

Deno.test({
  name: "train --keep-serving: the finished run stays browsable until Ctrl-C, which exits 0",
  sanitizeResources: false,
  async fn() {
    const out = await Deno.makeTempDir({ prefix: "hpseg_keep_" });
    const deno = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
    // The train task's own permission flags ("deno run <flags> main.ts train").
    const flags = (deno.tasks.train as string).replace(/^deno run /, "").replace(/ main\.ts train$/, "")
      .split(" ");
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...flags,
        "--config",
        `${ROOT}/deno.json`,
        `${ROOT}/main.ts`,
        "train",
        "--keep-serving",
        "--out",
        out,
        "--port",
        "0",
        ...[
          "dataset.image_size=32",
          "dataset.train_count=16",
          "dataset.val_count=4",
          "train.res=32",
          "train.batch=4",
          "eval.res=32",
          "eval.batch=4",
          "hp.pool_size=8",
          "train.epochs=1",
        ].flatMap((s) => ["--set", s]),
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const err: string[] = [];
    const stderr = (async () => {
      for await (const c of child.stderr.pipeThrough(new TextDecoderStream())) err.push(c);
    })();
    const stdout = new Response(child.stdout).text();
    let exited = false;
    try {
      const t0 = Date.now();
      while (!/still serving (http:\S+)/.test(err.join("")) && Date.now() - t0 < 180_000) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const url = err.join("").match(/still serving (http:\S+)/)?.[1];
      assert.ok(url, `the server says it keeps serving; stderr: ${err.join("").slice(-1000)}`);
      const runs = await (await fetch(`${url}api/runs`)).json();
      assert.equal(runs.keepServing, true);
      assert.deepEqual([runs.runs[0].state, runs.runs[0].live, runs.runs[0].current], ["done", false, true]);
      // A page opened now: the history, then `end` right away (no live feed to wait for).
      const res = await fetch(`${url}events?snapshot=1`);
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      while (!text.includes("event: end")) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
      await reader.cancel();
      assert.deepEqual([...text.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]), [
        "reset",
        "snapshot",
        "live",
        "end",
      ]);
      assert.match(text, /"keepServing":true/);
      assert.equal((await fetch(url)).status, 200);
      child.kill("SIGINT");
      const status = await child.status;
      exited = true;
      assert.equal(status.code, 0, `exit code after Ctrl-C; stderr: ${err.join("").slice(-600)}`);
      const line = JSON.parse((await stdout).trim().split("\n").at(-1)!);
      assert.deepEqual(Object.keys(line), [
        "cluster_acc",
        "cluster_miou",
        "linear_acc",
        "linear_miou",
        "kmeans_miou",
      ]);
      await fetch(url).then(
        () => assert.fail("the server is gone after Ctrl-C"),
        () => {},
      );
    } finally {
      if (!exited) {
        child.kill("SIGKILL");
        await child.status;
      }
      await stderr.catch(() => {});
      await stdout.catch(() => {});
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test("train --keep-serving without the server is a usage error", async () => {
  const r = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--config",
      `${ROOT}/deno.json`,
      `${ROOT}/main.ts`,
      "train",
      "--keep-serving",
      "--no-serve",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(r.code, 2);
  assert.match(new TextDecoder().decode(r.stderr), /--keep-serving needs the dashboard/);
});

/**
 * Real Chromium on live runs (issue 7 and issue 14 acceptance).
 *
 * 1. A tiny REAL training run (the trainer Worker, core/train/worker.ts, wired as `hpseg train` wires it:
 *    tests/dashboard/_real_run.ts with the progress stream) drives the dashboard while a page is open: the
 *    page shows the pool-building and validation progress, points arrive live (one per readback), the
 *    pictures load and their step slider and enlarging work, the per-class results appear, and when the
 *    run ends the page shows "done" and the final scores without a reload, closes its stream and says
 *    where to browse the run later; a reload shows the whole run again; once the server is gone the page
 *    makes at most a couple of failed requests.
 * 2. A real `hpseg train` process (main.ts through `deno run`, as users run it) stopped with Ctrl-C
 *    (SIGINT) after a validation: the open page shows "stopped" and the last evaluation's scores (equal to
 *    the run log's) without a reload, and stops requesting once the process is gone.
 * @module
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { startRealRun } from "../dashboard/_real_run.ts";
import { ARTIFACTS, launch, pageState, SKIP_BROWSER, waitFor, watch } from "./_browser.ts";
import { type PictureMessage, readRunLog } from "../../core/telemetry.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");
/** Long enough for two EventSource retry periods (3 s) and two runs-list polls would-be. */
const AFTER_MS = 7000;

Deno.test({
  name:
    "Chromium, live run: progress, live points, pictures; the end reaches the open page, which stops requesting",
  ignore: SKIP_BROWSER,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // 40 steps (5 epochs of 8 batches): pictures every 10 steps, validation at step 20, final evaluation.
    const run = await startRealRun(
      ["train.epochs=5", "train.checkpoint_every=10", "eval.valid_freq=20"],
      { token: "browser-test-token", progress: true },
    );
    const browser = await launch();
    let closed = false;
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      const trouble = watch(page);
      await page.goto(run.dash.url);
      const before = await waitFor("live connection", () => pageState(page), (s) => s.conn === "live");
      assert.equal(before.points.hp ?? 0, 0, "no metrics before the run starts");
      // Inside the page: sample point counts, and record every phase the progress line showed.
      await page.evaluate(() => {
        // deno-lint-ignore no-explicit-any
        const g = globalThis as any;
        g.__samples = [];
        g.__phases = [];
        setInterval(
          () =>
            g.__samples.push([g.hpsegDashboard.points().hp, g.document.getElementById("state").textContent]),
          20,
        );
        const el = g.document.getElementById("phase-text");
        // Every value the attribute took, even several within one task (old values of each change).
        // deno-lint-ignore no-explicit-any
        new g.MutationObserver((records: any[]) => {
          for (const r of records) g.__phases.push(r.oldValue);
          g.__phases.push(el.dataset.phase);
        }).observe(el, { attributes: true, attributeFilter: ["data-phase"], attributeOldValue: true });
      });
      run.start();
      const result = await run.done;
      const log = await readRunLog(run.runDir);
      const nMetrics = log.filter((m) => m.type === "metrics").length;
      const nEval = log.filter((m) => m.type === "eval").length;
      assert.equal(result.step, 40);
      assert.equal(nMetrics, 40, "one metrics message per step (log_every 1)");
      assert.equal(nEval, 2);

      // The end reached the page that was open: final state and scores, stream closed, a pointer for later.
      const final = await waitFor(
        "the run's end on the page",
        () => pageState(page),
        (s) => s.state === "done" && s.finalShown && s.points.hp === nMetrics && s.stats.ends === 1,
      );
      assert.match(
        final.finalText,
        /^Final: cluster acc [\d.]+ % · mIoU [\d.]+ % — linear acc .* k-means baseline mIoU [\d.]+ %$/,
      );
      assert.match(final.banner, /finished.*deno task dashboard --runs /);
      assert.equal(final.conn, "run ended");
      assert.equal(final.points.eval, nEval, "one evaluation point each");
      assert.ok(
        final.stats.phases.pool >= 1 && final.stats.phases.validate >= 1,
        JSON.stringify(final.stats.phases),
      );
      const seen = await page.evaluate(() => (globalThis as unknown as { __phases: string[] }).__phases);
      for (const ph of ["pool", "train", "validate", "final"]) {
        assert.ok(seen.includes(ph), `the progress line showed the ${ph} phase (saw ${[...new Set(seen)]})`);
      }
      const samples = await page.evaluate(() =>
        (globalThis as unknown as { __samples: [number, string][] }).__samples
      );
      const partial = new Set(
        samples.filter(([n, st]) => st === "running" && n > 0 && n < nMetrics).map(([n]) => n),
      );
      assert.ok(
        partial.size >= 3,
        `points arrived live (partial counts seen while running: ${[...partial]})`,
      );

      // Pictures: the latest of each kind, loaded lazily when scrolled to; a step slider; click to enlarge.
      const last = new Map<string, PictureMessage>();
      const ghps: PictureMessage[] = [];
      for (const m of log) {
        if (m.type !== "picture") continue;
        last.set(m.kind, m);
        if (m.kind === "ghp") ghps.push(m);
      }
      assert.deepEqual([...last.keys()].sort(), ["ghp", "lhp", "pred"]);
      await page.locator("#pictures").scrollIntoViewIfNeeded();
      await waitFor(
        "pictures loaded",
        () => pageState(page),
        (s) =>
          ["ghp", "lhp", "pred"].every((k) =>
            s.pictures[k]?.loaded && s.pictures[k].file === last.get(k)!.file
          ),
      );
      await page.locator('figure[data-kind="ghp"] input[type=range]').fill("0");
      await waitFor(
        "the slider shows the first GHP picture",
        () => pageState(page),
        (s) => s.pictures.ghp.file === ghps[0].file && s.pictures.ghp.loaded,
      );
      await page.locator('figure[data-kind="ghp"] img').click();
      await waitFor("the enlarged picture", () =>
        page.evaluate(() => {
          // deno-lint-ignore no-explicit-any
          const d = (globalThis as any).document.getElementById("enlarge");
          return d.open && d.querySelector("img").naturalWidth;
        }), (w) => w > 0);
      await page.locator("#enlarge .close").click();
      // Per-class results of the last evaluation.
      const detail = await page.evaluate(() => {
        // deno-lint-ignore no-explicit-any
        const doc = (globalThis as any).document;
        return {
          hidden: doc.getElementById("eval-detail").hidden,
          width: doc.getElementById("confusion").width,
        };
      });
      assert.deepEqual(
        [detail.hidden, detail.width > 100],
        [false, true],
        "IoU bars and confusion matrix shown",
      );
      await Deno.mkdir(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: new URL("dashboard.png", ARTIFACTS).pathname, fullPage: true });

      // A reload while the server is still up shows the whole run again from its log, ended, pictures too.
      await page.reload();
      await waitFor(
        "the run again after a reload",
        () => pageState(page),
        (s) =>
          s.state === "done" && s.finalShown && s.stats.ends === 1 && s.points.hp === nMetrics &&
          s.points.eval === nEval,
      );
      await page.locator("#pictures").scrollIntoViewIfNeeded();
      await waitFor(
        "pictures loaded after the reload",
        () => pageState(page),
        (s) =>
          ["ghp", "lhp", "pred"].every((k) =>
            s.pictures[k]?.loaded && s.pictures[k].file === last.get(k)!.file
          ),
      );

      // The server goes away (the trainer exits): the page makes at most a couple of failed requests.
      const failedBefore = trouble.failed.length;
      await run.close();
      closed = true;
      const t0 = performance.now();
      await waitFor(
        "time passing after the server closed",
        () => performance.now() - t0,
        (t) => t >= AFTER_MS,
      );
      const after = trouble.failed.slice(failedBefore);
      assert.ok(after.length <= 2, `failed requests after the end: ${JSON.stringify(after)}`);
      assert.deepEqual(
        trouble.failed.slice(0, failedBefore),
        [],
        "no failed request while the server was up",
      );
      assert.deepEqual(trouble.errors, [], "no page errors");
      console.log(
        `dashboard_browser_test: ${partial.size} partial point counts seen live; ${after.length} failed requests after the end`,
      );
    } finally {
      await browser.close();
      if (!closed) await run.close();
    }
  },
});

Deno.test({
  name:
    "Chromium, `hpseg train` stopped with Ctrl-C: the open page shows 'stopped' and the last scores, stops requesting",
  ignore: SKIP_BROWSER,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const out = await Deno.makeTempDir({ prefix: "hpseg_sigint_" });
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        "--config",
        `${ROOT}/deno.json`,
        `${ROOT}/main.ts`,
        "train",
        "--out",
        out,
        "--port",
        "0",
        ...[
          "dataset.image_size=32",
          "dataset.train_count=32",
          "dataset.val_count=8",
          "train.res=32",
          "train.batch=4",
          "eval.res=32",
          "eval.batch=4",
          "hp.pool_size=8",
          "hp.renew_interval=1000",
          "hp.lambda_warmup=4",
          "train.log_every=1",
          "train.epochs=200",
          "train.checkpoint_every=1000",
          "eval.valid_freq=8",
        ].flatMap((s) => ["--set", s]),
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const errText: string[] = [];
    let url: string | undefined;
    const stderr = (async () => {
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
        errText.push(chunk);
        url ??= errText.join("").match(/dashboard: (http:\S+)/)?.[1];
      }
    })();
    const stdout = new Response(child.stdout).text();
    const browser = await launch();
    let exited = false;
    try {
      await waitFor("the dashboard address", () => url, (u) => u !== undefined, 180_000);
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const trouble = watch(page);
      await page.goto(url!);
      await waitFor(
        "points after the first validation",
        () => pageState(page),
        (s) => s.state === "running" && (s.points.eval ?? 0) >= 1 && (s.points.hp ?? 0) >= 10,
        180_000,
      );
      child.kill("SIGINT");
      const status = await child.status;
      exited = true;
      await stderr;
      assert.equal(status.code, 130, `exit code after Ctrl-C; stderr: ${errText.join("").slice(-800)}`);
      // A checkpoint is saved, unless Ctrl-C came where nothing new would be (tests/hp/interrupt_test.ts).
      assert.match(errText.join(""), /checkpoint of step \d+ saved; resume with|interrupt: stopped while/);
      const s = await waitFor(
        "'stopped' on the open page",
        () => pageState(page),
        (x) => x.state === "stopped" && x.stats.ends === 1,
        60_000,
      );
      assert.match(s.banner, /was stopped.*deno task dashboard --runs /);
      // The scores line: where it stopped and the last evaluation, as the run log has them.
      const [runId] = [...Deno.readDirSync(out)].filter((e) => e.isDirectory).map((e) => e.name);
      const log = await readRunLog(`${out}/${runId}`);
      const lastEval = log.filter((m) => m.type === "eval").at(-1)!;
      const lastStep = log.filter((m) => m.type === "metrics").at(-1)!.step;
      const p = (v: number) => `${v.toFixed(1)} %`;
      const e = lastEval.metrics;
      assert.equal(
        s.finalText,
        `Stopped at step ${lastStep}. Last evaluation (step ${lastEval.step}): cluster acc ${
          p(e.cluster_acc)
        } · mIoU ${p(e.cluster_miou)} — linear acc ${p(e.linear_acc)} · mIoU ${p(e.linear_miou)}`,
      );
      assert.ok(s.finalShown);
      const failedBefore = trouble.failed.length;
      const t0 = performance.now();
      await waitFor("time passing after the exit", () => performance.now() - t0, (t) => t >= AFTER_MS);
      const after = trouble.failed.slice(failedBefore);
      assert.ok(after.length <= 2, `failed requests after the exit: ${JSON.stringify(after)}`);
      assert.deepEqual(trouble.errors, [], "no page errors");
      await Deno.mkdir(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: new URL("dashboard_stopped.png", ARTIFACTS).pathname, fullPage: false });
    } finally {
      if (!exited) {
        child.kill("SIGKILL");
        await child.status;
        await stderr.catch(() => {});
      }
      await stdout.catch(() => {});
      await browser.close();
      await Deno.remove(out, { recursive: true }).catch(() => {});
    }
  },
});

/**
 * Headless-browser test of the dashboard (issue 7 acceptance): a tiny REAL training run (the trainer Worker,
 * core/train/worker.ts, on a small synthetic config; see _real_run.ts) drives the dashboard, real Chromium
 * (Debian `chromium`, driven by npm playwright-core) opens it, sees the charts receive new points over SSE
 * while the run is going and the GHP, LHP and prediction pictures load, reloads and sees the full history
 * again, and saves a screenshot to tests/artifacts/dashboard.png (git-ignored).
 *
 * Chromium: $CHROMIUM_PATH, else /usr/bin/chromium. Absent → the test is skipped with a visible note, except
 * under CI (.ci/run installs chromium) or HPSEG_REQUIRE_BROWSER=1, where absence fails.
 * @module
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { startRealRun } from "../dashboard/_real_run.ts";
import { decodePng } from "../../core/image/png.ts";
import { parseRunLog, type PictureMessage, readRunLog } from "../../core/telemetry.ts";
import { startDashboard } from "../../dashboard/server.ts";

function findChromium(): string | undefined {
  for (const p of [Deno.env.get("CHROMIUM_PATH"), "/usr/bin/chromium", "/usr/bin/chromium-browser"]) {
    if (!p) continue;
    try {
      if (Deno.statSync(p).isFile) return p;
    } catch { /* try the next */ }
  }
  return undefined;
}

const exe = findChromium();
const required = Deno.env.get("CI") === "true" || Deno.env.get("HPSEG_REQUIRE_BROWSER") === "1";
if (!exe && !required) {
  console.warn("browser_test: no chromium found (apt-get install -y chromium); skipping");
}

const ARTIFACTS = new URL("../artifacts/", import.meta.url);

interface PageStats {
  metrics: number;
  pictures: number;
  picturesLoaded: number;
  resets: number;
  points: Record<string, number>;
  conn: string;
  state: string;
}

Deno.test({
  name:
    "dashboard in headless Chromium: a real run's points arrive live, pictures load, refresh keeps history",
  ignore: !exe && !required,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    assert.ok(exe, "chromium is required here (CI or HPSEG_REQUIRE_BROWSER=1) but was not found");
    // 40 steps (5 epochs of 8 batches): GHP/LHP pictures every 10 steps, an evaluation (with its prediction
    // picture) at step 20 and at the end. The page must pass the token on to EventSource, fetch and <img>.
    const run = await startRealRun(
      ["train.epochs=5", "train.checkpoint_every=10", "eval.valid_freq=20"],
      { token: "browser-test-token" },
    );
    const browser = await chromium.launch({
      executablePath: exe,
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      page.on("console", (m) => m.type() === "error" && errors.push(`${m.text()} (${m.location().url})`));
      page.on("response", (r) => r.status() >= 400 && errors.push(`${r.status()} ${r.url()}`));
      const readStats = () =>
        page.evaluate(() => {
          // deno-lint-ignore no-explicit-any
          const d = (globalThis as any).hpsegDashboard;
          // deno-lint-ignore no-explicit-any
          const doc = (globalThis as any).document;
          return {
            ...d.stats,
            points: d.points(),
            conn: doc.getElementById("conn").textContent,
            state: doc.getElementById("state").textContent,
          };
        }) as Promise<PageStats>;
      const waitFor = async (what: string, pred: (s: PageStats) => boolean, ms = 60_000) => {
        const t0 = Date.now();
        let s = await readStats();
        while (!pred(s)) {
          if (Date.now() - t0 > ms) {
            throw new Error(`timed out waiting for ${what}; page stats ${JSON.stringify(s)}`);
          }
          await new Promise((r) => setTimeout(r, 100));
          s = await readStats();
        }
        return s;
      };
      /** Pictures on the page: kind, src and decoded size (0 while not loaded or broken). */
      const pagePictures = () =>
        page.$$eval("#pictures figure", (figs) =>
          figs.map((f) => {
            // deno-lint-ignore no-explicit-any
            const img = (f as any).querySelector("img");
            return {
              kind: String((f as unknown as { dataset: { kind: string } }).dataset.kind),
              src: String(img.src),
              complete: Boolean(img.complete),
              width: Number(img.naturalWidth),
              height: Number(img.naturalHeight),
            };
          }));

      // Without the token the server refuses the page.
      const denied = await fetch(run.dash.url.replace(/\?token=.*$/, ""));
      assert.equal(denied.status, 401);
      await denied.body?.cancel();
      assert.match(run.dash.url, /\?token=browser-test-token$/);
      await page.goto(run.dash.url);
      // The trainer has not started: the page is connected and shows no points.
      const before = await waitFor("live connection", (s) => s.conn === "live");
      assert.equal(before.points.losses, 0, "no metrics before the run steps");
      // Sample the page every 20 ms (inside the page) to see points arrive while the run is going.
      await page.evaluate(() => {
        // deno-lint-ignore no-explicit-any
        const g = globalThis as any;
        g.__samples = [];
        setInterval(() => {
          const st = g.document.getElementById("state").textContent;
          g.__samples.push([g.hpsegDashboard.points().losses, st]);
        }, 20);
      });

      const t0 = performance.now();
      run.start();
      const result = await run.done;
      const runSeconds = (performance.now() - t0) / 1000;
      const log = await readRunLog(run.runDir);
      const nMetrics = log.filter((m) => m.type === "metrics").length;
      const nEval = log.filter((m) => m.type === "eval").length;
      assert.equal(result.step, 40);
      assert.equal(nMetrics, 40, "one metrics message per step (log_every 1)");
      assert.equal(nEval, 2, "evaluations at step 20 and at the end");
      const lastPicture = new Map<string, PictureMessage>();
      for (const m of log) if (m.type === "picture") lastPicture.set(m.kind, m);
      assert.deepEqual(
        [...lastPicture.keys()].sort(),
        ["ghp", "lhp", "pred"],
        "the run wrote all picture kinds",
      );

      const pictureReady = async () => {
        const pics = await pagePictures();
        return pics.length === 3 &&
          pics.every((p) =>
            p.complete && p.width > 0 && p.src.includes(encodeURI(lastPicture.get(p.kind)!.file))
          );
      };
      let ready = false;
      const final = await waitFor("run done with every point", (s) => {
        return s.state === "done" && s.points.losses === nMetrics && s.points.eval === nEval;
      });
      for (let i = 0; i < 300 && !(ready = await pictureReady()); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(ready, `pictures not loaded: ${JSON.stringify(await pagePictures())}`);
      for (const k of ["losses", "lambda", "positives", "thresholds", "lr", "throughput"]) {
        assert.equal(final.points[k], nMetrics, `chart ${k} has one point per metrics message`);
      }
      // GPU time per phase (adapters with timestamp queries, lavapipe included) gets its own chart.
      const timed = log.filter((m) => m.type === "metrics" && m.gpuPassMs).length;
      assert.equal(final.points.gpu, timed, "GPU pass-time chart has one point per timed metrics message");
      // Live: while the state was "running" the page held several different, partial point counts.
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
      // The pictures are the decoded PNGs the run wrote.
      for (const p of await pagePictures()) {
        const file = lastPicture.get(p.kind)!.file;
        const png = decodePng(await Deno.readFile(`${run.runDir}/${file}`));
        assert.deepEqual([p.width, p.height], [png.width, png.height], `${p.kind} picture ${file} decoded`);
      }
      // Telemetry content: the LHP set size is real (1..9 window members), the done message a sentence.
      const last = await page.evaluate(() =>
        (globalThis as unknown as { hpsegDashboard: { last(): { positives: { lhp: number } } } })
          .hpsegDashboard
          .last()
      );
      assert.ok(last.positives.lhp >= 1 && last.positives.lhp <= 9, `positives.lhp ${last.positives.lhp}`);
      assert.match(await page.textContent("#message") ?? "", /^finished 40 steps: cluster acc [\d.]+ %/);

      await Deno.mkdir(ARTIFACTS, { recursive: true });
      const shot = new URL("dashboard.png", ARTIFACTS);
      await page.screenshot({ path: shot.pathname, fullPage: true });
      const bytes = await Deno.readFile(shot);
      assert.deepEqual([...bytes.subarray(1, 4)], [0x50, 0x4e, 0x47], "screenshot is a PNG");

      // A refreshed page shows the full history again (replayed from the run log), pictures included.
      await page.reload();
      const again = await waitFor(
        "history after reload",
        (s) => s.conn === "live" && s.points.losses === nMetrics,
      );
      assert.equal(again.points.eval, nEval);
      assert.equal(again.state, "done");
      ready = false;
      for (let i = 0; i < 300 && !(ready = await pictureReady()); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(ready, `pictures not loaded after reload: ${JSON.stringify(await pagePictures())}`);
      assert.deepEqual(errors, [], "no page errors");
      console.log(
        `browser_test: real run of ${result.step} steps in ${runSeconds.toFixed(1)} s; ` +
          `${partial.size} partial point counts seen live; screenshot ${shot.pathname}`,
      );
    } finally {
      await browser.close();
      await run.close();
    }
  },
});

Deno.test({
  name: "dashboard in headless Chromium renders a run log written by the real trainer",
  ignore: !exe && !required,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    assert.ok(exe, "chromium is required here (CI or HPSEG_REQUIRE_BROWSER=1) but was not found");
    const fixture = new URL("../fixtures/dashboard/real_run_metrics.jsonl", import.meta.url);
    const log = parseRunLog(await Deno.readTextFile(fixture));
    const nMetrics = log.filter((m) => m.type === "metrics").length;
    const nEval = log.filter((m) => m.type === "eval").length;
    assert.ok(nMetrics >= 2 && nEval >= 1, "fixture has metrics and an eval");
    const runsDir = await Deno.makeTempDir({ prefix: "hpseg_real_" });
    await Deno.mkdir(`${runsDir}/real`);
    await Deno.copyFile(fixture, `${runsDir}/real/metrics.jsonl`);
    const dash = await startDashboard({ runsDir, runDir: `${runsDir}/real`, port: 0, readOnly: true });
    const browser = await chromium.launch({ executablePath: exe, args: ["--no-sandbox", "--disable-gpu"] });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      page.on("console", (m) => m.type() === "error" && errors.push(`${m.text()} (${m.location().url})`));
      await page.goto(dash.url);
      const t0 = Date.now();
      let s: PageStats | undefined;
      while (Date.now() - t0 < 20_000) {
        s = await page.evaluate(() => {
          // deno-lint-ignore no-explicit-any
          const d = (globalThis as any).hpsegDashboard;
          // deno-lint-ignore no-explicit-any
          const doc = (globalThis as any).document;
          return {
            ...d.stats,
            points: d.points(),
            conn: doc.getElementById("conn").textContent,
            state: doc.getElementById("state").textContent,
          };
        });
        if (s!.conn === "live" && s!.points.losses === nMetrics) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(s?.state, "done");
      for (const k of ["losses", "lambda", "positives", "thresholds", "lr", "throughput"]) {
        assert.equal(s?.points[k], nMetrics, `chart ${k}`);
      }
      assert.equal(s?.points.eval, nEval);
      const config = await page.textContent("#config");
      assert.match(config ?? "", /"name": "synthetic"/, "the run's configuration is shown");
      await Deno.mkdir(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: new URL("dashboard_real_log.png", ARTIFACTS).pathname, fullPage: true });
      assert.deepEqual(errors, [], "no page errors");
    } finally {
      await browser.close();
      await dash.close();
      await Deno.remove(runsDir, { recursive: true });
    }
  },
});

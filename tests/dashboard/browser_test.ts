/**
 * Headless-browser test of the dashboard (issue 7 acceptance): a tiny run drives the dashboard, real Chromium
 * (Debian `chromium`, driven by npm playwright-core) opens it, sees the charts receive new points over SSE and
 * the pictures load, reloads and sees the full history again, and saves a screenshot to
 * tests/artifacts/dashboard.png (git-ignored).
 *
 * The run is the fake trainer Worker (tests/dashboard/fake_trainer_worker.ts), which posts the same telemetry
 * the real trainer posts and writes real PNGs through core/viz.
 *
 * Chromium: $CHROMIUM_PATH, else /usr/bin/chromium. Absent → the test is skipped with a visible note, except
 * under CI (.ci/run installs chromium) or HPSEG_REQUIRE_BROWSER=1, where absence fails.
 * @module
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { startFakeRun } from "./_fake_run.ts";
import { parseRunLog, readRunLog, startDashboard } from "../../core/telemetry.ts";

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
  name: "dashboard in headless Chromium: live points, pictures, refresh keeps history, screenshot",
  ignore: !exe && !required,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    assert.ok(exe, "chromium is required here (CI or HPSEG_REQUIRE_BROWSER=1) but was not found");
    const run = await startFakeRun({
      steps: 240,
      stepMs: 15,
      metricsEvery: 2,
      pictureEvery: 60,
      evalEvery: 60,
      waitForGo: true,
    }, { token: "browser-test-token" }); // the page must pass the token on to EventSource, fetch and <img>
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
          const doc =
            (globalThis as unknown as { document: { getElementById(id: string): { textContent: string } } })
              .document;
          return {
            ...d.stats,
            points: d.points(),
            conn: doc.getElementById("conn").textContent,
            state: doc.getElementById("state").textContent,
          };
        }) as Promise<PageStats>;
      const waitFor = async (what: string, pred: (s: PageStats) => boolean, ms = 30_000) => {
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

      // Without the token the server refuses the page.
      const denied = await fetch(run.dash.url.replace(/\?token=.*$/, ""));
      assert.equal(denied.status, 401);
      await denied.body?.cancel();
      assert.match(run.dash.url, /\?token=browser-test-token$/);
      await page.goto(run.dash.url);
      // The worker is held before its first step, so the page sees "running" and no points yet.
      const before = await waitFor("live connection", (s) => s.conn === "live" && s.state === "running");
      assert.equal(before.points.losses, 0, "no metrics before the run steps");

      run.go();
      // Charts receive new points while the run is going.
      const mid = await waitFor("first points", (s) => s.points.losses >= 5);
      const later = await waitFor("more points", (s) => s.points.losses > mid.points.losses + 10);
      assert.ok(later.points.lambda > mid.points.lambda && later.points.throughput > mid.points.throughput);

      const done = await run.done;
      const final = await waitFor(
        "run done, all points and pictures",
        (s) => s.state === "done" && s.points.losses === 120 && s.points.eval === 4 && s.picturesLoaded >= 3,
      );
      for (const k of ["losses", "lambda", "positives", "thresholds", "lr", "throughput", "gpu"]) {
        assert.equal(final.points[k], 120, `chart ${k} has one point per metrics message`);
      }
      // The pictures are real decoded images, not broken links.
      const sizes = await page.$$eval(
        "#pictures img",
        (imgs) =>
          imgs.map((
            i,
          ) => [
            (i as unknown as { naturalWidth: number }).naturalWidth,
            (i as unknown as { naturalHeight: number }).naturalHeight,
          ]),
      );
      assert.equal(sizes.length, 3);
      for (const [w, h] of sizes) assert.ok(w > 50 && h > 50, `picture ${w}×${h} decoded`);

      await Deno.mkdir(ARTIFACTS, { recursive: true });
      const shot = new URL("dashboard.png", ARTIFACTS);
      await page.screenshot({ path: shot.pathname, fullPage: true });
      const bytes = await Deno.readFile(shot);
      assert.deepEqual([...bytes.subarray(1, 4)], [0x50, 0x4e, 0x47], "screenshot is a PNG");

      // A refreshed page shows the full history again (replayed from the run log).
      await page.reload();
      const again = await waitFor(
        "history after reload",
        (s) => s.conn === "live" && s.points.losses === 120,
      );
      const logged = (await readRunLog(run.runDir)).filter((m) => m.type === "metrics").length;
      assert.equal(logged, 120);
      assert.equal(again.points.eval, 4);
      assert.equal(again.state, "done");
      assert.deepEqual(errors, [], "no page errors");
      console.log(
        `browser_test: ${done.steps} steps at ${
          done.stepsPerSec.toFixed(1)
        } steps/s; screenshot ${shot.pathname}`,
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

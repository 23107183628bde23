/**
 * Real Chromium on the runs browser (`hpseg dashboard`: a read-only server over a runs folder; issue 14
 * acceptance): two runs' logs written here through RunLog (a 3000-step run and a 1500-step one with other
 * settings, evaluations with per-class detail, final scores) are opened in a 1400-px dark page and a 390-px
 * light one. Checked: an old run is never "live" and the page does not keep reconnecting; charts get
 * downsampled series and the full resolution of a range zoomed into with the mouse; the log toggle,
 * smoothing (raw curve kept, faint) and x-axis choice; a panel's CSV download; the runs table sorts, names a
 * run and overlays two runs (datasets from both, their configuration differences); the dark theme applies;
 * nothing is wider than a 390-px screen (run view, runs table, compare view). Then a log an older trainer
 * wrote (tests/fixtures/dashboard/) still renders, and once that runs browser stops the page's next runs poll
 * fails and it asks no more.
 * @module
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import {
  type EvalMessage,
  type MetricsMessage,
  parseRunLog,
  RUN_LOG_FILE,
  RunLog,
} from "../../core/telemetry.ts";
import { startDashboard } from "../../dashboard/server.ts";
import {
  ARTIFACTS,
  bodyBackground,
  launch,
  luminance,
  overflow,
  pageState,
  SKIP_BROWSER,
  waitFor,
  watch,
} from "./_browser.ts";

function metrics(step: number, total: number, lr: number): MetricsMessage {
  return {
    type: "metrics",
    step,
    epoch: Math.floor(step / 100),
    totalSteps: total,
    losses: {
      ghp: 10 + Math.sin(step / 40),
      lhp: 9 + Math.cos(step / 60),
      reg: 0.2,
      lin: 2,
      clu: 1.5,
      total: 22,
    },
    lambda: step / total,
    lr,
    positives: { ag: 20 + (step % 7), sp: 12, lhp: 3 },
    thresholds: { ag: { p10: 0.2, p50: 0.5, p90: 0.8 }, sp: { p10: 0.3, p50: 0.6, p90: 0.85 } },
    imagesPerSec: 30,
    stepMs: 250 + (step % 13),
    gpuPassMs: { backbone: 100 + (step % 5), loss: 0.6 + (step % 3) },
    etaSeconds: (total - step) * 0.25,
    time: 1_765_000_000_000 + step * 250,
  };
}

function evalAt(step: number, score: number): EvalMessage {
  const names = ["sky", "road", "tree"];
  const conf = [50, 5, 2, 10, 40, 3, 1, 2, 30];
  return {
    type: "eval",
    step,
    metrics: {
      cluster_acc: score,
      cluster_miou: score / 2,
      linear_acc: score + 5,
      linear_miou: score / 2 + 3,
    },
    detail: {
      classNames: names,
      cluster: { iou: [60, 50, null], confusion: conf },
      linear: { iou: [70, 55, 40], confusion: conf },
    },
    time: 1_765_000_000_000 + step * 250,
  };
}

function writeRun(runsDir: string, id: string, steps: number, lr: number): void {
  const log = new RunLog(`${runsDir}/${id}`);
  const config = { dataset: { name: "synthetic" }, hp: { alpha: 0.05 }, train: { lr, batch: 8 } };
  log.append({
    type: "status",
    state: "starting",
    runId: id,
    config,
    facts: {
      adapter: "llvmpipe (LLVM 19, 256 bits)",
      software: true,
      command: `hpseg train --set train.lr=${lr}`,
    },
    time: 1_765_000_000_000,
  });
  log.append({ type: "status", state: "running", runId: id });
  for (let s = 1; s <= steps; s++) {
    log.append(metrics(s, steps, lr));
    if (s % 500 === 0) log.append(evalAt(s, 30 + s / 100));
  }
  log.append({
    type: "status",
    state: "done",
    runId: id,
    message: "finished",
    final: {
      cluster_acc: 40,
      cluster_miou: 20 + lr * 1000,
      linear_acc: 45,
      linear_miou: 22,
      kmeans_miou: 18,
    },
    time: 1_765_000_000_000 + steps * 250 + 5000,
  });
  log.close();
}

/** One dataset of a chart as the test reads it. */
interface SetInfo {
  run: string;
  key: string;
  raw: boolean;
  n: number;
  xs: number[];
}

/** A panel's chart: y scale type, x title, zoomed range and datasets. */
function datasets(
  page: Page,
  panel: string,
): Promise<{ yType: string; xTitle: string; range: { min: number; max: number } | null; sets: SetInfo[] }> {
  return page.evaluate((id) => {
    // deno-lint-ignore no-explicit-any
    const p = (globalThis as any).hpsegDashboard.board.panels.get(id);
    return {
      yType: p.chart.options.scales.y.type,
      xTitle: p.chart.options.scales.x.title.text,
      range: p.range,
      // deno-lint-ignore no-explicit-any
      sets: p.chart.data.datasets.map((d: any) => ({
        run: d.hpRun,
        key: d.hpKey,
        raw: !!d.hpRaw,
        n: d.data.length,
        // deno-lint-ignore no-explicit-any
        xs: d.data.map((q: any) => q.x),
      })),
    };
  }, panel);
}

Deno.test({
  name:
    "Chromium, runs browser: zoom at full resolution, chart tools, runs table, overlay, dark theme, 390 px",
  ignore: SKIP_BROWSER,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const runsDir = await Deno.makeTempDir({ prefix: "hpseg_views_" });
    writeRun(runsDir, "run-a", 3000, 1e-3);
    writeRun(runsDir, "run-b", 1500, 3e-3);
    const dash = await startDashboard({ runsDir, runDir: `${runsDir}/run-a`, port: 0, readOnly: true });
    const browser = await launch();
    try {
      // ---- 1400 px, dark
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 }, colorScheme: "dark" });
      const trouble = watch(page);
      await page.goto(dash.url);
      const s = await waitFor(
        "the run from its log",
        () => pageState(page),
        (x) => x.state === "done" && x.stats.ends === 1,
      );
      assert.equal(s.conn, "browsing logs", "an old run is never live");
      assert.equal(s.banner, "", "no end-of-run banner for a run browsed later");
      const bg = await bodyBackground(page);
      assert.ok(luminance(bg) < 0.2, `dark background (${bg})`);
      assert.ok(
        s.points.hp > 100 && s.points.hp <= 500,
        `downsampled series (${s.points.hp} of 3000 points)`,
      );

      // Zoom: drag across the middle of the HP chart; the visible range comes back at full resolution.
      const canvas = page.locator('figure[data-panel="hp"] canvas');
      const box = (await canvas.boundingBox())!;
      await page.mouse.move(box.x + box.width * 0.45, box.y + box.height * 0.6);
      await page.mouse.down();
      await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.6, { steps: 5 });
      await page.mouse.up();
      const zoomed = await waitFor(
        "full-resolution points of the zoomed range",
        () => datasets(page, "hp"),
        (d) => {
          const ghp = d.sets.find((x) => x.key === "losses.ghp");
          return d.range !== null && !!ghp && ghp.n > 20 &&
            ghp.xs.every((x: number, i: number) => i === 0 || x - ghp.xs[i - 1] === 1);
        },
      );
      const ghp = zoomed.sets.find((x) => x.key === "losses.ghp")!;
      assert.ok(
        ghp.xs[0] <= Math.ceil(zoomed.range!.min) && ghp.xs.at(-1)! >= Math.floor(zoomed.range!.max),
        "covers the range",
      );
      // Double-click zooms out to the downsampled series.
      await canvas.dblclick();
      await waitFor(
        "zoomed out",
        () => datasets(page, "hp"),
        (d) => d.range === null && d.sets[0].xs[0] <= 1,
      );

      // Log toggle, smoothing (raw kept faint), x axis.
      await page.locator('figure[data-panel="gpu"] button.log').click(); // gpu starts logarithmic
      await page.locator('figure[data-panel="hp"] button.log').click();
      assert.equal((await datasets(page, "hp")).yType, "logarithmic");
      assert.equal((await datasets(page, "gpu")).yType, "linear");
      await page.locator("#smoothing").fill("0.8");
      const smooth = await datasets(page, "hp");
      assert.ok(
        smooth.sets.some((d) => d.raw) && smooth.sets.some((d) => !d.raw),
        "smoothed and faint raw curves",
      );
      await page.locator("#x-axis").selectOption("relative");
      assert.equal((await datasets(page, "hp")).xTitle, "time since start");
      await page.locator("#x-axis").selectOption("step");
      // The regulariser is shown (α = 0.05 here); the evaluation panel has the k-means baseline.
      assert.ok((await datasets(page, "hp")).sets.some((d) => d.key === "losses.reg"));
      assert.ok((await datasets(page, "eval")).sets.some((d) => d.key === "baseline"));
      // Download of a panel's series.
      const href = await page.locator('figure[data-panel="probes"] a', { hasText: "CSV" }).getAttribute(
        "href",
      );
      assert.match(href!, /^\/api\/series\?run=run-a&keys=losses\.lin%2Closses\.clu&format=csv$/);
      const csv = await page.evaluate(async (u) => (await fetch(u)).text(), href!);
      assert.equal(csv.split("\n")[0], "series,step,time_ms,value");
      assert.equal(csv.trim().split("\n").length, 1 + 2 * 3000, "full resolution");
      // Per-class results of the last evaluation (3 classes).
      assert.equal(await page.locator("#eval-detail").isHidden(), false);

      // Runs table: sort, name a run, overlay both.
      await page.locator("#tab-runs").click();
      const order = () =>
        page.$$eval(
          "#runs-table tbody tr",
          (rows) => rows.map((r) => (r as unknown as { dataset: { run: string } }).dataset.run),
        );
      await waitFor("two runs listed", order, (o) => o.length === 2);
      await page.locator('#runs-table th[data-col="steps"]').click();
      assert.deepEqual(await order(), ["run-b", "run-a"], "ascending steps");
      await page.locator('#runs-table th[data-col="steps"]').click();
      assert.deepEqual(await order(), ["run-a", "run-b"], "descending steps");
      await page.locator('tr[data-run="run-b"] button.edit').click();
      await page.locator('#meta-dialog input[name="name"]').fill("high lr");
      await page.locator('#meta-dialog textarea[name="notes"]').fill("lr 3e-3: faster, noisier");
      await page.locator('#meta-dialog button[type="submit"]').click();
      await waitFor(
        "the name in the table",
        () => page.locator('tr[data-run="run-b"] td[data-col="name"]').textContent(),
        (t) => (t ?? "").includes("high lr") && (t ?? "").includes("faster, noisier"),
      );
      const meta = JSON.parse(await Deno.readTextFile(`${runsDir}/run-b/meta.json`));
      assert.deepEqual(meta, { name: "high lr", notes: "lr 3e-3: faster, noisier" });
      await page.locator('tr[data-run="run-a"] input[type=checkbox]').check();
      await page.locator('tr[data-run="run-b"] input[type=checkbox]').check();
      await waitFor(
        "the config diff of the selection",
        () => page.locator("#config-diff").textContent(),
        (t) => (t ?? "").includes("train.lr"),
      );
      await page.locator("#compare-btn").click();
      const both = await waitFor(
        "both runs overlaid",
        () =>
          page.evaluate(() =>
            (globalThis as unknown as { hpsegDashboard: { runsIn(p: string): string[] } }).hpsegDashboard
              .runsIn("hp")
          ),
        (r) => r.length === 2,
      );
      assert.deepEqual(both.sort(), ["run-a", "run-b"]);
      assert.match((await page.locator("#compare-diff").textContent())!, /train\.lr\s*0\.001\s*0\.003/);
      await Deno.mkdir(ARTIFACTS, { recursive: true });
      await page.screenshot({
        path: new URL("dashboard_compare_dark.png", ARTIFACTS).pathname,
        fullPage: true,
      });

      // An old run's page closed its stream: no reconnecting (one reset), no failed request, no error.
      const resets = (await pageState(page)).stats.resets;
      assert.equal(resets, 1);
      assert.deepEqual(trouble.failed, []);
      assert.deepEqual(trouble.errors, []);

      // ---- 390 px, light: nothing wider than the screen, in every view.
      const phone = await browser.newPage({
        viewport: { width: 390, height: 844 },
        colorScheme: "light",
        isMobile: true,
        hasTouch: true,
      });
      const phoneTrouble = watch(phone);
      await phone.goto(dash.url);
      await waitFor(
        "the run on the phone",
        () => pageState(phone),
        (x) => x.state === "done" && x.points.hp > 0,
      );
      const light = await bodyBackground(phone);
      assert.ok(luminance(light) > 0.8, `light background (${light})`);
      const views: Array<[string, () => Promise<unknown>]> = [
        ["run view", async () => {}],
        ["runs table", () => phone.locator("#tab-runs").click()],
        ["compare view", async () => {
          await phone.locator('tr[data-run="run-a"] input[type=checkbox]').check();
          await phone.locator('tr[data-run="run-b"] input[type=checkbox]').check();
          await phone.locator("#compare-btn").click();
          await waitFor(
            "overlay on the phone",
            () =>
              phone.evaluate(() =>
                (globalThis as unknown as { hpsegDashboard: { runsIn(p: string): string[] } }).hpsegDashboard
                  .runsIn("hp").length
              ),
            (n) => n === 2,
          );
        }],
      ];
      for (const [name, go] of views) {
        await go();
        const o = await overflow(phone);
        assert.ok(o.scrollWidth <= 390 && o.wide.length === 0, `${name} at 390 px: ${JSON.stringify(o)}`);
        await phone.screenshot({
          path: new URL(`dashboard_390_${name.replace(" ", "_")}.png`, ARTIFACTS).pathname,
          fullPage: true,
        });
      }
      assert.deepEqual(phoneTrouble.errors, []);
    } finally {
      await browser.close();
      await dash.close();
      await Deno.remove(runsDir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "Chromium, runs browser: an older trainer's log still renders; once the server stops, the page stops asking",
  ignore: SKIP_BROWSER,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // A real trainer's log from before the run facts and final scores existed (tests/fixtures/dashboard/).
    const fixture = new URL("../fixtures/dashboard/real_run_metrics.jsonl", import.meta.url);
    const log = parseRunLog(await Deno.readTextFile(fixture));
    const nMetrics = log.filter((m) => m.type === "metrics").length;
    const nEval = log.filter((m) => m.type === "eval").length;
    assert.ok(nMetrics >= 2 && nEval >= 1, "the fixture has metrics and an evaluation");
    const runsDir = await Deno.makeTempDir({ prefix: "hpseg_old_log_" });
    await Deno.mkdir(`${runsDir}/old`);
    await Deno.copyFile(fixture, `${runsDir}/old/${RUN_LOG_FILE}`);
    const dash = await startDashboard({ runsDir, runDir: `${runsDir}/old`, port: 0, readOnly: true });
    const browser = await launch();
    let closed = false;
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const trouble = watch(page);
      await page.goto(dash.url);
      const s = await waitFor(
        "the old run from its log",
        () => pageState(page),
        (x) => x.state === "done" && x.stats.ends === 1 && x.points.hp === nMetrics,
      );
      assert.equal(s.points.eval, nEval);
      assert.equal(s.conn, "browsing logs");
      // Its final scores were a JSON message then: shown as key/value pairs.
      assert.match((await page.textContent("#message")) ?? "", /^cluster_acc 40\.08 · cluster_miou 17\.16/);
      assert.match((await page.textContent("#config")) ?? "", /^dataset.*name\s*synthetic.*image_size\s*64/);
      assert.match((await page.textContent("#facts")) ?? "", /adapter\s*not reported/);
      assert.deepEqual(trouble.errors, [], "no page errors");
      assert.deepEqual(trouble.failed, [], "no failed requests");

      // The runs browser is stopped (Ctrl-C): the page's next runs poll fails, and it asks no more.
      await dash.close();
      closed = true;
      await waitFor(
        "the page noticing the server is gone",
        () => pageState(page),
        (x) => x.conn === "server stopped",
      );
      const failed = trouble.failed.length;
      const t0 = performance.now();
      // One more poll period (15 s) and a margin: nothing more is requested.
      await waitFor("a poll period passing", () => performance.now() - t0, (t) => t >= 17_000);
      assert.equal(failed, 1, JSON.stringify(trouble.failed));
      assert.equal(trouble.failed.length, failed, JSON.stringify(trouble.failed));
    } finally {
      await browser.close();
      if (!closed) await dash.close();
      await Deno.remove(runsDir, { recursive: true });
    }
  },
});

/**
 * Test helper: real Chromium (Debian `chromium`, driven by npm playwright-core) for the dashboard tests.
 * $CHROMIUM_PATH, else /usr/bin/chromium. Absent → the tests are skipped with a visible note, except under
 * CI (.ci/run installs chromium) or HPSEG_REQUIRE_BROWSER=1, where absence fails.
 *
 * Waiting is always for a condition read from the page (never a fixed sleep standing in for one), polled
 * every 100 ms up to a generous deadline, and a timeout names what was awaited and the page's state.
 * @module
 */
import assert from "node:assert/strict";
import { type Browser, chromium, type Page } from "playwright-core";

function findChromium(): string | undefined {
  for (const p of [Deno.env.get("CHROMIUM_PATH"), "/usr/bin/chromium", "/usr/bin/chromium-browser"]) {
    if (!p) continue;
    try {
      if (Deno.statSync(p).isFile) return p;
    } catch { /* try the next */ }
  }
  return undefined;
}

export const CHROMIUM = findChromium();
const required = Deno.env.get("CI") === "true" || Deno.env.get("HPSEG_REQUIRE_BROWSER") === "1";
/** Whether the browser tests are skipped (no Chromium and not required). */
export const SKIP_BROWSER = !CHROMIUM && !required;
if (SKIP_BROWSER) {
  console.warn("dashboard browser tests: no chromium found (apt-get install -y chromium); skipping");
}

/** Screenshots go here (git-ignored). */
export const ARTIFACTS = new URL("../artifacts/", import.meta.url);

export async function launch(): Promise<Browser> {
  assert.ok(CHROMIUM, "chromium is required here (CI or HPSEG_REQUIRE_BROWSER=1) but was not found");
  return await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
}

/** What a page did wrong: script errors, console errors, failed requests and error responses (with times). */
export interface PageTrouble {
  errors: string[];
  /** Failed requests and HTTP errors, each with the time (ms, performance.now()) it happened. */
  failed: Array<{ at: number; what: string }>;
}

/** Watches a page for errors and failed requests. A closed EventSource (net::ERR_ABORTED) is not a failure. */
export function watch(page: Page): PageTrouble {
  const t: PageTrouble = { errors: [], failed: [] };
  page.on("pageerror", (e) => t.errors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error" && !/Failed to load resource|ERR_CONNECTION_REFUSED/.test(m.text())) {
      t.errors.push(`${m.text()} (${m.location().url})`);
    }
  });
  page.on("requestfailed", (r) => {
    const why = r.failure()?.errorText ?? "";
    if (why.includes("ERR_ABORTED")) return;
    t.failed.push({ at: performance.now(), what: `${why} ${r.url()}` });
  });
  page.on("response", (r) => {
    if (r.status() >= 400) t.failed.push({ at: performance.now(), what: `${r.status()} ${r.url()}` });
  });
  return t;
}

/** Polls `read` until `pred` holds (100 ms steps, `ms` at most); returns the last value. */
export async function waitFor<T>(
  what: string,
  read: () => T | Promise<T>,
  pred: (v: T) => boolean,
  ms = 60_000,
): Promise<T> {
  const t0 = Date.now();
  let v = await read();
  while (!pred(v)) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
    v = await read();
  }
  return v;
}

/** The page's state as the tests read it. */
export interface PageState {
  stats: Record<string, number> & { phases: Record<string, number> };
  points: Record<string, number>;
  conn: string;
  state: string;
  finalText: string;
  finalShown: boolean;
  banner: string;
  pictures: Record<string, { step: number; file: string; count: number; loaded: boolean }>;
}

export function pageState(page: Page): Promise<PageState> {
  return page.evaluate(() => {
    // deno-lint-ignore no-explicit-any
    const g = globalThis as any;
    const d = g.hpsegDashboard;
    const $ = (id: string) => g.document.getElementById(id);
    return {
      stats: d.stats,
      points: d.points(),
      conn: $("conn").textContent,
      state: $("state").textContent,
      finalText: $("final-scores").textContent,
      finalShown: !$("final-scores").hidden,
      banner: $("banner").hidden ? "" : $("banner").textContent,
      pictures: d.pictures.describe(),
    };
  });
}

/**
 * Elements sticking out of a `width`-pixel viewport, except inside boxes that scroll on their own (wide
 * tables, the confusion matrix) and closed dialogs; plus the document's scroll width.
 */
export function overflow(page: Page): Promise<{ scrollWidth: number; wide: string[] }> {
  return page.evaluate(() => {
    // deno-lint-ignore no-explicit-any
    const g = globalThis as any;
    const w = g.innerWidth;
    const wide: string[] = [];
    for (const el of g.document.querySelectorAll("body *")) {
      if (el.closest(".table-wrap, .matrix-box, dialog:not([open])")) continue;
      const r = el.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      if (r.right > w + 1 || r.left < -1) {
        wide.push(
          `${el.tagName.toLowerCase()}#${el.id}.${el.className} [${Math.round(r.left)}, ${
            Math.round(r.right)
          }]`,
        );
      }
    }
    return { scrollWidth: g.document.documentElement.scrollWidth, wide: wide.slice(0, 10) };
  });
}

/** Relative luminance (0 dark … 1 light) of a CSS colour like "rgb(18, 22, 28)". */
export function luminance(css: string): number {
  const [r, g, b] = (css.match(/\d+(\.\d+)?/g) ?? ["0", "0", "0"]).slice(0, 3).map(Number);
  return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
}

/** The page body's computed background colour. */
export function bodyBackground(page: Page): Promise<string> {
  return page.evaluate(() => {
    // deno-lint-ignore no-explicit-any
    const g = globalThis as any;
    return g.getComputedStyle(g.document.body).backgroundColor;
  });
}

/**
 * Copies Chart.js's UMD build from the npm package (deno.json import "chart.js", exact version) into
 * dashboard/static/vendor/, so the dashboard can text-import it and `deno compile` embeds it (issue 7 §2).
 *
 * Why a vendored copy: the package's `exports` map does not expose `dist/chart.umd.min.js`, so it cannot be
 * text-imported as `npm:chart.js/...`, and its ESM build is split into chunks that import `@kurkle/color`.
 * The copy keeps Chart.js's MIT licence header; `tests/dashboard/vendor_test.ts` checks it is byte-identical
 * to the package's file. Run: `deno run --allow-read --allow-write dashboard/vendor_chart.ts`.
 * @module
 */
import { fileURLToPath as fromFileUrl } from "node:url";

/** The vendored files, relative to the package root → relative to dashboard/static/vendor/. */
export const VENDORED: ReadonlyArray<[string, string]> = [
  ["dist/chart.umd.min.js", "chart.umd.min.js"],
  ["LICENSE.md", "chart.js.LICENSE.md"],
];

/** Root folder of the installed chart.js package (resolved through the import map). */
export function chartPackageRoot(): string {
  const entry = import.meta.resolve("chart.js"); // …/chart.js/<version>/dist/chart.js
  if (!entry.startsWith("file:")) {
    throw new Error(`chart.js resolved to ${entry}, not a file; run \`deno install\` first`);
  }
  return fromFileUrl(new URL("../", entry)).replace(/\/$/, "");
}

/** Folder the vendored copies live in. */
export const VENDOR_DIR = fromFileUrl(new URL("./static/vendor/", import.meta.url)).replace(/\/$/, "");

if (import.meta.main) {
  const root = chartPackageRoot();
  for (const [from, to] of VENDORED) {
    await Deno.copyFile(`${root}/${from}`, `${VENDOR_DIR}/${to}`);
    console.log(`copied ${root}/${from} -> ${VENDOR_DIR}/${to}`);
  }
}

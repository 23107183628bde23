/**
 * Copies the dashboard's browser libraries from their npm packages (deno.json imports, exact versions) into
 * dashboard/static/vendor/, so the dashboard can text-import them and `deno compile` embeds them (issue 7
 * §2; issue 14 §3 adds zooming): Chart.js's UMD build, chartjs-plugin-zoom's UMD build (zoom and pan) and
 * Hammer.js, which the plugin uses for touch pinch and pan. All three are MIT-licensed; their licence files
 * are copied beside them.
 *
 * Why vendored copies: Chart.js's `exports` map does not expose `dist/chart.umd.min.js`, so it cannot be
 * text-imported as `npm:chart.js/...`, and its ESM build is split into chunks that import `@kurkle/color`;
 * the plugin's UMD build expects the global `Chart` and `Hammer` a page gets from the other two.
 * `tests/dashboard/vendor_test.ts` checks every copy is byte-identical to the package's file.
 * Run: `deno run --allow-read --allow-write dashboard/vendor_chart.ts`.
 * @module
 */
import { fileURLToPath as fromFileUrl } from "node:url";
// The JSON imports put both packages in the module graph (so they are installed); chart.js is resolved
// through its main entry below (its exports map does not expose package.json).
import zoomPackage from "chartjs-plugin-zoom/package.json" with { type: "json" };
import hammerPackage from "hammerjs/package.json" with { type: "json" };

/** Package versions as installed (the tests compare them with deno.json). */
export const PACKAGE_VERSIONS: Readonly<Record<string, string>> = {
  "chartjs-plugin-zoom": zoomPackage.version,
  hammerjs: hammerPackage.version,
};

/** The vendored files: [npm package, file in the package, file in dashboard/static/vendor/]. */
export const VENDORED_FILES: ReadonlyArray<[string, string, string]> = [
  ["chart.js", "dist/chart.umd.min.js", "chart.umd.min.js"],
  ["chart.js", "LICENSE.md", "chart.js.LICENSE.md"],
  ["chartjs-plugin-zoom", "dist/chartjs-plugin-zoom.min.js", "chartjs-plugin-zoom.min.js"],
  ["chartjs-plugin-zoom", "LICENSE.md", "chartjs-plugin-zoom.LICENSE.md"],
  ["hammerjs", "hammer.min.js", "hammer.min.js"],
  ["hammerjs", "LICENSE.md", "hammerjs.LICENSE.md"],
];

/** Chart.js's files only (kept for callers of the first version of this module). */
export const VENDORED: ReadonlyArray<[string, string]> = VENDORED_FILES
  .filter(([pkg]) => pkg === "chart.js")
  .map(([, from, to]) => [from, to]);

/** Root folder of an installed package (resolved through the import map). */
export function packageRoot(pkg: string): string {
  const entry = import.meta.resolve(pkg); // e.g. …/chart.js/<version>/dist/chart.js
  if (!entry.startsWith("file:")) {
    throw new Error(`${pkg} resolved to ${entry}, not a file; run \`deno install\` first`);
  }
  let dir = new URL("./", entry);
  // Walk up to the folder holding the package's package.json.
  for (let i = 0; i < 4; i++) {
    try {
      Deno.statSync(fromFileUrl(new URL("package.json", dir)));
      return fromFileUrl(dir).replace(/\/$/, "");
    } catch {
      dir = new URL("../", dir);
    }
  }
  throw new Error(`cannot find the package folder of ${pkg} above ${entry}`);
}

/** Root folder of the installed chart.js package. */
export function chartPackageRoot(): string {
  return packageRoot("chart.js");
}

/** Folder the vendored copies live in. */
export const VENDOR_DIR = fromFileUrl(new URL("./static/vendor/", import.meta.url)).replace(/\/$/, "");

if (import.meta.main) {
  await import("chart.js"); // in the module graph, so it is installed and resolves to a file
  for (const [pkg, from, to] of VENDORED_FILES) {
    const root = packageRoot(pkg);
    await Deno.copyFile(`${root}/${from}`, `${VENDOR_DIR}/${to}`);
    console.log(`copied ${root}/${from} -> ${VENDOR_DIR}/${to}`);
  }
}

/**
 * The vendored browser libraries (dashboard/static/vendor/) must be byte-identical to the files in the npm
 * packages pinned in deno.json, licence files included (dashboard/vendor_chart.ts copies them): Chart.js,
 * chartjs-plugin-zoom and Hammer.js, all MIT.
 * @module
 */
import assert from "node:assert/strict";
import { Chart } from "chart.js"; // keeps the pinned package in this test's module graph (so it is installed)
import { PACKAGE_VERSIONS, packageRoot, VENDOR_DIR, VENDORED_FILES } from "../../dashboard/vendor_chart.ts";

Deno.test("vendored Chart.js, zoom plugin and Hammer.js are the pinned npm packages' builds, MIT-licensed", async () => {
  assert.equal(typeof Chart, "function");
  const imports = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url))).imports;
  for (const pkg of new Set(VENDORED_FILES.map(([p]) => p))) {
    const root = packageRoot(pkg);
    const meta = JSON.parse(await Deno.readTextFile(`${root}/package.json`));
    assert.equal(imports[pkg], `npm:${pkg}@${meta.version}`, `${pkg} pinned in deno.json`);
    if (PACKAGE_VERSIONS[pkg]) assert.equal(PACKAGE_VERSIONS[pkg], meta.version);
    assert.equal(meta.license, "MIT", `${pkg} is MIT-licensed (redistributable)`);
  }
  for (const [pkg, from, to] of VENDORED_FILES) {
    const a = await Deno.readFile(`${packageRoot(pkg)}/${from}`);
    const b = await Deno.readFile(`${VENDOR_DIR}/${to}`);
    assert.ok(
      a.length === b.length && a.every((v, i) => v === b[i]),
      `${to} differs from ${pkg}/${from}; run dashboard/vendor_chart.ts`,
    );
  }
  const head = (f: string) => Deno.readTextFileSync(`${VENDOR_DIR}/${f}`).slice(0, 300);
  const chartVersion = JSON.parse(await Deno.readTextFile(`${packageRoot("chart.js")}/package.json`)).version;
  assert.match(
    head("chart.umd.min.js"),
    new RegExp(`Chart\\.js v${chartVersion.replaceAll(".", "\\.")}[\\s\\S]*Released under the MIT License`),
  );
  assert.match(
    head("chartjs-plugin-zoom.min.js"),
    /chartjs-plugin-zoom v2\.2\.0[\s\S]*Released under the MIT License/,
  );
  assert.match(head("hammer.min.js"), /Hammer\.JS[\s\S]*Licensed under the MIT license/);
  for (const f of ["chart.js.LICENSE.md", "chartjs-plugin-zoom.LICENSE.md", "hammerjs.LICENSE.md"]) {
    assert.match(head(f), /MIT License/, `${f} is the MIT licence`);
  }
});

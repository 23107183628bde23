/**
 * The vendored Chart.js build (dashboard/static/vendor/) must be byte-identical to the file in the npm
 * package pinned in deno.json, licence header included (dashboard/vendor_chart.ts copies it).
 * @module
 */
import assert from "node:assert/strict";
import { Chart } from "chart.js"; // keeps the pinned package in this test's module graph (so it is installed)
import { chartPackageRoot, VENDOR_DIR, VENDORED } from "../../dashboard/vendor_chart.ts";

Deno.test("vendored Chart.js is the pinned npm package's UMD build, with its MIT licence", async () => {
  assert.equal(typeof Chart, "function");
  const root = chartPackageRoot();
  const version = JSON.parse(await Deno.readTextFile(`${root}/package.json`)).version;
  const pinned =
    JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url))).imports["chart.js"];
  assert.equal(pinned, `npm:chart.js@${version}`);
  for (const [from, to] of VENDORED) {
    const a = await Deno.readFile(`${root}/${from}`);
    const b = await Deno.readFile(`${VENDOR_DIR}/${to}`);
    assert.ok(
      a.length === b.length && a.every((v, i) => v === b[i]),
      `${to} differs from ${from}; run dashboard/vendor_chart.ts`,
    );
  }
  const head = (await Deno.readTextFile(`${VENDOR_DIR}/chart.umd.min.js`)).slice(0, 200);
  assert.match(
    head,
    new RegExp(`Chart\\.js v${version.replaceAll(".", "\\.")}[\\s\\S]*Released under the MIT License`),
  );
});

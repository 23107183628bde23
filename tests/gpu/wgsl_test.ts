/**
 * WGSL assembly (core/gpu/wgsl.ts): `#include` lines are inlined once each, the line map sends every line
 * of the joined source back to the file it was written in, and a compile error inside a fragment names the
 * fragment's own file and line (not the includer's, and not the joined source's line).
 * @module
 */
import assert from "node:assert/strict";
import { assembleWgsl, FRAGMENTS, includesOf, sourceLocation } from "../../core/gpu/wgsl.ts";
import { getKernel, ShaderError } from "../../core/gpu/pipelines.ts";
import { gpuTest } from "../_util.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("assembleWgsl() inlines each fragment once, nested includes too, and maps every line home", () => {
  const fragments = {
    "a.wgsl": "// a\nfn a() -> f32 { return 1.0; }",
    "b.wgsl": '#include "a.wgsl"\nfn b() -> f32 { return a(); }\n',
  };
  const main = ["// main", '#include "b.wgsl"', '#include "a.wgsl"', "fn main() {}"].join("\n");
  const out = assembleWgsl("test/main.wgsl", main, fragments);
  assert.equal(
    out.code,
    ["// main", "// a", "fn a() -> f32 { return 1.0; }", "fn b() -> f32 { return a(); }", "fn main() {}"]
      .join("\n"),
  );
  assert.deepEqual(out.lines, [
    { file: "test/main.wgsl", line: 1 },
    { file: "include/a.wgsl", line: 1 },
    { file: "include/a.wgsl", line: 2 },
    { file: "include/b.wgsl", line: 2 },
    { file: "test/main.wgsl", line: 4 },
  ]);
  assert.equal(out.code.split("\n").length, out.lines.length);
  assert.equal(sourceLocation(out, 3), "shaders/include/a.wgsl:2");
  assert.deepEqual(includesOf(main), ["b.wgsl", "a.wgsl"]);
});

Deno.test("assembleWgsl() names the file and line of an unknown fragment or an include circle", () => {
  assert.throws(
    () => assembleWgsl("x/main.wgsl", 'fn f() {}\n#include "nope.wgsl"', {}),
    (e: Error) =>
      e instanceof SyntaxError &&
      /shaders\/x\/main\.wgsl:2: #include "nope\.wgsl" names no fragment/.test(e.message),
  );
  const circle = { "p.wgsl": '#include "q.wgsl"', "q.wgsl": '\n#include "p.wgsl"' };
  assert.throws(
    () => assembleWgsl("x/main.wgsl", '#include "p.wgsl"', circle),
    (e: Error) =>
      e instanceof SyntaxError && /shaders\/include\/q\.wgsl:2: .*closes a circle/.test(e.message),
  );
});

Deno.test("assembleWgsl(): every kernel in shaders/ assembles, and no #include reaches the compiler", () => {
  let n = 0;
  for (const dir of ["kernels", "model", "eval", "vit"]) {
    for (const e of Deno.readDirSync(`${ROOT}shaders/${dir}`)) {
      const file = `${dir}/${e.name}`;
      const { code, lines } = assembleWgsl(file, Deno.readTextFileSync(`${ROOT}shaders/${file}`));
      assert.doesNotMatch(code, /#include/, file);
      assert.equal(code.split("\n").length, lines.length, file);
      n++;
    }
  }
  assert.ok(n >= 25, `${n} kernels`);
  // FRAGMENTS holds exactly the files of shaders/include/.
  const onDisk = [...Deno.readDirSync(`${ROOT}shaders/include`)].map((e) => e.name).sort();
  assert.deepEqual(Object.keys(FRAGMENTS).sort(), onDisk);
});

gpuTest(
  "getKernel(): an error inside an included fragment names the fragment's file and line",
  async ({ gpu }) => {
    const fragments = {
      "ok_probe.wgsl": "fn one() -> f32 {\n  return 1.0;\n}",
      "broken_probe.wgsl":
        "// a fragment with a mistake on line 3\nfn helper() -> f32 {\n  return missing_name * 2.0;\n}",
    };
    const source = [
      "// includer: the error is not on any of its lines",
      '#include "ok_probe.wgsl"',
      '#include "broken_probe.wgsl"',
      "@group(0) @binding(0) var<storage, read_write> out: array<f32>;",
      "@compute @workgroup_size(1) fn main() { out[0] = helper() + one(); }",
    ].join("\n");
    await assert.rejects(
      () => getKernel(gpu, { file: "test/includer_probe.wgsl", source, bindings: ["rw"], fragments }),
      (e: Error) => {
        assert.ok(e instanceof ShaderError, String(e));
        assert.match(e.message, /shaders\/include\/broken_probe\.wgsl:3:\d+/);
        assert.match(e.message, /missing_name/);
        assert.doesNotMatch(e.message, /includer_probe\.wgsl:\d/);
        return true;
      },
    );
  },
);

gpuTest("every shader in shaders/ compiles once its fragments are inlined", async ({ gpu }) => {
  const failures: string[] = [];
  for (const dir of ["kernels", "model", "eval", "vit"]) {
    for (const e of Deno.readDirSync(`${ROOT}shaders/${dir}`)) {
      const file = `${dir}/${e.name}`;
      const { code, lines } = assembleWgsl(file, Deno.readTextFileSync(`${ROOT}shaders/${file}`));
      const info = await gpu.device.createShaderModule({ label: file, code }).getCompilationInfo();
      for (const m of info.messages.filter((m) => m.type === "error")) {
        failures.push(`${sourceLocation({ code, lines }, m.lineNum)}: ${m.message}`);
      }
    }
  }
  assert.deepEqual(failures, []);
});

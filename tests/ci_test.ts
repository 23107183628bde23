/**
 * The pinned Deno version and the test command agree across README.md, .ci/run and deno.json (one place
 * holds the version, and .ci/run runs exactly the README's test command, which runs both test tiers).
 * @module
 */
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);
const read = (p: string) => Deno.readTextFileSync(new URL(p, root));

/** `npx -y deno@<v> task <name>` commands in a text (ignoring shell comments). */
function denoCommands(text: string): Array<{ version: string; task: string; line: string }> {
  const out = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*$/, "").trim();
    const m = /^npx -y deno@(\d+\.\d+\.\d+) task (\w+)$/.exec(line);
    if (m) out.push({ version: m[1], task: m[2], line });
  }
  return out;
}

Deno.test("README, .ci/run and deno.json agree on the Deno version and the test command", () => {
  const readme = denoCommands(read("README.md"));
  assert.deepEqual(readme.map((c) => c.task), ["train", "test"], "README's two fresh-machine commands");
  const version = readme[0].version;
  assert.equal(readme[1].version, version, "both README commands use one Deno version");
  // .ci/run names no Deno version: it reads the README's test command (one place pins the version).
  const ci = read(".ci/run");
  assert.equal(denoCommands(ci).length, 0, ".ci/run names no deno@<version> command of its own");
  assert.doesNotMatch(ci, /deno@\d/, ".ci/run names no Deno version");
  const lines = ci.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  const grep = lines.find((l) => l.startsWith("test_command=$(grep"));
  assert.ok(grep, ".ci/run extracts the test command from README.md");
  assert.equal(lines.at(-1), "$test_command", ".ci/run's last command runs it");
  assert.match(ci, /^export WEBGPU_REQUIRE=1$/m);
  assert.match(ci, /^export DENO_WEBGPU_BACKEND=vulkan$/m);
  assert.match(ci, /^set -euo pipefail$/m);

  const config = JSON.parse(read("deno.json"));
  assert.equal(config.tasks.test, "deno test --allow-all --parallel tests/");
  // Two tiers (README "Tests and CI"): `test` runs both, `test:fast` all but tests/e2e/, `test:e2e` only that.
  assert.equal(config.tasks["test:fast"], "deno test --allow-all --parallel --ignore=tests/e2e/ tests/");
  assert.equal(config.tasks["test:e2e"], "deno test --allow-all --parallel tests/e2e/");
  assert.ok([...Deno.readDirSync(new URL("tests/e2e/", root))].some((e) => e.name.endsWith("_test.ts")));
  assert.ok(config.tasks.train, "deno.json has the README's train task");
  // Any version mentioned in deno.json must be the same one.
  for (const m of read("deno.json").matchAll(/deno@(\d+\.\d+\.\d+)/g)) assert.equal(m[1], version);

  // In CI the suite runs under the pinned Deno itself.
  if (Deno.env.get("CI") === "true") assert.equal(Deno.version.deno, version);
  else if (Deno.version.deno !== version) {
    console.error(`[tests] note: running Deno ${Deno.version.deno}, pinned ${version}`);
  }
});

Deno.test({
  name: ".ci/run is an executable bash script with valid syntax",
  ignore: Deno.build.os === "windows",
  async fn() {
    const path = new URL(".ci/run", root).pathname;
    assert((Deno.statSync(path).mode ?? 0) & 0o111, ".ci/run is executable");
    const { code, stderr } = await new Deno.Command("bash", { args: ["-n", path], stderr: "piped" }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
  },
});

Deno.test({
  name: ".ci/run's extraction yields exactly the README's test command",
  ignore: Deno.build.os === "windows",
  async fn() {
    const ci = read(".ci/run");
    const assign = ci.split("\n").find((l) => l.startsWith("test_command=$(grep"))!;
    const script = `cd ${
      JSON.stringify(new URL(".", root).pathname)
    } && ${assign} && printf %s "$test_command"`;
    const { code, stdout } = await new Deno.Command("bash", { args: ["-c", script], stdout: "piped" })
      .output();
    assert.equal(code, 0);
    const readmeTest = denoCommands(read("README.md")).find((c) => c.task === "test")!;
    assert.equal(new TextDecoder().decode(stdout), readmeTest.line);
  },
});

Deno.test("README: every `deno task` command names a real task and only flags its --help lists", async () => {
  const { commands } = await import("../core/cli/registry.ts");
  const { CONFIG_SCHEMA } = await import("../core/model/config_schema.ts");
  const tasks = JSON.parse(read("deno.json")).tasks as Record<string, string>;
  const readme = read("README.md");
  let checked = 0;
  for (const m of readme.matchAll(/deno task (\w+)([^`\n#]*)/g)) {
    const [, name, rest] = m;
    assert.ok(name in tasks, `README runs \`deno task ${name}\`, which deno.json does not define`);
    const cmd = commands.find((c) => c.name === name);
    if (!cmd) continue; // test, fmt, lint: Deno's own commands
    for (const f of rest.matchAll(/(?<![\w-])--([a-z][a-z-]*)(?:[ =]([\w.]+))?/g)) {
      if (f[1] === "help" || f[1] === "backend") continue;
      assert.ok(
        cmd.help.includes(`--${f[1]}`),
        `README: \`deno task ${name} … --${f[1]}\` is not a flag of ${name}`,
      );
      if (f[1] === "set" && f[2]) {
        const key = f[2].split("=")[0];
        assert.ok(key in CONFIG_SCHEMA || key === "section.key", `README: --set ${key} is not a config key`);
      }
      checked++;
    }
  }
  assert.ok(checked > 20, `only ${checked} flags found`);
});

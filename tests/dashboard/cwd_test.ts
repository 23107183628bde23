/**
 * Issue 7 acceptance: "Running `deno run` from another working directory serves the embedded dashboard."
 *
 * Starts `main.ts dashboard` in a subprocess whose working directory is an empty temporary folder and whose
 * read permission covers only the runs folder (`--allow-read=<runs>`): any read of the page, script, styles or
 * Chart.js from disk — relative to the working directory or to the repository — would fail, so a served
 * page proves the assets come from the module graph. Also checks `hpseg compile --dry-run` and the message
 * when the denort runtime cannot be found.
 * @module
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { compileArgs, denortZipPath, findWorkerEntries, locateRuntime } from "../../core/cli/compile.ts";
import { InputError } from "../../core/errors.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");

Deno.test({
  name: "deno run from another working directory serves the embedded dashboard (read access: runs only)",
  sanitizeResources: false,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "hpseg_cwd_" });
    const runs = `${tmp}/runs`;
    const cwd = `${tmp}/elsewhere`;
    await Deno.mkdir(`${runs}/r7/pictures`, { recursive: true });
    await Deno.mkdir(cwd);
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 9, 9]);
    await Deno.writeFile(`${runs}/r7/pictures/p.png`, png);
    await Deno.writeTextFile(`${runs}/r7/metrics.jsonl`, '{"type":"status","state":"done","runId":"r7"}\n');
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        "--config",
        `${ROOT}/deno.json`,
        "--allow-net=127.0.0.1",
        "--allow-env",
        `--allow-read=${runs}`,
        `${ROOT}/main.ts`,
        "dashboard",
        "--runs",
        runs,
        "--port",
        "0",
      ],
      cwd,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    const errText: string[] = [];
    const errDone = (async () => {
      for (let i = 0; i < 10_000; i++) {
        const { value, done } = await stderr.read();
        if (done) return;
        errText.push(value);
      }
    })();
    try {
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let out = "";
      const deadline = Date.now() + 60_000;
      while (!/dashboard: (http:\S+)/.test(out) && Date.now() < deadline) {
        const { value, done } = await reader.read();
        if (done) break;
        out += value;
      }
      reader.releaseLock();
      const url = out.match(/dashboard: (http:\S+)/)?.[1];
      assert.ok(url, `server printed its address; stdout: ${out}; stderr: ${errText.join("")}`);
      const page = await fetch(url);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<main id="charts"/);
      const chart = await fetch(`${url}static/vendor/chart.umd.min.js`);
      assert.match((await chart.text()).slice(0, 100), /Chart\.js v4\.6\.1/);
      const js = await fetch(`${url}static/app.js`);
      assert.match(await js.text(), /EventSource/);
      const hist = await (await fetch(`${url}api/history`)).json();
      assert.deepEqual(hist, { runId: "r7", messages: [{ type: "status", state: "done", runId: "r7" }] });
      const pic = await fetch(`${url}runs/r7/pictures/p.png`);
      assert.deepEqual(new Uint8Array(await pic.arrayBuffer()), png);
      assert.deepEqual([...Deno.readDirSync(cwd)], [], "nothing written to the working directory");
    } finally {
      child.kill("SIGTERM");
      await child.status;
      await errDone;
      await child.stdout.cancel().catch(() => {});
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test("compile: worker entries are found and passed with --include; deno compile arguments", async () => {
  const workers = await findWorkerEntries(ROOT);
  for (const w of workers) assert.ok(Deno.statSync(`${ROOT}/${w}`).isFile, `${w} exists`);
  // Every `new Worker(new URL(...))` in core/ and datasets/ source is found.
  const grep = new Deno.Command("grep", {
    args: ["-rlE", "new Worker\\(\\s*new URL\\(", "core", "datasets", "dashboard"],
    cwd: ROOT,
    stdout: "piped",
  });
  const files = new TextDecoder().decode((await grep.output()).stdout).trim().split("\n").filter((f) =>
    f && f !== "core/cli/compile.ts"
  );
  assert.ok(workers.length >= files.length, `workers ${workers} cover files ${files}`);
  const args = compileArgs({ output: "/tmp/x", includes: workers, net: "127.0.0.1", entry: "main.ts" });
  assert.equal(args[0], "compile");
  assert.equal(args.at(-1), "main.ts");
  assert.ok(args.includes("--allow-net=127.0.0.1") && !args.includes("--allow-net"));
  assert.ok(
    !args.some((a) => a === "--allow-all" || a === "-A" || a === "--allow-run" || a === "--allow-ffi"),
  );
  for (const w of workers) assert.equal(args[args.indexOf(w) - 1], "--include");
  assert.ok(args.includes("--unstable-worker-options"), "the trainer Worker's permissions need it");
});

Deno.test("compile: without a reachable runtime, one clear error says how to point at a local one", async () => {
  const denoDir = await Deno.makeTempDir({ prefix: "hpseg_denodir_" });
  try {
    const err = await locateRuntime({
      target: "x86_64-unknown-linux-gnu",
      version: "2.9.6",
      denoDir,
      env: false,
      probeUrl: "http://127.0.0.1:9/unreachable.zip",
    }).then(() => undefined, (e) => e);
    assert.ok(err instanceof InputError, `got ${err}`);
    const [line, hint] = err.message.split("\n");
    assert.match(
      line,
      /dl\.deno\.land\/release\/v2\.9\.6\/denort-x86_64-unknown-linux-gnu\.zip.*unreachable/,
    );
    assert.match(hint, /DENORT_BIN=/);
    assert.ok(hint.includes(denortZipPath(denoDir, "2.9.6", "x86_64-unknown-linux-gnu")));
    // A pre-seeded zip in DENO_DIR is found without any network.
    const zip = denortZipPath(denoDir, "2.9.6", "x86_64-unknown-linux-gnu");
    await Deno.mkdir(zip.slice(0, zip.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(zip, new Uint8Array([0x50, 0x4b]));
    assert.deepEqual(
      await locateRuntime({ target: "x86_64-unknown-linux-gnu", version: "2.9.6", denoDir, env: false }),
      { kind: "cached-zip", path: zip },
    );
    await assert.rejects(
      () => locateRuntime({ target: "t", version: "2.9.6", denoDir, denort: `${denoDir}/missing` }),
      /DENORT_BIN points at .*missing, which is not a file/,
    );
  } finally {
    await Deno.remove(denoDir, { recursive: true });
  }
});

import assert from "node:assert/strict";
import { main, takeBackendFlag } from "../main.ts";
import { commands } from "../core/cli/registry.ts";

Deno.test("takeBackendFlag() removes --backend anywhere and exports HPSEG_BACKEND", () => {
  const before = Deno.env.get("HPSEG_BACKEND");
  try {
    assert.deepEqual(takeBackendFlag(["train", "--backend", "vulkan", "--steps", "3"]), [
      "train",
      "--steps",
      "3",
    ]);
    assert.equal(Deno.env.get("HPSEG_BACKEND"), "vulkan");
    assert.deepEqual(takeBackendFlag(["--backend=gl,vulkan", "eval"]), ["eval"]);
    assert.equal(Deno.env.get("HPSEG_BACKEND"), "gl,vulkan");
    assert.deepEqual(takeBackendFlag(["score", "--", "--backend", "x"]), ["score", "--", "--backend", "x"]);
    assert.throws(() => takeBackendFlag(["--backend", "cuda"]), /comma list/);
    assert.throws(() => takeBackendFlag(["--backend"]), /needs a value/);
  } finally {
    if (before === undefined) Deno.env.delete("HPSEG_BACKEND");
    else Deno.env.set("HPSEG_BACKEND", before);
  }
});

Deno.test("main() exits 2 on an unknown command and 0 on --help", async () => {
  const log = console.log, err = console.error;
  console.log = () => {};
  console.error = () => {};
  try {
    assert.equal(await main(["no-such-command"]), 2);
    assert.equal(await main(["--help"]), 0);
  } finally {
    console.log = log;
    console.error = err;
  }
});

Deno.test("every command answers --help with a usage text", async () => {
  const log = console.log;
  for (const c of commands) {
    let out = "";
    console.log = (...a: unknown[]) => (out += a.join(" ") + "\n");
    try {
      assert.equal(await c.run(["--help"]), 0, `${c.name} --help exit code`);
    } finally {
      console.log = log;
    }
    assert.match(out, new RegExp(`hpseg ${c.name}|Usage`), `${c.name} --help prints usage`);
  }
});

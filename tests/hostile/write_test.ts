/**
 * Failed writes name the file (issue 11 finding 10: "disk full" came without a path). A real ENOSPC comes
 * from Linux's /dev/full; other OS errors (a file where a folder should be) through the atomic writer.
 */
import assert from "node:assert/strict";
import { writeFileAtomic, writeFileAtomicSync } from "../../core/io/atomic.ts";
import { RunLog } from "../../core/telemetry.ts";
import { InputError } from "../../core/errors.ts";
import { withTempDir } from "./_hostile.ts";

function hasDevFull(): boolean {
  try {
    return Deno.statSync("/dev/full").isCharDevice === true;
  } catch {
    return false;
  }
}

Deno.test("finding 10: a full disk under the run log is one error naming the log", async () => {
  if (!hasDevFull()) return console.error("[tests] skipped: no /dev/full on this system");
  await withTempDir("full", (dir) => {
    Deno.symlinkSync("/dev/full", `${dir}/metrics.jsonl`);
    const log = new RunLog(dir);
    try {
      assert.throws(
        () => log.append({ type: "status", state: "running", runId: "x" }),
        (e: unknown) =>
          e instanceof InputError &&
          new RegExp(`^Cannot write ${dir}/metrics\\.jsonl: No space left on device`).test(e.message),
      );
    } finally {
      log.close();
    }
  });
});

Deno.test("finding 10: atomic writes that fail name the target and leave no temporary file", async () => {
  await withTempDir("write", async (dir) => {
    Deno.writeTextFileSync(`${dir}/file`, "a file, not a folder");
    const target = `${dir}/file/last.safetensors`;
    await assert.rejects(
      writeFileAtomic(target, new Uint8Array(8)),
      (e: unknown) => e instanceof InputError && e.message.startsWith(`Cannot write ${target}: `),
    );
    assert.throws(
      () => writeFileAtomicSync(target, "x"),
      (e: unknown) => e instanceof InputError && e.message.startsWith(`Cannot write ${target}: `),
    );
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["file"]);
  });
});

/**
 * Runs `deno task <name> ...args` the way a user does: the command line deno.json defines for the task
 * (same permissions), from the repository root, as a subprocess with the WebGPU backend variables.
 * @module
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { join } from "node:path";

/** The repository root. */
export const ROOT = new URL("../", import.meta.url).pathname;
const TASKS: Record<string, string> = JSON.parse(Deno.readTextFileSync(join(ROOT, "deno.json"))).tasks;

/** The argv (after `deno`) of deno.json's task `name` followed by `args`. */
export function taskArgs(name: string, args: string[]): string[] {
  const words = TASKS[name].split(/\s+/);
  assertEquals(words[0], "deno", `deno.json task ${name}: ${TASKS[name]}`);
  return [...words.slice(1), ...args];
}

/** Environment of a task subprocess: the WebGPU backend variables only. */
export function taskEnv(): Record<string, string> {
  return { DENO_WEBGPU_BACKEND: Deno.env.get("DENO_WEBGPU_BACKEND") ?? "vulkan", XDG_RUNTIME_DIR: "/tmp" };
}

/** Runs `deno task <name> ...args` to completion; stdout and stderr as text. */
export async function task(name: string, args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: taskArgs(name, args),
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: taskEnv(),
  }).output();
  const dec = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: dec(out.stdout), stderr: dec(out.stderr) };
}

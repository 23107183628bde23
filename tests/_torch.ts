/**
 * Whether Debian's python3-torch (with PIL) is there to generate the full-size parity fixtures on the fly;
 * tests that need it skip visibly without it.
 * @module
 */

/** True when /usr/bin/python3 can import torch and PIL. */
export async function hasTorch(): Promise<boolean> {
  try {
    const r = await new Deno.Command("/usr/bin/python3", {
      args: ["-c", "import torch, PIL"],
      stderr: "null",
    }).output();
    return r.success;
  } catch {
    return false;
  }
}

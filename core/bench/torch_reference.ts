/**
 * Shared by the bench suites that compare against PyTorch on CUDA (gemm, vit): finds a python3 with torch,
 * checks for a CUDA device first (so CPU-only machines answer at once, without importing torch), runs the
 * suite's script with one JSON argument and parses the last stdout line.
 * @module
 */

/** python3 to use: $HPSEG_TORCH_PYTHON, /usr/bin/python3 or /usr/local/bin/python3 (the first that exists). */
function python(): string | null {
  for (const p of [Deno.env.get("HPSEG_TORCH_PYTHON"), "/usr/bin/python3", "/usr/local/bin/python3"]) {
    if (!p) continue;
    try {
      if (Deno.statSync(p).isFile) return p;
    } catch { /* next */ }
  }
  return null;
}

/**
 * Runs `script` (python -c) with `arg` as JSON in argv[1]; resolves with its last stdout line parsed, or
 * null and the reason there is no torch record (no python, no CUDA device, no torch, a failed run).
 */
export async function torchReference(
  script: string,
  arg: unknown,
): Promise<{ torch: Record<string, unknown> | null; reason?: string }> {
  const py = python();
  if (!py) return { torch: null, reason: "no python3 (set HPSEG_TORCH_PYTHON)" };
  try {
    Deno.statSync("/dev/nvidiactl");
  } catch {
    return { torch: null, reason: "no CUDA device (/dev/nvidiactl absent)" };
  }
  const probe = await new Deno.Command(py, {
    args: ["-c", "import torch,sys; sys.exit(0 if torch.cuda.is_available() else 3)"],
    stdout: "null",
    stderr: "null",
  }).output();
  if (probe.code === 3) return { torch: null, reason: "torch.cuda.is_available() is False" };
  if (probe.code !== 0) return { torch: null, reason: `${py} cannot import torch` };
  const run = await new Deno.Command(py, {
    args: ["-c", script, JSON.stringify(arg)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  if (!run.success) {
    return { torch: null, reason: `torch run failed: ${dec.decode(run.stderr).trim().split("\n").at(-1)}` };
  }
  return { torch: JSON.parse(dec.decode(run.stdout).trim().split("\n").at(-1)!) };
}

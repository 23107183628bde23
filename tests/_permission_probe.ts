/**
 * Worker used by tests/train_permissions_test.ts: tries each requested file operation and reports which
 * ones the Worker's permissions allowed.
 * @module
 */
interface Probe {
  op: "read" | "write" | "net" | "run";
  path?: string;
}

// deno-lint-ignore no-explicit-any
const scope = self as any;
scope.onmessage = async (ev: MessageEvent<Probe[]>) => {
  const out: Array<{ op: string; path?: string; allowed: boolean }> = [];
  for (const p of ev.data) {
    let allowed = true;
    try {
      if (p.op === "read") await Deno.readFile(p.path!);
      else if (p.op === "write") await Deno.writeTextFile(p.path!, "probe");
      else if (p.op === "net") (await Deno.connect({ hostname: "127.0.0.1", port: 9 })).close();
      else await new Deno.Command("true").output();
    } catch (e) {
      allowed = !(e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied);
    }
    out.push({ op: p.op, path: p.path, allowed });
  }
  scope.postMessage(out);
};

/**
 * SSE clients in their own process for tests/e2e/dashboard_sse_load_test.ts, as real dashboard pages would be
 * (so the test's server process does only server work). Usage: `_sse_clients.ts URL N`. Connects N clients
 * to URL/events, prints "ready" once every stream is live, and when the run reports "done" prints one JSON
 * line: for each client the steps of the metrics messages it received, in order, and its data-frame count.
 * @module
 */
interface Client {
  steps: number[];
  frames: number;
  done: Promise<void>;
}

async function connect(url: string): Promise<Client> {
  const res = await fetch(`${url}events`);
  if (res.status !== 200) throw new Error(`/events answered ${res.status}`);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const c: Client = { steps: [], frames: 0, done: Promise.resolve() };
  let live!: () => void;
  const isLive = new Promise<void>((r) => (live = r));
  c.done = (async () => {
    let buf = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buf += value;
        let k;
        while ((k = buf.indexOf("\n\n")) >= 0) {
          const frame = buf.slice(0, k);
          buf = buf.slice(k + 2);
          if (frame.startsWith("event: live")) live();
          if (!frame.startsWith("data: ")) continue;
          c.frames++;
          const msg = JSON.parse(frame.slice(6));
          if (msg.type === "metrics") c.steps.push(msg.step);
          else if (msg.type === "status" && msg.state === "done") return;
        }
      }
    } finally {
      await reader.cancel();
    }
  })();
  await isLive;
  return c;
}

const [url, n] = Deno.args;
const clients = await Promise.all(Array.from({ length: Number(n) }, () => connect(url)));
console.log("ready");
await Promise.all(clients.map((c) => c.done));
console.log(JSON.stringify(clients.map((c) => ({ steps: c.steps, frames: c.frames }))));

/**
 * The dashboard's embedded static files (issue 7 §2, issue 14 §8): the page, its ES modules, styles and the
 * vendored Chart.js, zoom plugin and Hammer.js, all text imports — embedded in the module graph, so
 * `deno compile` carries them and nothing is read from disk relative to the working directory.
 *
 * Each file is served with a strong ETag (SHA-256 of its bytes; a matching `If-None-Match` gets 304 without
 * a body) and gzip-compressed when the client accepts it (compressed once, then cached). The page and our
 * modules say `no-cache` (revalidate: an upgraded hpseg is picked up at once, for a 304 each); the vendored
 * libraries may be cached for a day.
 * @module
 */
import indexHtml from "./static/index.html" with { type: "text" };
import styleCss from "./static/style.css" with { type: "text" };
import appJs from "./static/app.js" with { type: "text" };
import apiJs from "./static/api.js" with { type: "text" };
import formatJs from "./static/format.js" with { type: "text" };
import smoothJs from "./static/smooth.js" with { type: "text" };
import configJs from "./static/config_view.js" with { type: "text" };
import chartsJs from "./static/charts.js" with { type: "text" };
import chartSpecsJs from "./static/chart_specs.js" with { type: "text" };
import picturesJs from "./static/pictures.js" with { type: "text" };
import evalDetailJs from "./static/eval_detail.js" with { type: "text" };
import runsJs from "./static/runs.js" with { type: "text" };
import factsJs from "./static/facts.js" with { type: "text" };
import runDataJs from "./static/run_data.js" with { type: "text" };
import chartJs from "./static/vendor/chart.umd.min.js" with { type: "text" };
import zoomJs from "./static/vendor/chartjs-plugin-zoom.min.js" with { type: "text" };
import hammerJs from "./static/vendor/hammer.min.js" with { type: "text" };

const HTML = "text/html; charset=utf-8";
const JS = "text/javascript; charset=utf-8";
const CSS = "text/css; charset=utf-8";

/** One embedded file. */
export interface StaticFile {
  type: string;
  body: Uint8Array;
  /** Cache-Control value. */
  cache: string;
}

const REVALIDATE = "no-cache";
const VENDOR = "public, max-age=86400";

const enc = new TextEncoder();
const file = (type: string, text: string, cache = REVALIDATE): StaticFile => ({
  type,
  body: enc.encode(text),
  cache,
});

/** URL path → file. Nothing else is served from memory. */
export const STATIC_FILES: ReadonlyMap<string, StaticFile> = new Map([
  ["/", file(HTML, indexHtml)],
  ["/index.html", file(HTML, indexHtml)],
  ["/static/style.css", file(CSS, styleCss)],
  ["/static/app.js", file(JS, appJs)],
  ["/static/api.js", file(JS, apiJs)],
  ["/static/format.js", file(JS, formatJs)],
  ["/static/smooth.js", file(JS, smoothJs)],
  ["/static/config_view.js", file(JS, configJs)],
  ["/static/charts.js", file(JS, chartsJs)],
  ["/static/chart_specs.js", file(JS, chartSpecsJs)],
  ["/static/pictures.js", file(JS, picturesJs)],
  ["/static/eval_detail.js", file(JS, evalDetailJs)],
  ["/static/runs.js", file(JS, runsJs)],
  ["/static/facts.js", file(JS, factsJs)],
  ["/static/run_data.js", file(JS, runDataJs)],
  ["/static/vendor/chart.umd.min.js", file(JS, chartJs, VENDOR)],
  ["/static/vendor/chartjs-plugin-zoom.min.js", file(JS, zoomJs, VENDOR)],
  ["/static/vendor/hammer.min.js", file(JS, hammerJs, VENDOR)],
]);

/** The page's Content-Security-Policy: same-origin scripts, styles, data and pictures only. */
export const PAGE_CSP =
  "default-src 'self'; img-src 'self' data: blob:; script-src 'self'; style-src 'self'; connect-src 'self'";

interface Prepared {
  etag: string;
  gzip: Uint8Array;
}
const prepared = new Map<StaticFile, Promise<Prepared>>();

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function prepare(f: StaticFile): Promise<Prepared> {
  let p = prepared.get(f);
  if (!p) {
    p = (async () => {
      const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", f.body as BufferSource));
      const hex = [...hash.subarray(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("");
      return { etag: `"${hex}"`, gzip: await gzip(f.body) };
    })();
    prepared.set(f, p);
  }
  return p;
}

/** True when the request's If-None-Match lists `etag` (weak or strong, or `*`). */
function matches(ifNoneMatch: string | null, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch.split(",").some((t) => {
    const tag = t.trim().replace(/^W\//, "");
    return tag === "*" || tag === etag;
  });
}

/** The response for an embedded file: 304 on a matching ETag, gzip when accepted. */
export async function serveStatic(
  f: StaticFile,
  req: Request,
  extra: Record<string, string> = {},
): Promise<Response> {
  const { etag, gzip } = await prepare(f);
  const headers = new Headers({
    "content-type": f.type,
    "cache-control": f.cache,
    etag,
    vary: "accept-encoding",
    ...extra,
  });
  if (matches(req.headers.get("if-none-match"), etag)) return new Response(null, { status: 304, headers });
  const accepts = /\bgzip\b/i.test(req.headers.get("accept-encoding") ?? "");
  if (accepts && gzip.length < f.body.length) {
    headers.set("content-encoding", "gzip");
    return new Response(gzip as BodyInit, { status: 200, headers });
  }
  return new Response(f.body as BodyInit, { status: 200, headers });
}

/**
 * Request checks of the dashboard server (issue 7 §6; split out of dashboard/server.ts): the token (header,
 * bearer, `?token=`, or the HttpOnly cookie the server hands out after an explicit one), loopback Host names
 * without a token (DNS rebinding), same-origin writes, and URL path segments that cannot leave the runs
 * folder.
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";

/** A run id or a path segment below it: no separators, no leading dot (rules out `.`, `..`, dotfiles). */
export const SAFE_SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

/** Loopback host names accepted in the Host header when no token is set. */
const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

/** True for addresses that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return h === "localhost" || h === "::1" || h === "[::1]" || /^127(\.\d{1,3}){3}$/.test(h);
}

/** Compares two strings in time independent of where they first differ. */
function safeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/** Name of the cookie that carries the token for the page's own requests (per port: one host, many runs). */
function cookieName(c: Context): string {
  return `hpseg_token_${new URL(c.req.url).port || "80"}`;
}

/** The token a request carries, and whether it came explicitly (header or query) rather than by cookie. */
function requestToken(c: Context): { token?: string; explicit: boolean } {
  const h = c.req.header("x-hpseg-token");
  if (h) return { token: h, explicit: true };
  const auth = c.req.header("authorization");
  if (auth?.startsWith("Bearer ")) return { token: auth.slice(7), explicit: true };
  const q = new URL(c.req.url).searchParams.get("token");
  if (q !== null) return { token: q, explicit: true };
  const name = cookieName(c);
  for (const part of (c.req.header("cookie") ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return { token: decodeURIComponent(v.join("=")), explicit: false };
  }
  return { explicit: false };
}

/**
 * The access check every request passes first: with a token, the request must carry it (an explicit one is
 * answered with the cookie); without, the Host header must be a loopback name. Adds nosniff and no-referrer.
 */
export function accessCheck(token: string | undefined): MiddlewareHandler {
  return async (c, next) => {
    if (token !== undefined) {
      const got = requestToken(c);
      if (got.token === undefined || !safeEqual(got.token, token)) {
        return c.text("401 Unauthorized: this dashboard needs its token (?token=… or x-hpseg-token)", 401);
      }
      if (got.explicit) {
        // The page's own requests (scripts, styles, EventSource, pictures) then carry it as a cookie that
        // scripts cannot read and other sites cannot send.
        c.header(
          "set-cookie",
          `${cookieName(c)}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict`,
        );
      }
    } else {
      const host = (c.req.header("host") ?? new URL(c.req.url).host).replace(/:\d+$/, "");
      if (!LOOPBACK_NAMES.has(host.toLowerCase()) && !isLoopbackHost(host)) {
        return c.text(`403 Forbidden: host "${host}" is not a loopback name`, 403);
      }
    }
    await next();
    c.header("x-content-type-options", "nosniff");
    c.header("referrer-policy", "no-referrer");
  };
}

/**
 * True when a state-changing request comes from the page itself: a JSON body (a cross-site form cannot send
 * one without a CORS preflight, which this server never answers) and, when the browser names an Origin,
 * the server's own.
 */
export function sameOriginWrite(c: Context): boolean {
  if (!/^application\/json\b/i.test(c.req.header("content-type") ?? "")) return false;
  const origin = c.req.header("origin");
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === (c.req.header("host") ?? new URL(c.req.url).host);
  } catch {
    return false;
  }
}

/** Splits and decodes a URL path, refusing anything but plain safe segments. Returns undefined if refused. */
export function safeSegments(rawPath: string): string[] | undefined {
  const out: string[] = [];
  for (const raw of rawPath.split("/")) {
    let seg: string;
    try {
      seg = decodeURIComponent(raw);
    } catch {
      return undefined;
    }
    if (!SAFE_SEGMENT.test(seg)) return undefined;
    out.push(seg);
  }
  return out;
}

/** True when the real path `real` lies inside the folder whose real path is `realDir`. */
export function isInside(real: string, realDir: string): boolean {
  return real.startsWith(realDir.replace(/\/?$/, "/"));
}

// Requests of the dashboard page: every same-origin URL carries the dashboard token when the page was opened
// with one (the server also hands out an HttpOnly cookie, but EventSource and first loads use the query).

const token = new URLSearchParams(location.search).get("token");

/** Adds the dashboard token (when the page was opened with one) to a same-origin URL. */
export function withToken(url) {
  if (!token) return url;
  return url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
}

/** GETs JSON; throws with the server's error text. */
export async function getJson(url) {
  const res = await fetch(withToken(url));
  if (!res.ok) throw new Error(`${res.status} ${(await res.text()).slice(0, 200)}`);
  return await res.json();
}

/** PUTs JSON; throws with the server's error text. */
export async function putJson(url, body) {
  const res = await fetch(withToken(url), {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = { error: text };
  }
  if (!res.ok) throw new Error(parsed.error ?? `${res.status}`);
  return parsed;
}

/** URL of a run's picture file (relative to its run folder). */
export function pictureUrl(runId, file) {
  return withToken(`/runs/${encodeURIComponent(runId)}/${file.split("/").map(encodeURIComponent).join("/")}`);
}

/** URL of a series download (every series when `keys` is empty). */
export function downloadUrl(runId, keys, format) {
  const k = keys && keys.length ? `&keys=${encodeURIComponent(keys.join(","))}` : "";
  return withToken(`/api/series?run=${encodeURIComponent(runId)}${k}&format=${format}`);
}

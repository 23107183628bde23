/**
 * What a packed cache was made from (`prepare --pack` once reused a stale pack without
 * checking its sources). A pack's header records a fingerprint of the dataset folder — every file's path,
 * size and modification time under `--root`, except `packed/` itself — plus the pack's parameters; a re-run
 * whose fingerprint differs (an image added, replaced or removed, another `--skip-bad`) writes the pack
 * again. Packs written before fingerprints existed count as stale.
 * @module
 */

/** Fingerprint of the files under `root` (except `root/packed/`) and the pack parameters `params`. */
export async function sourceFingerprint(root: string, params: Record<string, unknown>): Promise<string> {
  const lines: string[] = [JSON.stringify(params)];
  const walk = async (dir: string, rel: string) => {
    const entries: Deno.DirEntry[] = [];
    for await (const e of Deno.readDir(dir)) entries.push(e);
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (r === "packed" || e.name.endsWith(".tmp")) continue;
      const p = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(p, r);
      else if (e.isFile || e.isSymlink) {
        try {
          const st = await Deno.stat(p);
          if (st.isFile) lines.push(`${r}\t${st.size}\t${st.mtime?.getTime() ?? 0}`);
          else if (st.isDirectory) await walk(p, r);
        } catch { /* a dangling link is no source */ }
      }
    }
  };
  await walk(root.replace(/\/+$/, "") || "/", "");
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(lines.join("\n")));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The fingerprint recorded in a pack's header, or null (no pack, unreadable, or an older pack without one). */
export function recordedFingerprint(path: string): string | null {
  try {
    using f = Deno.openSync(path, { read: true });
    const head = new Uint8Array(4096);
    let n = 0;
    while (n < head.length) {
      const r = f.readSync(head.subarray(n));
      if (!r) break;
      n += r;
    }
    if (new TextDecoder().decode(head.subarray(0, 8)) !== "HPSEGPK1") return null;
    const len = new DataView(head.buffer).getUint32(8, true);
    const h = JSON.parse(new TextDecoder().decode(head.subarray(12, 12 + len)));
    return typeof h.sources === "string" ? h.sources : null;
  } catch {
    return null;
  }
}

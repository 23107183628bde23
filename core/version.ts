/**
 * hpseg's version, shown by the dashboard's run facts (issue 14 §6) and recorded in each run's start
 * message. One place: bump it here when a release changes what runs produce.
 * @module
 */
export const HPSEG_VERSION = "0.1.0";

/** The command line a user typed, re-quoted for a shell (e.g. `hpseg train --set "a=b c"`). */
export function commandLine(args: readonly string[]): string {
  const q = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`);
  return ["hpseg", ...args.map(q)].join(" ");
}

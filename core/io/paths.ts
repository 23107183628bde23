/**
 * Output paths that would overwrite or re-read an input are refused before any work starts (once,
 * `features --out W` overwrote the weights file W; `predict --out` inside its input
 * folder re-read its own outputs).
 *
 * Paths are compared after resolving symlinks (the deepest existing ancestor of a path that does not exist
 * yet), and existing files also by device and inode, so `./w.pth`, an absolute path, a symlink and a hard
 * link to the same file all count as the same file.
 * @module
 */
import { basename, dirname, join, resolve, sep } from "node:path";
import { InputError } from "../errors.ts";

/** Absolute path with symlinks resolved; a path that does not exist yet keeps its missing tail. */
export function canonicalPath(p: string): string {
  let head = resolve(p);
  const tail: string[] = [];
  for (;;) {
    try {
      return join(Deno.realPathSync(head), ...tail.reverse());
    } catch {
      const parent = dirname(head);
      if (parent === head) return join(head, ...tail.reverse());
      tail.push(basename(head));
      head = parent;
    }
  }
}

function sameFile(a: string, b: string): boolean {
  try {
    const x = Deno.statSync(a), y = Deno.statSync(b);
    return x.dev === y.dev && x.ino !== null && x.ino === y.ino;
  } catch {
    return false;
  }
}

function inside(child: string, parent: string): boolean {
  return child.startsWith(parent.endsWith(sep) ? parent : parent + sep);
}

/** One input a command reads. */
export interface InputPath {
  /** What it is, for the message ("--weights", "input image", "input folder"). */
  what: string;
  path: string;
}

/**
 * Refuses an output file that is one of the inputs.
 * @throws InputError naming the flag, the output and the input
 */
export function refuseOutputFileOverInputs(flag: string, out: string, inputs: InputPath[]): void {
  const o = canonicalPath(out);
  for (const i of inputs) {
    if (o === canonicalPath(i.path) || sameFile(out, i.path)) {
      throw new InputError(
        `Refusing ${flag} ${out}: it is the ${i.what} ${i.path}, which it would overwrite`,
      );
    }
  }
}

/**
 * Refuses an output folder that equals an input, contains an input, or lies inside an input folder (its
 * outputs would be read back as inputs on the next run).
 * @throws InputError naming the flag, the output and the input
 */
export function refuseOutputDirOverInputs(flag: string, out: string, inputs: InputPath[]): void {
  const o = canonicalPath(out);
  for (const i of inputs) {
    const p = canonicalPath(i.path);
    let why: string | null = null;
    if (o === p || sameFile(out, i.path)) why = `it is the ${i.what}`;
    else if (inside(p, o)) why = `it contains the ${i.what}`;
    else if (inside(o, p)) why = `it lies inside the ${i.what}, whose images would then include the outputs`;
    if (why) throw new InputError(`Refusing ${flag} ${out}: ${why} ${i.path}`);
  }
}

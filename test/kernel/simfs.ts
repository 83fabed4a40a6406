// An in-memory filesystem for simulated hosts: directories, files and symlinks at absolute paths,
// with the semantics the phase scripts rely on (mkdir -p, rename(2) as mv -T does it, rm -rf that
// never follows the last component, writes that follow symlinks, cd -P). Failures throw ShellError
// with the text a shell would print. Time does not pass: every age is 0; mtimes are a sequence
// number, which orders files as ls -t would.
import { posix } from 'node:path';

export type SimNode = { kind: 'dir'; children: Set<string>; mtime: number } | { kind: 'file'; data: string; mtime: number } | { kind: 'link'; target: string; mtime: number };

/** A command failed as it would in /bin/sh: the message it prints, the exit code. */
export class ShellError extends Error {
  constructor(
    message: string,
    readonly code = 1,
  ) {
    super(message);
  }
}

export class SimFs {
  private readonly nodes = new Map<string, SimNode>([['/', { kind: 'dir', children: new Set(), mtime: 0 }]]);
  /** where the symlinks are: a path with none of them on its way resolves to itself (the fast path) */
  private readonly links = new Set<string>();
  private seq = 0;
  /** changes made so far (a step that changes nothing leaves it as it was) */
  changes = 0;

  /** Everything under a directory (paths, kinds, contents, link targets) as one text: to tell whether something changed. */
  tree(dir: string): string {
    const out: string[] = [];
    const walk = (p: string) => {
      const n = this.nodes.get(p);
      if (!n) return;
      out.push(`${p} ${n.kind === 'file' ? JSON.stringify(n.data) : n.kind === 'link' ? '-> ' + n.target : '/'}`);
      if (n.kind === 'dir') for (const c of [...n.children].sort()) walk(posix.join(p, c));
    };
    walk(dir);
    return out.join('\n');
  }

  /** A copy to go back to (the differential test tries an old session's other interleavings from it). */
  copy(): SimFs {
    const c = new SimFs();
    c.nodes.clear();
    for (const [k, v] of this.nodes) c.nodes.set(k, v.kind === 'dir' ? { ...v, children: new Set(v.children) } : { ...v });
    for (const l of this.links) c.links.add(l);
    c.seq = this.seq;
    c.changes = this.changes;
    return c;
  }

  private tick(): number {
    this.changes++;
    return ++this.seq;
  }

  private viaLink(path: string): boolean {
    for (const l of this.links) if (path === l || path.startsWith(l + '/')) return true;
    return false;
  }

  /** The physical path of `path` (symlinks resolved; the last one too when follow), or undefined when a component is missing. */
  resolve(path: string, follow = true): string | undefined {
    // paths the scripts name are absolute and clean: normalised only when they might not be
    const n = path.length > 1 && path[0] === '/' && !path.endsWith('/') && !/\/\.|\/\//.test(path) ? path : posix.normalize(path);
    if (!this.viaLink(n)) {
      if (n === '/') return n;
      const cut = n.lastIndexOf('/');
      return this.nodes.get(cut === 0 ? '/' : n.slice(0, cut))?.kind === 'dir' ? n : undefined;
    }
    let parts = posix.normalize(path).split('/').filter(Boolean);
    let at = '/';
    for (let i = 0, hops = 0; i < parts.length; i++) {
      const next = posix.join(at, parts[i]);
      const n = this.nodes.get(next);
      const last = i === parts.length - 1;
      if (n?.kind === 'link' && (follow || !last)) {
        if (++hops > 40) return undefined;
        const t = posix.isAbsolute(n.target) ? n.target : posix.join(at, n.target);
        parts = [...posix.normalize(t).split('/').filter(Boolean), ...parts.slice(i + 1)];
        at = '/';
        i = -1;
        continue;
      }
      if (!last && n?.kind !== 'dir') return undefined;
      at = next;
    }
    return at;
  }

  /** The node at path (following symlinks unless follow is false for the last component). */
  get(path: string, follow = true): SimNode | undefined {
    const p = this.resolve(path, follow);
    return p === undefined ? undefined : this.nodes.get(p);
  }

  exists(path: string): boolean {
    return !!this.get(path);
  }
  isDir(path: string): boolean {
    return this.get(path)?.kind === 'dir';
  }
  isFile(path: string): boolean {
    return this.get(path)?.kind === 'file';
  }
  isLink(path: string): boolean {
    return this.get(path, false)?.kind === 'link';
  }
  readlink(path: string): string | undefined {
    const n = this.get(path, false);
    return n?.kind === 'link' ? n.target : undefined;
  }
  read(path: string): string | undefined {
    const n = this.get(path);
    return n?.kind === 'file' ? n.data : undefined;
  }
  /** Names in a directory, sorted (as ls and glob order them in the C locale), dot files too. */
  list(path: string): string[] {
    const n = this.get(path);
    return n?.kind === 'dir' ? [...n.children].sort() : [];
  }
  mtime(path: string): number | undefined {
    return this.get(path)?.mtime;
  }

  private put(path: string, node: SimNode): void {
    const parent = this.nodes.get(posix.dirname(path));
    if (parent?.kind !== 'dir') throw new ShellError(`${path}: Directory nonexistent`, 2);
    parent.children.add(posix.basename(path));
    parent.mtime = this.tick();
    this.nodes.set(path, node);
    if (node.kind === 'link') this.links.add(path);
  }

  /** Detach an entry from its directory and forget its subtree. */
  private drop(path: string): void {
    const parent = this.nodes.get(posix.dirname(path));
    if (parent?.kind === 'dir') parent.children.delete(posix.basename(path));
    const forget = (p: string) => {
      const n = this.nodes.get(p);
      if (n?.kind === 'dir') for (const c of n.children) forget(posix.join(p, c));
      if (n?.kind === 'link') this.links.delete(p);
      this.nodes.delete(p);
    };
    this.changes++;
    forget(path);
  }

  /** The physical path where a new entry named by path goes: its parent resolved, the name kept. */
  private place(path: string): string {
    const dir = this.resolve(posix.dirname(posix.normalize(path)));
    if (dir === undefined || this.nodes.get(dir)?.kind !== 'dir') throw new ShellError(`cannot create ${path}: Directory nonexistent`, 2);
    return posix.join(dir, posix.basename(path));
  }

  mkdirP(path: string): void {
    const parts = posix.normalize(path).split('/').filter(Boolean);
    let at = '/';
    for (const part of parts) {
      const next = posix.join(at, part);
      const n = this.get(next);
      if (!n) {
        if (this.get(next, false)) throw new ShellError(`mkdir: cannot create directory '${path}': File exists`);
        this.put(this.resolve(next, false)!, { kind: 'dir', children: new Set(), mtime: this.tick() });
      } else if (n.kind !== 'dir') throw new ShellError(`mkdir: cannot create directory '${path}': ${next === posix.normalize(path) ? 'File exists' : 'Not a directory'}`);
      at = this.resolve(next)!;
    }
  }

  /** mkdir without -p: fails when it exists (the atomic claim of a lock breaker). */
  mkdir(path: string): void {
    if (this.get(path, false)) throw new ShellError(`mkdir: cannot create directory '${path}': File exists`);
    this.put(this.place(path), { kind: 'dir', children: new Set(), mtime: this.tick() });
  }

  /** printf > path (or >>): through a symlink to its target; a directory cannot be written. */
  write(path: string, data: string, append = false): void {
    const p = this.resolve(path);
    if (p === undefined || this.nodes.get(posix.dirname(p))?.kind !== 'dir') throw new ShellError(`cannot create ${path}: Directory nonexistent`, 2);
    const n = this.nodes.get(p);
    if (n?.kind === 'dir') throw new ShellError(`cannot create ${path}: Is a directory`, 2);
    if (n?.kind === 'file') {
      n.data = append ? n.data + data : data;
      n.mtime = this.tick();
      return;
    }
    this.put(p, { kind: 'file', data, mtime: this.tick() });
  }

  /** touch -c: only an existing file's time. */
  touch(path: string): void {
    const n = this.get(path);
    if (n) n.mtime = this.tick();
  }

  /** rm -rf: the entry itself (a symlink, not what it points to), missing is fine. */
  rmRf(path: string): void {
    const p = this.resolve(path, false);
    if (p !== undefined && p !== '/') this.drop(p);
  }

  /** rm -f: a file or link; a directory is refused. */
  rmF(path: string): void {
    const n = this.get(path, false);
    if (!n) return;
    if (n.kind === 'dir') throw new ShellError(`rm: cannot remove '${path}': Is a directory`);
    this.drop(this.resolve(path, false)!);
  }

  /** ln -s target path (into path when it is a directory). */
  symlink(target: string, path: string): void {
    const into = this.isDir(path) ? posix.join(path, posix.basename(target)) : path;
    if (this.get(into, false)) throw new ShellError(`ln: failed to create symbolic link '${into}': File exists`);
    this.put(this.place(into), { kind: 'link', target, mtime: this.tick() });
  }

  /** mv -T src dst (rename(2)): onto a missing name, an empty directory (src a directory) or a non-directory (src not one). */
  rename(src: string, dst: string): void {
    const s = this.resolve(src, false);
    const sn = s === undefined ? undefined : this.nodes.get(s);
    if (!sn || s === undefined) throw new ShellError(`mv: cannot stat '${src}': No such file or directory`);
    const d = this.place(dst);
    const dn = this.nodes.get(d);
    if (dn) {
      if (dn.kind === 'dir' && sn.kind !== 'dir') throw new ShellError(`mv: cannot overwrite directory '${dst}' with non-directory`);
      if (dn.kind !== 'dir' && sn.kind === 'dir') throw new ShellError(`mv: cannot overwrite non-directory '${dst}' with directory '${src}'`);
      if (dn.kind === 'dir' && dn.children.size) throw new ShellError(`mv: cannot move '${src}' to '${dst}': Directory not empty`);
      if (d === s) return;
      this.drop(d);
    }
    if (d.startsWith(s + '/')) throw new ShellError(`mv: cannot move '${src}' to a subdirectory of itself`);
    // move the subtree
    const moved: [string, SimNode][] = [];
    const collect = (k: string) => {
      const v = this.nodes.get(k)!;
      moved.push([d + k.slice(s.length), v]);
      if (v.kind === 'dir') for (const c of v.children) collect(posix.join(k, c));
    };
    collect(s);
    this.drop(s);
    for (const [k, v] of moved) {
      this.nodes.set(k, v);
      if (v.kind === 'link') this.links.add(k);
    }
    const parent = this.nodes.get(posix.dirname(d));
    if (parent?.kind === 'dir') {
      parent.children.add(posix.basename(d));
      parent.mtime = this.tick();
    }
  }

  /** cd -P dir && pwd -P, or undefined. */
  physical(path: string): string | undefined {
    const p = this.resolve(path);
    return p !== undefined && this.nodes.get(p)?.kind === 'dir' ? p : undefined;
  }
}

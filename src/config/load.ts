// Read deploy.yml keeping positions, so every later error can say file:line:col.
import { readFileSync } from 'node:fs';
import { isCollection, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node, type YAMLError } from 'yaml';
import { join } from 'node:path';
import { ConfigError, ConfigErrorCollector } from '../errors.js';
import { readFailure } from '../local-file.js';

export interface SourcePos {
  line: number;
  col: number;
}

export interface LoadedFile {
  file: string;
  data: Record<string, unknown>;
  /** position of the key (or list item) at a path, for error messages */
  pos(path: (string | number)[]): SourcePos | undefined;
  /** a ConfigError pointing at a path */
  error(path: (string | number)[], message: string): ConfigError;
  /**
   * The text written for a number at a path when the number does not read back as it (1.10 is 1.1,
   * 2.0 is 2): where a string is meant (branch: 1.10, a version) that text is the value.
   */
  numberText(path: (string | number)[]): string | undefined;
  /** the text written for a scalar at a path (True for a boolean true), for messages */
  scalarSource(path: (string | number)[]): string | undefined;
}

export function loadDeployFile(file: string): LoadedFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const hint = code === 'ENOENT' ? ' (run `fap init` to write one, or pass -f PATH)' : code === 'EISDIR' ? ` (give the deploy file in it, e.g. ${join(file, 'deploy.yml')})` : '';
    throw new ConfigError(readFailure(e) + hint, { file });
  }
  return parseDeployText(text, file);
}

export function parseDeployText(text: string, file: string): LoadedFile {
  const lineCounter = new LineCounter();
  // logLevel error: the library's warnings (a %(key)s read as a directive, a stringified key) go to no stderr
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false, merge: true, logLevel: 'error' });
  // every syntax error the parser found, each where the user can act on it
  const errors = new ConfigErrorCollector();
  for (const err of doc.errors) errors.add(err.code === 'MULTIPLE_DOCS' ? secondDocument(text, lineCounter, err, file) : yamlError(doc, lineCounter, err, file));
  errors.throwIfAny();
  // An alias whose anchor is not defined (before it) is not a parse error in the yaml library:
  // toJS throws. Report each where it is written.
  visit(doc, {
    Alias(_, node, path) {
      if (node.resolve(doc) !== undefined) return;
      const lp = lineCounter.linePos(node.range?.[0] ?? 0);
      const keyPath = pathOfAncestors(path, node);
      errors.add(new ConfigError(`YAML: unknown alias *${node.source} (define the anchor &${node.source} before it)`, { file, line: lp.line, col: lp.col, keyPath: keyPath.length ? formatPath(keyPath) : undefined }));
    },
  });
  errors.throwIfAny();
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 1000 }) as unknown;
  } catch (e) {
    // e.g. a merge key (<<) whose source is not a map: point at the first << when there is one
    let at: { node: Node; path: (string | number)[] } | undefined;
    if (/merge/i.test((e as Error).message)) walk(doc.contents, [], (node, path, isKey) => void (isKey && !at && isScalar(node) && keyName(node) === '<<' && (at = { node, path })));
    const lp = lineCounter.linePos(at?.node.range?.[0] ?? 0);
    throw new ConfigError(`YAML: ${(e as Error).message.split('\n')[0]}`, { file, line: lp.line, col: lp.col, keyPath: at ? formatPath(at.path) : undefined });
  }
  if (data === null || data === undefined) throw new ConfigError('the file is empty (run `fap init` for a starting point)', { file, line: 1, col: 1 });
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError('the top level must be a map of keys (app_name:, stage_role_configs:, ...)', { file, line: 1, col: 1 });
  }
  const pos = (path: (string | number)[]) => positionOf(doc, lineCounter, path);
  return {
    file,
    data: data as Record<string, unknown>,
    pos,
    error: (path, message) => {
      const p = pos(path);
      return new ConfigError(message, { file, line: p?.line, col: p?.col, keyPath: formatPath(path) });
    },
    numberText: (path) => {
      const { node } = nodeAt(doc, path);
      return isScalar(node) && typeof node.value === 'number' && node.source !== undefined && node.source !== String(node.value) ? node.source : undefined;
    },
    scalarSource: (path) => {
      const { node } = nodeAt(doc, path);
      return isScalar(node) ? (node.source ?? String(node.value)) : undefined;
    },
  };
}

export function formatPath(path: (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : (i ? '.' : '') + p)).join('');
}

/**
 * A YAML error where the user can act on it: an unclosed quote or flow collection at the place
 * it was opened (the library reports where the file ran out), a duplicate key with its key path.
 */
/** A second YAML document (after ---) in the file: fap reads one, and says where the next starts. */
function secondDocument(text: string, lc: LineCounter, err: YAMLError, file: string): ConfigError {
  const at = err.pos[0];
  const lp = lc.linePos(at);
  const marker = text.startsWith('---', at) ? 'the --- here starts a second' : 'a second starts here';
  return new ConfigError(`the file holds more than one YAML document (${marker}); fap reads a deploy file as one: remove the --- or move the rest into the first`, { file, line: lp.line, col: lp.col });
}

function yamlError(doc: Document, lc: LineCounter, err: YAMLError, file: string): ConfigError {
  const msg = err.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
  const at = err.pos[0];
  // the message starts with what went wrong ("duplicate key", "YAML syntax"); the key path follows
  const where = (offset: number) => {
    const lp = lc.linePos(offset);
    return { file, line: lp.line, col: lp.col };
  };
  const of = (path: (string | number)[]) => (path.length ? ` (${formatPath(path)})` : '');
  let found: { node: Node; path: (string | number)[] } | undefined;
  const consider = (node: Node, path: (string | number)[]) => {
    if (!found || (node.range?.[0] ?? -1) > (found.node.range?.[0] ?? -1)) found = { node, path };
  };
  if (err.code === 'DUPLICATE_KEY') {
    walk(doc.contents, [], (node, path, isKey) => {
      if (isKey && node.range?.[0] === at) found = { node, path };
    });
    if (found && isScalar(found.node)) {
      return new ConfigError(`duplicate key: ${formatPath(found.path)} is already set above in the same map`, where(at));
    }
  } else if (err.code === 'MISSING_CHAR' && /quote/.test(msg)) {
    walk(doc.contents, [], (node, path, isKey) => {
      if (!isKey && isScalar(node) && (node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE') && node.range && node.range[0] < at && node.range[1] >= at) consider(node, path);
    });
    if (found) {
      const q = (found.node as { type?: string }).type === 'QUOTE_SINGLE' ? "'" : '"';
      return new ConfigError(`YAML syntax: the ${q} opened here${of(found.path)} is never closed`, where(found.node.range![0]));
    }
  } else if (/^Flow (sequence|map) .*end with a [\]}]/.test(msg)) {
    walk(doc.contents, [], (node, path, isKey) => {
      if (!isKey && isCollection(node) && node.flow && node.range && node.range[0] < at && node.range[1] >= at) consider(node, path);
    });
    if (found) {
      const close = isSeq(found.node) ? ']' : '}';
      return new ConfigError(`YAML syntax: the ${close === ']' ? '[' : '{'} opened here${of(found.path)} is never closed with ${close}`, where(found.node.range![0]));
    }
  }
  return new ConfigError(yamlMessage(err.code, msg), where(at));
}

/** Visit every node with its key path; keys are visited with the path they name. */
function walk(node: unknown, path: (string | number)[], fn: (node: Node, path: (string | number)[], isKey: boolean) => void): void {
  if (isMap(node)) {
    for (const it of node.items) {
      const k = isScalar(it.key) ? keyName(it.key) : '?';
      if (it.key && typeof it.key === 'object') fn(it.key as Node, [...path, k], true);
      walk(it.value, [...path, k], fn);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => walk(item, [...path, i], fn));
  }
  if (node && typeof node === 'object' && 'range' in node && !isPair(node)) fn(node as Node, path, false);
}

/** A map key as written (a merge key's value is a Symbol). */
function keyName(key: { value: unknown; source?: string }): string {
  return typeof key.value === 'symbol' ? (key.source ?? '<<') : String(key.value);
}

/** The key path of a node from the ancestors visit() passes. */
function pathOfAncestors(ancestors: readonly unknown[], node: unknown): (string | number)[] {
  const out: (string | number)[] = [];
  const chain = [...ancestors, node];
  for (let i = 0; i < chain.length; i++) {
    const a = chain[i];
    if (isPair(a) && isScalar(a.key)) out.push(keyName(a.key));
    else if (isSeq(a) && i + 1 < chain.length) {
      const idx = a.items.indexOf(chain[i + 1] as never);
      if (idx >= 0) out.push(idx);
    }
  }
  return out;
}

function yamlMessage(code: string, msg: string): string {
  if (code === 'DUPLICATE_KEY') return `duplicate key: ${msg}`;
  if (code === 'BAD_INDENT' || code === 'MISSING_CHAR') return `YAML syntax (indentation?): ${msg}`;
  return `YAML syntax: ${msg}`;
}

/** Find the node for a path; for a map entry, point at its key. */
function positionOf(doc: Document, lc: LineCounter, path: (string | number)[]): SourcePos | undefined {
  const { at } = nodeAt(doc, path);
  const offset = at?.range?.[0];
  if (offset === undefined) return undefined;
  const lp = lc.linePos(offset);
  return { line: lp.line, col: lp.col };
}

/** The value node at a path (node; undefined when the path is not written as such) and where to point for it (at: its key, for a map entry). */
function nodeAt(doc: Document, path: (string | number)[]): { node: unknown; at: Node | undefined } {
  let node: unknown = doc.contents;
  let at: Node | undefined = doc.contents ?? undefined;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((it) => isPair(it) && isScalar(it.key) && String(it.key.value) === String(seg));
      if (!pair) return { node: undefined, at };
      at = (pair.key as Node) ?? at;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (!item) return { node: undefined, at };
      at = item as Node;
      node = item;
    } else return { node: undefined, at };
  }
  return { node, at };
}

// Read deploy.yml keeping positions, so every later error can say file:line:col.
import { readFileSync } from 'node:fs';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { ConfigError } from '../errors.js';

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
}

export function loadDeployFile(file: string): LoadedFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file (run `fap init` to write one, or pass -f PATH)' : String((e as Error).message);
    throw new ConfigError(why, { file });
  }
  return parseDeployText(text, file);
}

export function parseDeployText(text: string, file: string): LoadedFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const first = doc.errors[0];
  if (first) {
    const lp = lineCounter.linePos(first.pos[0]);
    const msg = first.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    throw new ConfigError(yamlMessage(first.code, msg), { file, line: lp.line, col: lp.col });
  }
  const data = doc.toJS({ maxAliasCount: 1000 }) as unknown;
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
  };
}

export function formatPath(path: (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : (i ? '.' : '') + p)).join('');
}

function yamlMessage(code: string, msg: string): string {
  if (code === 'DUPLICATE_KEY') return `duplicate key: ${msg}`;
  if (code === 'BAD_INDENT' || code === 'MISSING_CHAR') return `YAML syntax (indentation?): ${msg}`;
  return `YAML syntax: ${msg}`;
}

/** Find the node for a path; for a map entry, point at its key. */
function positionOf(doc: Document, lc: LineCounter, path: (string | number)[]): SourcePos | undefined {
  let node: unknown = doc.contents;
  let at: Node | undefined = doc.contents ?? undefined;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((it) => isPair(it) && isScalar(it.key) && String(it.key.value) === String(seg));
      if (!pair) break;
      at = (pair.key as Node) ?? at;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (!item) break;
      at = item as Node;
      node = item;
    } else break;
  }
  const offset = at?.range?.[0];
  if (offset === undefined) return undefined;
  const lp = lc.linePos(offset);
  return { line: lp.line, col: lp.col };
}

// The module structure, checked: no import cycles among src/, plugins/ and bin/ (a cycle makes load
// order matter and hides which layer owns what), and plugins know only the plugin API: a file in
// plugins/ imports src/signals.ts, files under plugins/ and packages, nothing else of fap's core.
// The other way round, the core reaches plugins only through the loader (src/plugin/load.ts), and
// names no bundled plugin anywhere else: what a plugin needs or replaces, it declares.
// The graph is read with the TypeScript compiler's parser: static imports, re-exports and dynamic
// import() alike, type-only ones included (they couple the code as much for a reader).
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, test } from 'node:test';
import ts from 'typescript';
import { ROOT } from '../helpers.js';

/** file (relative to the root, / separated) -> the project files it imports */
export type ImportGraph = Map<string, string[]>;

const sourceFiles = (dir: string): string[] =>
  existsSync(dir) ? readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? sourceFiles(join(dir, d.name)) : /\.(ts|js)$/.test(d.name) && !d.name.endsWith('.d.ts') ? [join(dir, d.name)] : [])) : [];

/** Every module specifier a file names: import/export ... from, import(), import x = require(). */
export function specifiers(fileName: string, text: string): string[] {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, false);
  const out: string[] = [];
  const visit = (n: ts.Node) => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) out.push(n.moduleSpecifier.text);
    else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0] && ts.isStringLiteralLike(n.arguments[0])) out.push(n.arguments[0].text);
    else if (ts.isImportEqualsDeclaration(n) && ts.isExternalModuleReference(n.moduleReference) && ts.isStringLiteral(n.moduleReference.expression)) out.push(n.moduleReference.expression.text);
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

/** The project file a relative specifier names (x.js is written for x.ts; bin/ imports ../dist/src/...), or undefined for a package. */
function resolveSpecifier(root: string, from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  let abs = resolve(dirname(join(root, from)), spec);
  const rel = relative(root, abs).split('\\').join('/');
  if (rel.startsWith('dist/')) abs = join(root, rel.slice('dist/'.length));
  const candidates = [abs.replace(/\.js$/, '.ts'), abs, `${abs}.ts`, join(abs, 'index.ts')];
  const hit = candidates.find((c) => existsSync(c) && !c.endsWith('/'));
  return relative(root, hit ?? abs).split('\\').join('/');
}

/** The import graph of every .ts/.js file under `dirs` of `root`. */
export function importGraph(root: string, dirs: string[]): ImportGraph {
  const graph: ImportGraph = new Map();
  for (const dir of dirs) {
    for (const file of sourceFiles(join(root, dir))) {
      const rel = relative(root, file).split('\\').join('/');
      const deps = specifiers(file, readFileSync(file, 'utf8')).flatMap((s) => resolveSpecifier(root, rel, s) ?? []);
      graph.set(rel, [...new Set(deps)]);
    }
  }
  return graph;
}

/** Every elementary cycle's shortest form, one per strongly connected component (Tarjan), as a path a -> b -> ... -> a. */
export function findCycles(graph: ImportGraph): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const components: string[][] = [];
  const strong = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const c: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        c.push(w);
      } while (w !== v);
      if (c.length > 1 || (graph.get(v) ?? []).includes(v)) components.push(c);
    }
  };
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) strong(v);
  // within each component, the shortest way from its first file back to itself (breadth first)
  return components.map((c) => {
    const inside = new Set(c);
    const start = [...c].sort()[0];
    const prev = new Map<string, string>();
    const queue = [start];
    while (queue.length) {
      const v = queue.shift()!;
      for (const w of graph.get(v) ?? []) {
        if (!inside.has(w)) continue;
        if (w === start) {
          const path = [start];
          for (let x = v; x !== start; x = prev.get(x)!) path.splice(1, 0, x);
          return [...path, start];
        }
        if (!prev.has(w)) {
          prev.set(w, v);
          queue.push(w);
        }
      }
    }
    return [start, start];
  });
}

/** The plugin API: the one core file plugins may import. */
export const PLUGIN_API = 'src/signals.ts';

/** The one core file that may import plugins (it loads them by name). */
export const PLUGIN_LOADER = 'src/plugin/load.ts';

/**
 * Imports across the plugin boundary other than through the plugin API, as "from -> to": from
 * plugins/ to core beyond src/signals.ts, and from core to plugins/ beyond the loader.
 */
export function forbiddenPluginImports(graph: ImportGraph): string[] {
  const out: string[] = [];
  for (const [from, deps] of graph) {
    const plugin = from.startsWith('plugins/');
    for (const to of deps) {
      if (plugin ? to !== PLUGIN_API && !to.startsWith('plugins/') : to.startsWith('plugins/') && from !== PLUGIN_LOADER) out.push(`${from} -> ${to}`);
    }
  }
  return out;
}

/** String literals in `text` that are one of `names` (a plugin named in code), as "line: 'name'". */
export function namedIn(fileName: string, text: string, names: readonly string[]): string[] {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const out: string[] = [];
  const visit = (n: ts.Node) => {
    if (ts.isStringLiteralLike(n) && names.includes(n.text)) out.push(`${sf.getLineAndCharacterOfPosition(n.getStart()).line + 1}: '${n.text}'`);
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

const graphOf = (edges: Record<string, string[]>): ImportGraph => new Map(Object.entries(edges));

describe('the checks themselves', () => {
  test('a cycle is found and printed as a path; a diamond is no cycle', () => {
    assert.deepEqual(findCycles(graphOf({ 'src/a.ts': ['src/b.ts'], 'src/b.ts': ['src/c.ts'], 'src/c.ts': ['src/a.ts', 'src/d.ts'], 'src/d.ts': [] })), [['src/a.ts', 'src/b.ts', 'src/c.ts', 'src/a.ts']]);
    assert.deepEqual(findCycles(graphOf({ 'src/a.ts': ['src/a.ts'] })), [['src/a.ts', 'src/a.ts']]);
    assert.deepEqual(findCycles(graphOf({ 'src/a.ts': ['src/b.ts', 'src/c.ts'], 'src/b.ts': ['src/d.ts'], 'src/c.ts': ['src/d.ts'], 'src/d.ts': [] })), []);
    // two separate cycles: both reported
    assert.equal(findCycles(graphOf({ a: ['b'], b: ['a'], c: ['d'], d: ['c'] })).length, 2);
  });

  test('a plugin importing core beyond the plugin API is reported; the API, plugins/ and core importing plugins are not', () => {
    const g = graphOf({
      'plugins/x/index.ts': ['src/signals.ts', 'plugins/x/keys.ts', 'plugins/shared.ts', 'src/redact.ts'],
      'plugins/shared.ts': ['src/release/plan.ts'],
      'src/plugin/load.ts': ['plugins/x/index.ts'],
      'src/release/check.ts': ['plugins/shared.ts', 'src/signals.ts'],
    });
    assert.deepEqual(forbiddenPluginImports(g), ['plugins/x/index.ts -> src/redact.ts', 'plugins/shared.ts -> src/release/plan.ts', 'src/release/check.ts -> plugins/shared.ts']);
  });

  test('a plugin name in a string is found, in a comment or inside other text it is not', () => {
    const text = "// git\nconst a = 'git';\nconst b = `curl`;\nconst c = 'git clone';\nconst d = { curl: 1 };\n";
    assert.deepEqual(namedIn('x.ts', text, ['git', 'curl']), ["2: 'git'", "3: 'curl'"]);
  });

  test('the parser sees static, type-only, re-exported and dynamic imports; bin/ is read through dist/', () => {
    const text = "import type { A } from './a.js';\nexport { B } from '../b.js';\nconst c = await import('./c.js');\nimport 'node:fs';\n// import './not-me.js'\n";
    assert.deepEqual(specifiers('x.ts', text), ['./a.js', '../b.js', './c.js', 'node:fs']);
    const g = importGraph(ROOT, ['bin']);
    assert.ok(g.get('bin/fap.js')?.includes('src/cli/interrupt.ts'), JSON.stringify([...g]));
  });
});

describe('fap itself', () => {
  const graph = importGraph(ROOT, ['src', 'plugins', 'bin']);

  test('the graph is complete: every file is in it, every import resolves to a file', () => {
    assert.ok(graph.size > 60, `${graph.size} files`);
    for (const [from, deps] of graph) for (const to of deps) assert.ok(graph.has(to), `${from} imports ${to}, which is not a file of src/, plugins/ or bin/`);
  });

  test('no import cycles', () => {
    const cycles = findCycles(graph);
    assert.deepEqual(cycles.map((c) => c.join(' -> ')), [], `import cycles:\n${cycles.map((c) => '  ' + c.join(' -> ')).join('\n')}`);
  });

  test('plugins import only the plugin API (src/signals.ts), files under plugins/ and packages; core imports plugins only in the loader', () => {
    assert.deepEqual(forbiddenPluginImports(graph), []);
  });

  test('the core names no bundled plugin outside the loader', async () => {
    const { BUNDLED_NAMES } = await import('../../src/plugin/load.js');
    assert.ok(BUNDLED_NAMES.includes('git') && BUNDLED_NAMES.length >= 9, BUNDLED_NAMES.join());
    const named = [...graph.keys()]
      .filter((f) => f.startsWith('src/') && f !== PLUGIN_LOADER)
      .flatMap((f) => namedIn(f, readFileSync(join(ROOT, f), 'utf8'), BUNDLED_NAMES).map((hit) => `${f}:${hit}`));
    assert.deepEqual(named, []);
  });
});

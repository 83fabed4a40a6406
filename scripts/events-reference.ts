// The --json event reference (docs/events.md), generated from the FapEvent union in src/events.ts
// with the TypeScript compiler: each interface's doc comment says when the event comes, each
// field's doc comment what it holds. `npm run docs` writes it; test/unit/events-reference.test.ts
// fails when the doc and the union differ. Dev-only (typescript is a devDependency).
import { join } from 'node:path';
import ts from 'typescript';

export const EVENTS_START = '<!-- --json events: generated from src/events.ts by `npm run docs`; do not edit by hand -->';
export const EVENTS_END = '<!-- end of --json events -->';

interface Row {
  field: string;
  type: string;
  meaning: string;
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\s*\n\s*/g, ' ');

/** The reference, as a markdown table between the markers. `root` is the repository. */
export function eventsReference(root: string): string {
  const file = join(root, 'src', 'events.ts');
  const program = ts.createProgram([file], { strict: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, skipLibCheck: true, noEmit: true });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file)!;
  const doc = (sym: ts.Symbol) => ts.displayPartsToString(sym.getDocumentationComment(checker)).trim();
  const union = source.statements.find((s): s is ts.TypeAliasDeclaration => ts.isTypeAliasDeclaration(s) && s.name.text === 'FapEvent');
  if (!union || !ts.isUnionTypeNode(union.type)) throw new Error('src/events.ts: no FapEvent union');

  // string literals in the order they are written (the checker's union order is its own), through aliases
  function literals(node: ts.TypeNode | undefined): string[] | undefined {
    if (!node) return undefined;
    if (ts.isLiteralTypeNode(node) && ts.isStringLiteral(node.literal)) return [node.literal.text];
    if (ts.isUnionTypeNode(node)) {
      const parts = node.types.map(literals);
      return parts.every((p) => p) ? parts.flat() as string[] : undefined;
    }
    if (ts.isTypeReferenceNode(node)) {
      let sym = checker.getSymbolAtLocation(node.typeName);
      if (sym && sym.flags & ts.SymbolFlags.Alias) sym = checker.getAliasedSymbol(sym);
      return literals(sym?.declarations?.find(ts.isTypeAliasDeclaration)?.type);
    }
    return undefined;
  }
  const typeNode = (p: ts.Symbol) => {
    const d = p.valueDeclaration;
    return d && ts.isPropertySignature(d) ? d.type : undefined;
  };
  const isPlainObject = (t: ts.Type) => !!(t.flags & ts.TypeFlags.Object) && !checker.isArrayType(t);

  // a field's rows: its own, then (for objects, lists of objects and maps of objects) one per inner field
  function fieldRows(name: string, t: ts.Type, node: ts.TypeNode | undefined, optional: boolean, meaning: string, out: Row[]): void {
    const optionalText = optional ? ' (optional)' : '';
    const words = literals(node);
    if (words) {
      out.push({ field: `\`${name}\``, type: words.map((w) => `\`${w}\``).join(' | ') + optionalText, meaning });
      return;
    }
    let members = (t.isUnion() ? t.types : [t]).filter((m) => !(m.flags & ts.TypeFlags.Undefined));
    const nullable = members.some((m) => m.flags & ts.TypeFlags.Null);
    members = members.filter((m) => !(m.flags & ts.TypeFlags.Null));
    const bools = members.filter((m) => m.flags & ts.TypeFlags.BooleanLiteral);
    let inner: { prefix: string; type: ts.Type } | undefined;
    const describe = (m: ts.Type): string => {
      if (m.isStringLiteral()) return `\`${m.value}\``;
      if (checker.isArrayType(m)) {
        const el = checker.getTypeArguments(m as ts.TypeReference)[0];
        if (isPlainObject(el) && el.getProperties().length) {
          inner = { prefix: `${name}[].`, type: el };
          return 'list of objects';
        }
        return `list of ${describe(el)}s`;
      }
      if (isPlainObject(m)) {
        const index = checker.getIndexInfosOfType(m)[0];
        if (index && !m.getProperties().length) {
          if (isPlainObject(index.type) && index.type.getProperties().length) {
            inner = { prefix: `${name}.*.`, type: index.type };
            return 'map of objects';
          }
          return index.type.flags & ts.TypeFlags.Unknown ? 'map' : `map of ${describe(index.type)}`;
        }
        inner = { prefix: `${name}.`, type: m };
        return 'object';
      }
      return checker.typeToString(m);
    };
    const kinds = bools.length === 2 ? ['boolean', ...members.filter((m) => !bools.includes(m)).map(describe)] : members.map(describe);
    if (nullable) kinds.push('null');
    out.push({ field: `\`${name}\``, type: kinds.join(' | ') + optionalText, meaning });
    if (inner) objectRows(inner.prefix, inner.type, out);
  }

  function objectRows(prefix: string, t: ts.Type, out: Row[], skip = new Set<string>()): void {
    for (const p of t.getProperties()) {
      if (skip.has(p.name)) continue;
      const meaning = doc(p);
      if (!meaning) throw new Error(`src/events.ts: ${prefix}${p.name} has no doc comment`);
      const decl = p.valueDeclaration ?? p.declarations![0];
      fieldRows(prefix + p.name, checker.getTypeOfSymbolAtLocation(p, decl), typeNode(p), !!(p.flags & ts.SymbolFlags.Optional), meaning, out);
    }
  }

  const out = [EVENTS_START, '', 'Every line is one JSON object with `ts` (when, ISO 8601) and `event`; the fields of each event:', '', '| event | field | type | meaning |', '| --- | --- | --- | --- |'];
  for (const node of union.type.types) {
    const t = checker.getTypeFromTypeNode(node);
    const sym = t.getSymbol() ?? t.aliasSymbol;
    const when = sym && doc(sym);
    const eventProp = t.getProperty('event');
    const names = eventProp && literals(typeNode(eventProp));
    if (!when || !names) throw new Error(`src/events.ts: ${node.getText(source)} needs a doc comment and a literal event name`);
    out.push(`| ${names.map((n) => `\`${n}\``).join(', ')} | | | ${cell(when)} |`);
    const rows: Row[] = [];
    objectRows('', t, rows, new Set(['event']));
    for (const r of rows) out.push(`| | ${r.field} | ${cell(r.type)} | ${cell(r.meaning)} |`);
  }
  out.push('', EVENTS_END);
  return out.join('\n');
}

/** Replace the reference between the markers of a document's text. */
export function withEventsReference(text: string, reference: string): string {
  const a = text.indexOf(EVENTS_START);
  const b = text.indexOf(EVENTS_END);
  if (a < 0 || b < a) throw new Error('no --json events markers');
  return text.slice(0, a) + reference + text.slice(b + EVENTS_END.length);
}

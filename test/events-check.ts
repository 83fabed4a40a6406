// Checks --json lines against the FapEvent union by type-checking them: each line becomes an
// element of a `StampedEvent[]` literal in a scratch module that the TypeScript compiler checks,
// so an unknown event, a missing field, a field of the wrong type or one the union does not
// declare (excess property check) is an error naming the line.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { ROOT } from './helpers.js';

/** One error per problem, with the index of its line (empty: every line fits the union). */
// parsed files (lib, src) are shared by every check: only the scratch module changes
const parsed = new Map<string, ts.SourceFile | undefined>();

export function eventErrors(lines: string[]): { line: number; message: string }[] {
  const scratch = join(ROOT, 'test', '__events_check__.ts');
  const text = `import type { StampedEvent } from '../src/events.js';\nexport const events: StampedEvent[] = [\n${lines.map((l) => l + ',').join('\n')}\n];\n`;
  const config = ts.parseJsonConfigFileContent(JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')), ts.sys, ROOT);
  const host = ts.createCompilerHost(config.options);
  const read = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) => {
    if (name === scratch) return ts.createSourceFile(name, text, lang);
    if (!parsed.has(name)) parsed.set(name, read(name, lang, ...rest));
    return parsed.get(name);
  };
  host.fileExists = ((exists) => (name: string) => name === scratch || exists(name))(host.fileExists.bind(host));
  const program = ts.createProgram([scratch], { ...config.options, noEmit: true }, host);
  const source = program.getSourceFile(scratch)!;
  return [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)].map((d) => {
    const line = d.start === undefined ? -1 : source.getLineAndCharacterOfPosition(d.start).line - 2;
    return { line, message: `${ts.flattenDiagnosticMessageText(d.messageText, '\n')}\n  in: ${lines[line] ?? '(the scratch module)'}` };
  });
}

/** The index of every line with an error, once each, in order. */
export function badLines(errors: { line: number }[]): number[] {
  return [...new Set(errors.map((e) => e.line))].sort((a, b) => a - b);
}

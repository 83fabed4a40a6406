// A node:test reporter for npm run mutation (see mutation-run.ts): the first failing test ends the
// file's run. Under a mutant one failure is the verdict; the rest of the file is time spent.
export default async function* bail(source: AsyncIterable<{ type: string; data: { name?: string; todo?: unknown; skip?: unknown } }>): AsyncGenerator<string> {
  for await (const ev of source) {
    if (ev.type === 'test:fail' && !ev.data.todo && !ev.data.skip) {
      if (process.env.FAP_MUTATION_VERBOSE) process.stderr.write(`failed: ${ev.data.name}\n`);
      process.exit(1);
    }
  }
  yield '';
}

// npm run docs: regenerate the README's deploy.yml reference from the schema and docs/events.md's
// --json event reference from the FapEvent union.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configReference, withReference } from '../src/config/reference.js';
import { CORE_KEYS } from '../src/config/schema.js';
import { bundledKeys } from '../src/plugin/load.js';
import { eventsReference, withEventsReference } from './events-reference.js';

function update(file: string, what: string, rewrite: (text: string) => string): void {
  const path = join(process.cwd(), file);
  const text = readFileSync(path, 'utf8');
  const next = rewrite(text);
  if (next !== text) {
    writeFileSync(path, next);
    console.log(`${file}: ${what} updated`);
  } else console.log(`${file}: ${what} already up to date`);
}

const keys = configReference(CORE_KEYS, await bundledKeys());
update('README.md', 'deploy.yml reference', (text) => withReference(text, keys));
const events = eventsReference(process.cwd());
update('docs/events.md', '--json event reference', (text) => withEventsReference(text, events));

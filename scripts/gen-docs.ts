// npm run docs: regenerate the README's deploy.yml reference from the schema.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configReference, withReference } from '../src/config/reference.js';
import { CORE_KEYS } from '../src/config/schema.js';
import { bundledKeys } from '../src/plugin/load.js';

const readme = join(process.cwd(), 'README.md');
const text = readFileSync(readme, 'utf8');
const next = withReference(text, configReference(CORE_KEYS, await bundledKeys()));
if (next !== text) {
  writeFileSync(readme, next);
  console.log('README.md: deploy.yml reference updated');
} else console.log('README.md: deploy.yml reference already up to date');

// docs/events.md's --json event reference is generated from the FapEvent union (src/events.ts);
// these fail when they drift apart, when an emitted event is not in it, or when the checker that
// validates real --json streams against the union lets a wrong event through.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { eventsReference, withEventsReference } from '../../scripts/events-reference.js';
import { badLines, eventErrors } from '../events-check.js';
import { ROOT } from '../helpers.js';

test('docs/events.md matches the FapEvent union (run npm run docs after changing src/events.ts)', () => {
  const doc = readFileSync(join(ROOT, 'docs', 'events.md'), 'utf8');
  assert.equal(withEventsReference(doc, eventsReference(ROOT)), doc);
});

test('every event name written in src/ and plugins/ is in the reference', () => {
  const reference = eventsReference(ROOT);
  const files = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? files(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : []));
  const names = new Set<string>();
  for (const f of [...files(join(ROOT, 'src')), ...files(join(ROOT, 'plugins'))]) for (const m of readFileSync(f, 'utf8').matchAll(/\bevent: '([^']+)'/g)) names.add(m[1]);
  assert.ok(names.size >= 15, `found ${names.size} event names`);
  for (const n of names) assert.ok(reference.includes(`\`${n}\``), `${n} is emitted but not in the reference`);
});

test('the stream checker accepts events of the union and names each wrong one', () => {
  const ts = '"ts":"2024-01-01T00:00:00.000Z"';
  const good = [
    `{${ts},"event":"run.started","command":"deploy","stage":"production","hosts":["web1"],"dryRun":false}`,
    `{${ts},"event":"deploy.failed","host":"web1","role":"web"}`,
    `{${ts},"event":"deploy.failed","release":"20240101000000","phase":"prepare"}`,
    `{${ts},"event":"result","ok":true,"command":"run","exitCode":0,"hosts":[{"host":"web1","code":null}]}`,
  ];
  assert.deepEqual(eventErrors(good), []);
  const bad = [
    `{${ts},"event":"run.startd","command":"deploy","stage":"p","hosts":[],"dryRun":false}`, // unknown event
    `{${ts},"event":"warning"}`, // missing field
    `{${ts},"event":"phase.started","phase":"lock","hosts":"2"}`, // wrong type
    `{${ts},"event":"log","host":"h","plugin":"git","message":"m","extra":1}`, // undeclared field
    `{${ts},"event":"result","ok":true,"command":"check","exitCode":0,"hosts":[{"host":"h","checks":[{"name":"x","ok":true,"status":"OK","detail":""}]}]}`, // nested
    `{"event":"warning","message":"no ts"}`,
  ];
  const errors = eventErrors([...good, ...bad]);
  assert.deepEqual(badLines(errors), bad.map((_, i) => good.length + i), errors.map((e) => e.message).join('\n'));
});

// A node:test reporter for npm test (see test.ts): counts the tests that did not run (skipped: no
// root, no sshd, ...) by reason, and writes one summary at the end.
interface TestEvent {
  type: string;
  data: { skip?: string | boolean; details?: { type?: string } };
}

/** The summary of the reasons counted: "N tests did not run:" and one line per reason, most first. */
export function skipSummary(reasons: Map<string, number>, suites: number): string {
  const total = [...reasons.values()].reduce((a, b) => a + b, 0);
  const lines = total ? [`${total} test${total === 1 ? '' : 's'} did not run:`] : ['every test ran'];
  for (const [reason, n] of [...reasons].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))) lines.push(`  ${String(n).padStart(4)}  ${reason}`);
  // a suite skipped by node:test itself (not through test/suite.ts) hides how many tests it has
  if (suites) lines.push(`  and ${suites} skipped suite${suites === 1 ? '' : 's'} whose tests were not counted`);
  return lines.join('\n') + '\n';
}

export default async function* summary(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  const reasons = new Map<string, number>();
  let suites = 0;
  for await (const ev of source) {
    if (ev.type !== 'test:pass' && ev.type !== 'test:fail') continue;
    const { skip, details } = ev.data;
    if (!skip) continue;
    if (details?.type === 'suite') {
      suites++;
      continue;
    }
    const reason = typeof skip === 'string' ? skip : 'skipped';
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
  }
  yield skipSummary(reasons, suites);
}

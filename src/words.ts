// Counted nouns for messages: "1 host", "2 hosts", never "2 host(s)".
export function count(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`;
}

/** "N hosts" of a list of host names, each counted once. */
export function hostCount(hosts: readonly string[]): string {
  return count(new Set(hosts).size, 'host');
}

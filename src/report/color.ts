// Whether to colour a stream, as terminal tools agree: --no-color and NO_COLOR turn colour off,
// FORCE_COLOR turns it on where the stream is not a terminal (CI logs that render ANSI), and
// otherwise a terminal gets colour and a pipe does not.
export function colorFor(stream: { isTTY?: boolean }, flag: boolean | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  if (flag === false) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force !== 'false';
  return !!stream.isTTY;
}

const CODES = { red: 31, green: 32, yellow: 33, dim: 2 } as const;

/** `text` in a colour when `on`; callers pad first, so columns line up either way. */
export function paint(on: boolean, colour: keyof typeof CODES, text: string): string {
  return on ? `\u001b[${CODES[colour]}m${text}\u001b[0m` : text;
}

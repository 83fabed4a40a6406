// Option keys written like a command line (curl_options, virtualenv_pip_options) are split into
// words here, on the deploying machine, with the shell's quoting rules; each word then reaches the
// host quoted. So such a value can pass any literal text but can never run anything: no host shell
// ever reads it unquoted. What a shell would expand ($VAR, $(...), `...`) or treat as an operator
// (; & | < > ( ), a leading ~) is refused unless it is quoted, rather than silently passed on
// literally. Glob characters and # are literal.

import { WordsError } from '../src/signals.js';

export { WordsError };

const OPERATORS = ';&|<>()';

/** The words of `text`, as sh would split them (quotes and backslashes), or a WordsError. */
export function shellWords(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  const refuse = (what: string): never => {
    throw new WordsError(`${what} is shell syntax, but no shell reads this value (fap splits it into words itself); put it in '...' to pass it literally`);
  };
  while (i < text.length) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new WordsError('a quote (\') is not closed');
      word += text.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      i++;
      for (;;) {
        if (i >= text.length) throw new WordsError('a quote (") is not closed');
        const d = text[i];
        if (d === '"') break;
        if (d === '\\' && i + 1 < text.length && '$`"\\\n'.includes(text[i + 1])) {
          if (text[i + 1] !== '\n') word += text[i + 1];
          i += 2;
          continue;
        }
        if (d === '$' || d === '`') refuse(`"${d}"`);
        word += d;
        i++;
      }
      inWord = true;
      i++;
    } else if (c === '\\') {
      if (i + 1 < text.length && text[i + 1] !== '\n') {
        word += text[i + 1];
        inWord = true;
      }
      i += 2;
    } else if (c === '$' || c === '`' || OPERATORS.includes(c) || (c === '~' && !inWord)) {
      refuse(`"${c}"`);
    } else {
      word += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}

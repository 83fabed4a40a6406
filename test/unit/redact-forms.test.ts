// src/redact.ts on literal cases, each with the exact text expected: which values register as
// secrets, the forms a secret is searched for in, how occurrences are masked (overlapping ones as
// one ***), JSON-like values, a stream cut into chunks, and URL userinfo. redact.test.ts checks the
// same through every output channel generatively.
import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import { addSecret, addUrlSecrets, clearSecrets, LineMasker, MASK, redact, redactDeep, SECRET_NAME, secretForms } from '../../src/redact.js';

beforeEach(() => clearSecrets());

/** Everything a LineMasker writes, chunk by chunk. */
function stream(chunks: string[], prefix?: string, bound?: number): string[] {
  const out: string[] = [];
  const m = new LineMasker((t) => out.push(t), prefix, bound);
  for (const c of chunks) m.write(c);
  m.end();
  return out;
}

describe('addSecret and redact', () => {
  test('the mask is ***', () => {
    assert.equal(MASK, '***');
  });

  test('no secrets: text and values come back as they are', () => {
    assert.equal(redact('hunter2'), 'hunter2');
    const v = { a: ['hunter2'] };
    assert.equal(redactDeep(v), v);
  });

  test('values of three characters or more, strings or numbers; anything else is ignored', () => {
    addSecret('ab');
    addSecret(12);
    addSecret(null);
    addSecret({ toString: () => 'object' });
    addSecret(true);
    assert.equal(redact('ab 12 object true'), 'ab 12 object true');
    addSecret('abc');
    addSecret(1234);
    assert.equal(redact('abc 1234 ab'), '*** *** ab');
    addSecret('abc'); // twice is once
    assert.equal(redact('xabcx'), 'x***x');
  });

  test('a value too short to be a secret is not registered: values stay the very same objects', () => {
    addSecret('ab');
    const v = { a: ['x'] };
    assert.equal(redactDeep(v), v);
  });

  test('occurrences of a shorter secret before a longer one are each masked', () => {
    addSecret('aaaa');
    addSecret('bbb');
    assert.equal(redact('bbb aaaa bbb'), '*** *** ***');
  });

  test('every occurrence, and overlapping or adjacent ones as one ***', () => {
    addSecret('aaa');
    assert.equal(redact('aaaa-aaa-aa'), '***-***-aa');
    addSecret('xyz');
    assert.equal(redact('aaaxyz aaa'), '*** ***', 'adjacent occurrences merge');
    addSecret('abcdef');
    addSecret('defghi');
    assert.equal(redact('>abcdefghi<'), '>***<');
    assert.equal(redact(''), '');
  });

  test('a secret registered after a first redact is found too', () => {
    addSecret('first');
    assert.equal(redact('first second'), '*** second');
    addSecret('second');
    assert.equal(redact('first second'), '*** ***');
  });

  test('clearSecrets forgets them', () => {
    addSecret('hunter2');
    clearSecrets();
    assert.equal(redact('hunter2'), 'hunter2');
  });
});

describe('secretForms', () => {
  test('a plain word has one form', () => {
    assert.deepEqual(secretForms('hunter2'), ['hunter2']);
  });

  test('quotes, $ and spaces: shell-quoted once and nested, double-quoted, JSON and URL forms', () => {
    assert.deepEqual(secretForms(`it's $x`), [
      `it's $x`,
      `it'\\''s $x`,
      `it'\\\\''s $x`,
      `it'\\''\\'\\'''\\''s $x`,
      `it'\\\\''\\\\'\\\\'''\\\\''s $x`,
      `it's \\$x`,
      `it's \\\\$x`,
      "it's%20%24x",
      "it's%20$x",
      'it%27s+%24x',
    ]);
  });

  test('lines of a multi-line secret, trimmed too, but none shorter than three characters', () => {
    assert.deepEqual(secretForms('line one\n  two  \r\nab\rlast'), [
      'line one\n  two  \r\nab\rlast',
      'line one\\n  two  \\r\\nab\\rlast',
      'line one',
      '  two  ',
      'last',
      'two',
      'line%20one%0A%20%20two%20%20%0D%0Aab%0Dlast',
      'line%20one%0A%20%20two%20%20%0D%0Aab%0Dlast'.replace(/%20/g, '%20'),
      'line+one%0A++two++%0D%0Aab%0Dlast',
      // %-encoding with lower-case hex digits, as some tools write it
      'line%20one%0a%20%20two%20%20%0d%0aab%0dlast',
    ].filter((v, i, a) => a.indexOf(v) === i));
  });

  test('JSON forms of control characters and backslashes', () => {
    assert.deepEqual(secretForms('a\tb\\c"'), ['a\tb\\c"', 'a\\tb\\\\c\\"', 'a\tb\\\\c\\"', 'a\\tb\\\\\\\\c\\\\\\"', 'a%09b%5Cc%22', 'a%09b%5Cc%22', 'a%09b%5Cc%22', 'a%09b%5cc%22']
      .filter((v, i, a) => a.indexOf(v) === i));
  });

  test('a lone surrogate: no error; only the query-string form can write it (as U+FFFD)', () => {
    assert.deepEqual(secretForms('ab\uD800'), ['ab\uD800', 'ab\\ud800', 'ab%EF%BF%BD']);
  });

  test('redact finds the forms: a quoted .env line, JSON, a URL', () => {
    addSecret(`p@ss w'rd`);
    assert.equal(redact(`printf '%s' 'KEY='\\''p@ss w'\\''\\'\\'''\\''rd'\\'''`), `printf '%s' 'KEY='\\''***'\\'''`);
    assert.equal(redact(JSON.stringify({ v: `p@ss w'rd` })), '{"v":"***"}');
    assert.equal(redact('https://x/?q=p%40ss%20w\'rd'), 'https://x/?q=***');
  });
});

describe('redactDeep', () => {
  test('strings, arrays, plain objects and their keys; other values and class instances as they are', () => {
    addSecret('hunter2');
    const date = new Date(0);
    const bare = Object.create(null) as Record<string, string>;
    bare.k = 'hunter2';
    const out = redactDeep({ s: 'pw=hunter2', n: 5, b: true, nil: null, list: ['hunter2', ['x hunter2']], hunter2: 'key', date, bare, map: new Map([['hunter2', 1]]) });
    assert.deepEqual(out, { s: 'pw=***', n: 5, b: true, nil: null, list: ['***', ['x ***']], '***': 'key', date, bare: { k: '***' }, map: new Map([['hunter2', 1]]) });
    assert.equal(out.date, date, 'not copied');
    assert.equal(redactDeep('hunter2'), '***');
    assert.equal(redactDeep(undefined), undefined);
  });
});

describe('LineMasker', () => {
  test('no secret: each whole line goes out as it comes, the rest at end()', () => {
    assert.deepEqual(stream(['one\ntw', 'o\nthr', 'ee']), ['one\n', 'two\n', 'three']);
    assert.deepEqual(stream(['']), []);
  });

  test('a secret split across chunks is masked whole', () => {
    addSecret('hunter2');
    assert.deepEqual(stream(['pw=hun', 'ter2 ok\n', 'next\n']), ['pw=*** ok\n', 'next\n']);
  });

  test('a line ending in the start of a secret waits for the next chunk; a line of a secret is one alone too', () => {
    addSecret('-----BEGIN\nKEY-----');
    assert.deepEqual(stream(['a\n-----BEGIN\n', 'KEY----- b\n']), ['a\n', '*** b\n']);
    assert.deepEqual(stream(['a\n-----BEGIN\n', 'other\n']), ['a\n', '***\nother\n']);
  });

  test('with a prefix: whole lines, each prefixed, the prefix masked too', () => {
    addSecret('hunter2');
    assert.deepEqual(stream(['x hunt', 'er2\ny\nz'], '[hunter2] '), ['[***] x ***\n[***] y\n', '[***] z\n']);
  });

  test('a line as long as the bound still waits for its newline; one longer goes out at once', () => {
    const out: string[] = [];
    const m = new LineMasker((t) => out.push(t), '', 4);
    m.write('abcd');
    assert.deepEqual(out, []);
    m.write('e');
    assert.deepEqual(out, ['abcde']);
  });

  test('with a prefix, a whole line that ends in the start of a secret waits whole', () => {
    addSecret('abc\ndef');
    const out: string[] = [];
    const m = new LineMasker((t) => out.push(t), '> ');
    m.write('x abc\n');
    assert.deepEqual(out, []);
    m.write('def y\n');
    assert.deepEqual(out, ['> x *** y\n']);
  });

  test('a line longer than the bound goes out in pieces, never cutting a secret', () => {
    addSecret('hunter2');
    assert.deepEqual(stream(['abcdefhunter2xyz'], '', 4), ['abcdef***xyz']);
    // the h that ends the first chunk could start hunter2: it waits
    assert.deepEqual(stream(['abcdefgh', 'ijkl'], '', 4), ['abcdefg', 'hijkl']);
    assert.deepEqual(stream(['abcdefgh', 'ijkl'], '> ', 4), ['> abcdefg\n', '> hijkl\n']);
    assert.deepEqual(stream(['abcdefgx', 'ijkl'], '', 4), ['abcdefgx', 'ijkl']);
    assert.deepEqual(stream(['abcdefhun', 'ter2'], '', 4), ['abcdef', '***']);
  });

  test('a surrogate pair is never split', () => {
    assert.deepEqual(stream(['abcde\uD83D', '\uDE80'], '', 2), ['abcde', '\uD83D\uDE80']);
  });
});

describe('addUrlSecrets', () => {
  test('user:password of any URL: both, raw and decoded', () => {
    addUrlSecrets('https://bob:s%40cret@example.com/repo.git');
    assert.equal(redact('bob:s%40cret s@cret s%40cret bob'), '*** *** *** bob');
  });

  test('the password runs to the last @ before the host', () => {
    addUrlSecrets('ssh://git:p@ss@example.com/x');
    assert.equal(redact('p@ss git:p@ss git'), '*** *** git');
  });

  test('a user part alone is a token over http(s), a login name otherwise; no userinfo, nothing', () => {
    addUrlSecrets('HTTPS://ghp_token123@github.com/x');
    addUrlSecrets('http://tok2@example.com/');
    addUrlSecrets('ssh://git@github.com/x');
    addUrlSecrets('https://example.com/a@b');
    addUrlSecrets('not a url://user:pw1@x');
    assert.equal(redact('ghp_token123 tok2 git example.com a@b pw1'), '*** *** git example.com a@b pw1');
  });

  test('an empty user before the colon: the password is still secret', () => {
    addUrlSecrets('ssh://:secretpw@example.com/x');
    assert.equal(redact('secretpw'), '***');
  });

  test('a password that is not %-encoding is taken as it is', () => {
    addUrlSecrets('https://u:100%zz@example.com');
    assert.equal(redact('100%zz u:100%zz'), '*** ***');
  });
});

describe('SECRET_NAME', () => {
  test('names that hold secrets, in any case', () => {
    for (const n of ['DB_PASSWORD', 'passwd', 'ssh_passphrase', 'SECRET_KEY_BASE', 'api_token', 'KEY', 'aws_credentials']) assert.match(n, SECRET_NAME, n);
    for (const n of ['USER', 'HOST', 'PORT', 'DEBUG', 'pass']) assert.doesNotMatch(n, SECRET_NAME, n);
  });
});

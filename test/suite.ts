// describe, test and hooks as in node:test, except for a suite skipped with a reason (no root, no
// sshd): node:test would skip it without running its body, so its tests would not be counted at
// all. Here the body runs to register each test as skipped with the suite's reason, and its hooks
// (which would start a fleet) do not run. npm test then says how many tests did not run and why.
import * as nodeTest from 'node:test';

type Fn = (...args: never[]) => unknown;
type Options = nodeTest.TestOptions;

/** The reason of the skipped suite whose body is registering tests, if any. */
let skipping: string | undefined;

function split(options: Options | Fn | undefined, fn: Fn | undefined): [Options, Fn | undefined] {
  return typeof options === 'function' ? [{}, options] : [options ?? {}, fn];
}

export function describe(name: string, options?: Options | Fn, fn?: Fn): void {
  const [opts, body] = split(options, fn);
  const reason = skipping ?? (opts.skip ? (typeof opts.skip === 'string' ? opts.skip : 'skipped') : undefined);
  if (reason === undefined || !body) {
    void nodeTest.describe(name, opts, body as never);
    return;
  }
  void nodeTest.describe(name, { ...opts, skip: false }, () => {
    const outer = skipping;
    skipping = reason;
    try {
      body();
    } finally {
      skipping = outer;
    }
  });
}

export function test(name: string, options?: Options | Fn, fn?: Fn): void {
  const [opts, body] = split(options, fn);
  void (skipping === undefined ? nodeTest.test(name, opts, body as never) : nodeTest.test(name, { skip: skipping }, () => {}));
}

const hook =
  (register: (fn: never) => void) =>
  (fn: Fn): void => {
    if (skipping === undefined) register(fn as never);
  };

export const before = hook(nodeTest.before);
export const after = hook(nodeTest.after);
export const beforeEach = hook(nodeTest.beforeEach);
export const afterEach = hook(nodeTest.afterEach);

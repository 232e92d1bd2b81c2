import { expect } from 'vitest';
import { ConfigError, parseConfig, type ParseOptions } from '../../../src/config/index.js';

export const FILE = '/etc/gatehouse/gh.yaml';

/** The minimal valid body after a `general` section, for tests that only care about general keys. */
export const ONE_POOL = `pools:
  app:
    users:
      - username: app
        password: app-secret
`;

/** The ConfigError thrown for `text` (fails the test when parsing succeeds). */
export function configErrorOf(text: string, opts: ParseOptions = { checkFiles: false }): ConfigError {
  try {
    parseConfig(text, FILE, opts);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError, but the configuration was accepted');
}

/** Asserts that the message has a line `<FILE>: <keyPath>: …problem…`, and returns that line. */
export function expectProblem(error: ConfigError, keyPath: string, problem: string | RegExp): string {
  const prefix = `${FILE}: ${keyPath}: `;
  const line = error.message.split('\n').find((l) => l.startsWith(prefix) && (typeof problem === 'string' ? l.includes(problem) : problem.test(l)));
  expect(line, `no line "${prefix}… ${String(problem)}" in:\n${error.message}`).toBeDefined();
  expect(error.file).toBe(FILE);
  expect(error.problems.some((p) => p.keyPath === keyPath)).toBe(true);
  return line as string;
}

import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseConfig, type Config } from '../../../src/config/index.js';
import { configErrorOf, expectProblem, FILE, ONE_POOL } from './expect-problems.js';
import { tempDir, type TempDir } from './pem-helper.js';

const parse = (text: string): Config => parseConfig(text, FILE, { checkFiles: false });
const withGeneral = (general: string) => `general:\n${general.replace(/^/gm, '  ')}\n${ONE_POOL}`;

describe('journal_size', () => {
  test('keeps the journals of 1000 ended connections by default', () => {
    expect(parse(ONE_POOL).general.journal_size).toBe(1000);
  });

  test.each([[0], [1], [250_000]])('accepts %d', (size) => {
    expect(parse(withGeneral(`journal_size: ${size}`)).general.journal_size).toBe(size);
  });

  test.each([['-1', '-1'], ['1.5', '1.5'], ['many', '"many"'], ['"100"', '"100"']])('refuses %s', (value, shown) => {
    const line = expectProblem(configErrorOf(withGeneral(`journal_size: ${value}`)), 'general.journal_size', 'expected a non-negative integer');
    expect(line).toBe(`${FILE}: general.journal_size: expected a non-negative integer (got ${shown})`);
  });
});

describe('journal_file', () => {
  let dir: TempDir;
  beforeAll(() => {
    dir = tempDir();
    dir.write('logs/existing.jsonl', '');
    dir.write('plain-file', 'not a directory');
    mkdirSync(dir.path('logs/a-directory.jsonl'));
    mkdirSync(dir.path('locked'));
    chmodSync(dir.path('locked'), 0o555);
  });
  afterAll(() => dir.remove());

  const check = (text: string) => configErrorOf(text, { checkFiles: true });
  const checked = (journalFile: string) => parseConfig(withGeneral(`journal_file: ${journalFile}`), dir.path('gh.yaml'), { checkFiles: true });

  test('is null (no journal file) by default', () => {
    expect(parse(ONE_POOL).general.journal_file).toBeNull();
  });

  test('resolves a relative path against the configuration file\'s directory, or baseDir, and keeps an absolute one', () => {
    const opts = { checkFiles: false };
    expect(parseConfig(withGeneral('journal_file: log/journal.jsonl'), '/srv/gh/gh.yaml', opts).general.journal_file).toBe('/srv/gh/log/journal.jsonl');
    expect(parseConfig(withGeneral('journal_file: ../journal.jsonl'), 'inline', { ...opts, baseDir: '/opt/base' }).general.journal_file).toBe('/opt/journal.jsonl');
    expect(parse(withGeneral('journal_file: /var/log/gh.jsonl')).general.journal_file).toBe('/var/log/gh.jsonl');
  });

  test('accepts a new file in a writable directory without creating it', () => {
    expect(checked('logs/new.jsonl').general.journal_file).toBe(dir.path('logs/new.jsonl'));
    expect(existsSync(dir.path('logs/new.jsonl'))).toBe(false);
  });

  test('accepts an existing writable file', () => {
    expect(checked(dir.path('logs/existing.jsonl')).general.journal_file).toBe(dir.path('logs/existing.jsonl'));
  });

  test('refuses a file in a directory that does not exist', () => {
    const file = dir.path('missing/journal.jsonl');
    const line = expectProblem(check(withGeneral(`journal_file: ${file}`)), 'general.journal_file', 'cannot write');
    expect(line).toBe(`${FILE}: general.journal_file: cannot write ${file}: directory ${dir.path('missing')} does not exist`);
  });

  test('refuses a file whose directory is a regular file, or lies below one', () => {
    const file = dir.path('plain-file/journal.jsonl');
    expectProblem(check(withGeneral(`journal_file: ${file}`)), 'general.journal_file', `cannot write ${file}: ${dir.path('plain-file')} is not a directory`);
    const deeper = dir.path('plain-file/sub/journal.jsonl');
    expectProblem(
      check(withGeneral(`journal_file: ${deeper}`)),
      'general.journal_file',
      `cannot write ${deeper}: directory ${dir.path('plain-file/sub')} cannot be reached (part of its path is a file, not a directory)`,
    );
  });

  test('refuses a path that is a directory', () => {
    const file = dir.path('logs/a-directory.jsonl');
    expectProblem(check(withGeneral(`journal_file: ${file}`)), 'general.journal_file', `cannot write ${file}: it is a directory`);
  });

  // Permission bits do not stop root, so this case can only be seen by an ordinary user.
  test.skipIf(process.getuid?.() === 0)('refuses a file in a directory it may not write to', () => {
    const file = dir.path('locked/journal.jsonl');
    expectProblem(check(withGeneral(`journal_file: ${file}`)), 'general.journal_file', `directory ${dir.path('locked')} is not writable (permission denied)`);
  });

  test('leaves the directory unchecked when checkFiles is false', () => {
    expect(parse(withGeneral('journal_file: /nonexistent/dir/journal.jsonl')).general.journal_file).toBe('/nonexistent/dir/journal.jsonl');
  });

  test('refuses an empty path and a value that is not a string', () => {
    expectProblem(configErrorOf(withGeneral('journal_file: ""')), 'general.journal_file', 'must not be empty');
    expectProblem(configErrorOf(withGeneral('journal_file: true')), 'general.journal_file', 'expected a string (got true)');
  });
});

describe('web inspect and viewer', () => {
  test('are off by default, with or without a web section', () => {
    expect(parse(ONE_POOL).web).toMatchObject({ inspect: false, viewer: false });
    expect(parse(`web:\n  enabled: true\n${ONE_POOL}`).web).toMatchObject({ inspect: false, viewer: false });
  });

  test('can be switched on, also under the old section name prometheus', () => {
    expect(parse(`web:\n  enabled: true\n  inspect: true\n  viewer: false\n${ONE_POOL}`).web).toMatchObject({ inspect: true, viewer: false });
    expect(parse(`prometheus:\n  enabled: true\n  viewer: true\n${ONE_POOL}`).web).toMatchObject({ inspect: false, viewer: true });
  });

  test('must be true or false', () => {
    const error = configErrorOf(`web:\n  inspect: "yes"\n  viewer: 1\n${ONE_POOL}`);
    expect(expectProblem(error, 'web.inspect', 'expected true or false')).toBe(`${FILE}: web.inspect: expected true or false (got "yes")`);
    expectProblem(error, 'web.viewer', 'expected true or false (got 1)');
  });
});

// general.unix_socket_dir and unix_socket_mode as PgDoorman writes them, and the mistakes a file can make with them.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { parseConfig, unixSocketPath } from '../../../src/config/index.js';
import { configErrorOf, expectProblem, FILE, ONE_POOL } from './expect-problems.js';

const dir = mkdtempSync(join(tmpdir(), 'gh-sock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('unix_socket_dir and unix_socket_mode', () => {
  test('the socket is <dir>/.s.PGSQL.<port>, the directory relative to the file, mode 0600 unless set', () => {
    const config = parseConfig(`general:\n  port: 6433\n  unix_socket_dir: sock\n${ONE_POOL}`, FILE, { checkFiles: false, baseDir: dir });
    expect(config.general.unix_socket_dir).toBe(join(dir, 'sock'));
    expect(config.general.unix_socket_mode).toBe(0o600);
    expect(unixSocketPath(config.general.unix_socket_dir!, 6433)).toBe(join(dir, 'sock', '.s.PGSQL.6433'));
  });

  test.each([
    ['"0660"', 0o660],
    ['"660"', 0o660],
    ['"0o777"', 0o777],
    ['"0"', 0],
  ])('reads the mode %s as octal', (text, mode) => {
    expect(parseConfig(`general:\n  unix_socket_mode: ${text}\n${ONE_POOL}`, FILE, { checkFiles: false }).general.unix_socket_mode).toBe(mode);
  });

  test.each([
    ['"1777"', 'expected an octal file mode up to "0777", like "0600" (got "1777")'],
    ['"0680"', 'expected an octal file mode up to "0777"'],
    ['rw-rw----', 'expected an octal file mode'],
    ['0600', 'quote it: YAML reads an unquoted 0600 as a decimal number'],
  ])('refuses the mode %s', (text, problem) => {
    expectProblem(configErrorOf(`general:\n  unix_socket_mode: ${text}\n${ONE_POOL}`), 'general.unix_socket_mode', problem);
  });

  test('a directory that does not exist, or is a file, is an error when files are checked', () => {
    writeFileSync(join(dir, 'plain-file'), '');
    expectProblem(configErrorOf(`general:\n  unix_socket_dir: ${join(dir, 'missing')}\n${ONE_POOL}`, { checkFiles: true }), 'general.unix_socket_dir', `${join(dir, 'missing')} does not exist`);
    expectProblem(configErrorOf(`general:\n  unix_socket_dir: ${join(dir, 'plain-file')}\n${ONE_POOL}`, { checkFiles: true }), 'general.unix_socket_dir', 'is not a directory');
  });

  test('a socket path longer than a Unix socket address holds is an error', () => {
    const long = `/tmp/${'d'.repeat(100)}`;
    expectProblem(configErrorOf(`general:\n  unix_socket_dir: ${long}\n${ONE_POOL}`), 'general.unix_socket_dir', 'is longer than the 107 bytes a Unix socket address holds');
  });
});

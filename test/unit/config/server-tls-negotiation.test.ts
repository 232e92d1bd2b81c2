import { describe, expect, test } from 'vitest';
import { parseConfig, type Config } from '../../../src/config/index.js';
import { configErrorOf, expectProblem, FILE } from './expect-problems.js';

const parse = (text: string): Config => parseConfig(text, FILE, { checkFiles: false });
const USERS = '    users: [{ username: a, password: x }]\n';

/** A file with the given general lines and pools `name: lines`. */
function file(general: string, pools: Record<string, string> = { app: '' }): string {
  const body = Object.entries(pools)
    .map(([name, lines]) => `  ${name}:\n${lines === '' ? '' : `${lines.replace(/^/gm, '    ')}\n`}${USERS}`)
    .join('');
  return `${general === '' ? '' : `general:\n${general.replace(/^/gm, '  ')}\n`}pools:\n${body}`;
}

describe('server_tls_negotiation', () => {
  test('defaults to postgres in general and in every pool', () => {
    const config = parse(file(''));
    expect(config.general.server_tls_negotiation).toBe('postgres');
    expect(config.pools.app.server_tls.negotiation).toBe('postgres');
  });

  test('passes general direct negotiation on to pools, which may override it', () => {
    const config = parse(
      file('server_tls_mode: require\nserver_tls_negotiation: direct', {
        inherits: '',
        classic: 'server_tls_negotiation: postgres',
        lenient: 'server_tls_mode: prefer\nserver_tls_negotiation: postgres',
      }),
    );
    expect(config.general.server_tls_negotiation).toBe('direct');
    expect(config.pools.inherits.server_tls).toMatchObject({ mode: 'require', negotiation: 'direct' });
    expect(config.pools.classic.server_tls).toMatchObject({ mode: 'require', negotiation: 'postgres' });
    expect(config.pools.lenient.server_tls).toMatchObject({ mode: 'prefer', negotiation: 'postgres' });
  });

  test.each(['require', 'verify-ca', 'verify-full', 'Verify-Full'])('lets one pool use direct negotiation with server_tls_mode %s', (mode) => {
    const config = parse(file('server_tls_ca_cert: ca.pem', { app: `server_tls_mode: ${mode}\nserver_tls_negotiation: direct`, other: '' }));
    expect(config.pools.app.server_tls).toMatchObject({ mode: mode.toLowerCase(), negotiation: 'direct' });
    expect(config.pools.other.server_tls).toMatchObject({ mode: 'allow', negotiation: 'postgres' });
  });

  test('refuses direct in general with a server_tls_mode that may fall back to plaintext', () => {
    expect(configErrorOf(file('server_tls_negotiation: direct')).message).toBe(
      `${FILE}: general.server_tls_negotiation: direct requires server_tls_mode require, verify-ca or verify-full (general.server_tls_mode is allow, the default)`,
    );
    expectProblem(configErrorOf(file('server_tls_mode: PREFER\nserver_tls_negotiation: direct')), 'general.server_tls_negotiation', '(general.server_tls_mode is prefer)');
  });

  test('reports a general mismatch once, not again for each pool that inherits it', () => {
    const error = configErrorOf(file('server_tls_mode: disable\nserver_tls_negotiation: direct', { a: '', b: '' }));
    expect(error.problems).toEqual([
      { keyPath: 'general.server_tls_negotiation', problem: 'direct requires server_tls_mode require, verify-ca or verify-full (general.server_tls_mode is disable)' },
    ]);
  });

  test('refuses direct in a pool whose effective mode, its own or inherited, is not a TLS-only one', () => {
    const error = configErrorOf(
      file('server_tls_mode: prefer', {
        inherits: 'server_tls_negotiation: direct',
        own: 'server_tls_mode: allow\nserver_tls_negotiation: direct',
      }),
    );
    const inherits = expectProblem(error, 'pools.inherits.server_tls_negotiation', 'direct requires');
    expect(inherits).toBe(`${FILE}: pools.inherits.server_tls_negotiation: direct requires server_tls_mode require, verify-ca or verify-full (general.server_tls_mode is prefer)`);
    expectProblem(error, 'pools.own.server_tls_negotiation', '(pools.own.server_tls_mode is allow)');
  });

  test('refuses a pool mode that cannot work with direct negotiation inherited from general', () => {
    const error = configErrorOf(file('server_tls_mode: require\nserver_tls_negotiation: direct', { app: 'server_tls_mode: prefer' }));
    expect(error.message).toBe(
      `${FILE}: pools.app.server_tls_mode: prefer cannot be used with direct TLS negotiation (general.server_tls_negotiation is direct): ` +
        'use require, verify-ca or verify-full, or set pools.app.server_tls_negotiation to postgres',
    );
  });

  test('refuses values other than postgres and direct, in general and per pool', () => {
    const error = configErrorOf(file('server_tls_negotiation: tls', { app: 'server_tls_negotiation: Direct' }));
    expectProblem(error, 'general.server_tls_negotiation', 'must be one of postgres, direct (got "tls")');
    expectProblem(error, 'pools.app.server_tls_negotiation', 'must be one of postgres, direct (got "Direct") (names are case-sensitive)');
  });
});

// check-config's compatibility report: every PgDoorman key gatehouse accepts without effect is listed with a
// reason, and the keys issue 10 implemented (pg_hba, hba, auth_query, unix_socket_dir/mode) are no longer among them.
import { describe, expect, test } from 'vitest';
import { compatibilityReport, configWarnings, ignoredKeyReason, parseConfig } from '../../../src/config/index.js';
import {
  IGNORED_AUTH_QUERY_KEYS,
  IGNORED_GENERAL_KEYS,
  IGNORED_POOL_KEYS,
  IGNORED_ROOT_KEYS,
  IGNORED_USER_KEYS,
  IGNORED_WEB_KEYS,
} from '../../../src/config/pgdoorman-keys.js';
import { FILE } from './expect-problems.js';

describe('the compatibility report', () => {
  test('every accepted-but-ignored PgDoorman key has a reason of its own', () => {
    const paths = [
      ...IGNORED_ROOT_KEYS,
      ...IGNORED_GENERAL_KEYS.map((k) => `general.${k}`),
      ...IGNORED_WEB_KEYS.map((k) => `web.${k}`),
      ...IGNORED_POOL_KEYS.map((k) => `pools.app.${k}`),
      ...IGNORED_USER_KEYS.map((k) => `pools.app.users[0].${k}`),
      ...IGNORED_AUTH_QUERY_KEYS.map((k) => `pools.app.auth_query.${k}`),
    ];
    const generic = paths.filter((p) => ignoredKeyReason(p) === 'gatehouse does not implement it');
    expect(generic).toEqual([]);
  });

  test('the keys this issue implemented are neither ignored nor refused any more', () => {
    const all = [...IGNORED_GENERAL_KEYS, ...IGNORED_POOL_KEYS];
    for (const key of ['pg_hba', 'hba', 'unix_socket_dir', 'unix_socket_mode', 'auth_query']) expect(all).not.toContain(key);
    const config = parseConfig(
      `general:
  unix_socket_dir: /tmp
  unix_socket_mode: "0660"
  pg_hba: "local all all trust"
pools:
  app:
    auth_query: { query: q, user: u }
`,
      FILE,
      { checkFiles: false },
    );
    expect(config.ignoredKeys).toEqual([]);
    expect(compatibilityReport(config)).toEqual([]);
  });

  test('lists the keys in file order with why, and warnings at run time say the same', () => {
    const config = parseConfig(
      `general:
  admin_username: admin
  admin_password: s3cret
  tcp_keepalives_idle: 5
pools:
  app:
    idle_timeout: 1000
    users:
      - { username: a, password: x, server_lifetime: 5 }
`,
      FILE,
      { checkFiles: false },
    );
    const report = compatibilityReport(config);
    expect(report).toEqual([
      `PgDoorman settings in ${FILE} that gatehouse accepts without effect (3):`,
      "  general.tcp_keepalives_idle: socket options are the operating system's defaults (Nagle is off on every gatehouse socket)",
      '  pools.app.idle_timeout: gatehouse takes it from general only (general.idle_timeout; a per-pool value is not supported)',
      '  pools.app.users[0].server_lifetime: gatehouse takes it from general only (general.server_lifetime; a per-user value is not supported)',
    ]);
    expect(report.join('\n')).not.toContain('s3cret');
    expect(configWarnings(config)).toHaveLength(3);
    expect(configWarnings(config, { ignoredKeys: false })).toEqual([]);
  });
});

import { formatProblem } from './errors.js';
import { formatKeyPath } from './key-path.js';
import { ignoredKeyReason } from './pgdoorman-keys.js';
import type { HbaRuleSet } from './hba.js';
import type { Config } from './types.js';

const WELL_KNOWN_ADMIN_PASSWORDS = ['admin', 'change_me'];

/**
 * Things in a valid configuration that an operator should hear about at startup: PgDoorman settings that
 * gatehouse ignores, TLS files that the chosen mode leaves unused, and cipher settings for a TLS version that the
 * version range turns off. One line each, same form as errors.
 */
export function configWarnings(config: Config, opts: { ignoredKeys?: boolean } = {}): string[] {
  const warnings: Array<{ keyPath: string; problem: string }> = [];
  if (opts.ignoredKeys ?? true) {
    for (const keyPath of config.ignoredKeys ?? []) {
      warnings.push({ keyPath, problem: `PgDoorman setting accepted but ignored by gatehouse: ${ignoredKeyReason(keyPath)}` });
    }
  }
  const g = config.general;
  if (g.tls_mode === 'disable') {
    for (const key of ['tls_certificate', 'tls_private_key'] as const) {
      if (g[key] !== null) warnings.push({ keyPath: `general.${key}`, problem: 'ignored because general.tls_mode is disable' });
    }
  }
  const certRules = g.pg_hba?.rules.some((rule) => rule.method === 'cert') ?? false;
  if (g.tls_ca_cert !== null && g.tls_mode !== 'verify-full' && !certRules) {
    warnings.push({ keyPath: 'general.tls_ca_cert', problem: `ignored because general.tls_mode is ${g.tls_mode} (client certificates are checked only in verify-full, or for pg_hba cert rules)` });
  }
  if (g.tls_ciphers !== null && g.tls_min_version === 'TLSv1.3') {
    warnings.push({ keyPath: 'general.tls_ciphers', problem: 'ignored because general.tls_min_version is TLSv1.3 (tls_ciphers applies to TLS 1.2 only)' });
  }
  if (g.tls13_ciphersuites !== null && g.tls_max_version === 'TLSv1.2') {
    warnings.push({ keyPath: 'general.tls13_ciphersuites', problem: 'ignored because general.tls_max_version is TLSv1.2' });
  }
  if (g.pg_hba) warnings.push(...hbaRuleWarnings(config, g.pg_hba));
  // PgDoorman's README and generated configs ship these: anyone who read them can log in to the console.
  if (g.admin_password !== null && WELL_KNOWN_ADMIN_PASSWORDS.includes(g.admin_password)) {
    warnings.push({ keyPath: 'general.admin_password', problem: 'is an example password from PgDoorman\'s documentation: anyone who read it can use the admin console; set your own' });
  }
  for (const pool of Object.values(config.pools)) {
    // As PgDoorman warns: a client gives up waiting before it could take a reserve connection.
    if (pool.reserve_pool_size > 0 && pool.reserve_pool_timeout > 0 && pool.reserve_pool_timeout >= g.query_wait_timeout) {
      warnings.push({
        keyPath: formatKeyPath(['pools', pool.name, 'reserve_pool_timeout']),
        problem: `${pool.reserve_pool_timeout}ms is not below general.query_wait_timeout (${g.query_wait_timeout}ms): clients give up waiting before the reserve is used`,
      });
    }
    pool.users.forEach((user, i) => {
      if (user.server_auth !== 'none') return;
      warnings.push({
        keyPath: formatKeyPath(['pools', pool.name, 'users', i, 'server_password']),
        problem:
          `not set, and the password cannot log in as server_username ${JSON.stringify(user.server_username)} (passthrough works only as the user itself): ` +
          'gatehouse logs in to PostgreSQL without a password, which works only where PostgreSQL trusts it',
      });
    });
  }
  return warnings.map((w) => formatProblem(config.file, w));
}

/** Where a pg_hba rule is, as a key path and a prefix for the problem (the file for { path } rules). */
function hbaPlace(source: string): { keyPath: string; prefix: string } {
  if (source === 'general.pg_hba' || source === 'general.pg_hba.content' || source === 'general.hba') return { keyPath: source, prefix: '' };
  return { keyPath: 'general.pg_hba.path', prefix: `${source}: ` };
}

/** The pg_hba rules of `set` that can never match with the rest of `config`. */
function hbaRuleWarnings(config: Config, set: HbaRuleSet): Array<{ keyPath: string; problem: string }> {
  const g = config.general;
  const { keyPath, prefix } = hbaPlace(set.source);
  const tlsOff = g.tls_mode === 'disable' ? 'general.tls_mode is disable' : g.tls_certificate === null ? 'no general.tls_certificate' : null;
  const plainRefused = g.tls_mode === 'require' || g.tls_mode === 'verify-full';
  const out: Array<{ keyPath: string; problem: string }> = [];
  for (const rule of set.rules) {
    if (rule.type === 'hostssl' && tlsOff) {
      out.push({ keyPath, problem: `${prefix}line ${rule.line}: hostssl never matches: TLS is not offered to clients (${tlsOff})` });
    }
    if (rule.type === 'local' && g.unix_socket_dir === null && set.source !== 'general.hba') {
      out.push({ keyPath, problem: `${prefix}line ${rule.line}: local never matches: no Unix socket is configured (general.unix_socket_dir)` });
    }
    if (rule.type === 'hostnossl' && plainRefused) {
      out.push({ keyPath, problem: `${prefix}line ${rule.line}: hostnossl never matches: general.tls_mode ${g.tls_mode} refuses plain TCP clients before pg_hba is read` });
    }
  }
  return out;
}

/**
 * check-config's compatibility report: the PgDoorman keys in the file that gatehouse accepts without effect, one
 * line each with why, after a heading that counts them; nothing when there are none.
 */
export function compatibilityReport(config: Config): string[] {
  const keys = config.ignoredKeys ?? [];
  if (keys.length === 0) return [];
  return [
    `PgDoorman settings in ${config.file} that gatehouse accepts without effect (${keys.length}):`,
    ...keys.map((keyPath) => `  ${keyPath}: ${ignoredKeyReason(keyPath)}`),
  ];
}

// pg_hba as a reload (SIGHUP, RELOAD) reads the file again: the new pg_hba rules: each form (inline string, { content }, the { path } file,
// the legacy general.hba list), no rules when the keys are gone, and errors that name the file, the key and the
// rules' line, so the caller can keep its previous rules. Only pg_hba is read again.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ConfigError, parseConfig, type Config } from '../../../src/config/index.js';

const POOL = 'pools:\n  app:\n    users: [{ username: app, password: app-secret }]\n';

/** What Gateway.reload() parses: the whole file again, TLS files loaded separately. */
const reloadHba = (config: Config) => parseConfig(readFileSync(config.file, 'utf8'), config.file, { baseDir: config.baseDir, checkFiles: false }).general.pg_hba;

describe('pg_hba on reload', () => {
  let dir: string;
  let configFile: string;
  let rulesFile: string;

  /** A config as gatehouse started with it: `general` lines, and the file on disk. */
  const started = (general: string): Config => {
    const text = `general:\n${general}\n${POOL}`;
    writeFileSync(configFile, text);
    return parseConfig(text, configFile, { checkFiles: false });
  };
  const rewrite = (general: string) => writeFileSync(configFile, `general:\n${general}\n${POOL}`);
  const summary = (config: Config) => {
    const set = reloadHba(config);
    return set && { source: set.source, rules: set.rules.map((r) => `${r.line}: ${r.text}`) };
  };
  const problemOf = (config: Config): string => {
    try {
      reloadHba(config);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).message;
    }
    throw new Error('expected the reload to fail');
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-hba-reload-'));
    configFile = join(dir, 'gatehouse.yaml');
    rulesFile = join(dir, 'pg_hba.conf');
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('reads the { path } file again (relative to the configuration file)', () => {
    writeFileSync(rulesFile, 'host all all 0.0.0.0/0 trust\n');
    const config = started('  pg_hba: { path: pg_hba.conf }');
    writeFileSync(rulesFile, '# now\nhost all all 0.0.0.0/0 reject\n');
    expect(summary(config)).toEqual({ source: rulesFile, rules: ['2: host all all 0.0.0.0/0 reject'] });
  });

  test('reads inline rules, { content } and the legacy general.hba list from the configuration file again', () => {
    const config = started('  pg_hba: "host all all 0.0.0.0/0 trust"');
    rewrite('  pg_hba: "host all all 10.0.0.0/8 md5"');
    expect(summary(config)).toEqual({ source: 'general.pg_hba', rules: ['1: host all all 10.0.0.0/8 md5'] });
    rewrite('  pg_hba:\n    content: |\n      local all all trust\n      host all all 0.0.0.0/0 scram-sha-256');
    expect(summary(config)).toEqual({ source: 'general.pg_hba.content', rules: ['1: local all all trust', '2: host all all 0.0.0.0/0 scram-sha-256'] });
    rewrite('  hba: [10.1.0.0/16]');
    expect(summary(config)).toEqual({ source: 'general.hba', rules: ['0: local all all md5', '1: host all all 10.1.0.0/16 md5'] });
  });

  test('no rules once the keys are gone from the file (or general.hba is an empty list)', () => {
    const config = started('  pg_hba: "host all all 0.0.0.0/0 reject"');
    rewrite('  port: 6432');
    expect(reloadHba(config)).toBeNull();
    rewrite('  hba: []');
    expect(reloadHba(config)).toBeNull();
  });

  test('a bad rule is an error naming the configuration file, the key, the rules file and the line', () => {
    writeFileSync(rulesFile, 'host all all 0.0.0.0/0 trust\n');
    const config = started('  pg_hba: { path: pg_hba.conf }');
    writeFileSync(rulesFile, '# broken\nhost all all 0.0.0.0/0 trusty\n');
    expect(problemOf(config)).toBe(`${configFile}: general.pg_hba.path: ${rulesFile}: line 2: invalid authentication method "trusty"`);
    rewrite('  pg_hba: "host all all 0.0.0.0/0 md5\\nhost all all 10.0.0.1 md5"');
    expect(problemOf(config)).toBe(`${configFile}: general.pg_hba: line 2: the address "10.0.0.1" needs a CIDR mask (10.0.0.1/32) or a netmask field`);
  });

  test('a missing rules file, broken YAML and both keys at once are errors too', () => {
    writeFileSync(rulesFile, 'host all all 0.0.0.0/0 trust\n');
    const config = started('  pg_hba: { path: pg_hba.conf }');
    rmSync(rulesFile);
    expect(problemOf(config)).toBe(`${configFile}: general.pg_hba.path: cannot read ${rulesFile}: no such file`);
    rewrite('  pg_hba: [unclosed');
    expect(problemOf(config)).toMatch(new RegExp(`^${configFile}: line \\d+, column \\d+: invalid YAML`));
    rewrite('  pg_hba: "host all all 0.0.0.0/0 trust"\n  hba: [10.0.0.0/8]');
    expect(problemOf(config)).toContain('general.hba: cannot be used together with general.pg_hba');
  });

  test('cert rules are checked against the TLS settings of the file read again, which the reload applies with them', () => {
    const config = started('  pg_hba: "host all all 0.0.0.0/0 md5"');
    rewrite('  pg_hba: "hostssl all all 0.0.0.0/0 cert"');
    expect(problemOf(config)).toContain("general.tls_certificate: required when pg_hba uses cert (line 1)");
    rewrite('  tls_mode: allow\n  tls_certificate: s.crt\n  tls_private_key: s.key\n  tls_ca_cert: ca.crt\n  pg_hba: "hostssl all all 0.0.0.0/0 cert"');
    expect(summary(config)).toEqual({ source: 'general.pg_hba', rules: ['1: hostssl all all 0.0.0.0/0 cert'] });
  });
});

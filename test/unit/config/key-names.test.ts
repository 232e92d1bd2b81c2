import { describe, expect, test } from 'vitest';
import { configWarnings, parseConfig } from '../../../src/config/index.js';
import { configErrorOf, expectProblem, FILE, ONE_POOL } from './expect-problems.js';

const withGeneral = (general: string) => `general:\n${general.replace(/^/gm, '  ')}\n${ONE_POOL}`;

describe('gatehouse\'s own TLS, journal and web keys', () => {
  test('are honoured, not listed among the PgDoorman keys that are ignored', () => {
    const config = parseConfig(
      `general:
  tls_mode: verify-full
  tls_certificate: s.crt
  tls_private_key: s.key
  tls_ca_cert: ca.pem
  tls_min_version: TLSv1.2
  tls_max_version: TLSv1.2
  tls_ciphers: ECDHE-RSA-AES128-GCM-SHA256
  tls13_ciphersuites: TLS_AES_256_GCM_SHA384
  tls_client_cert_identity: cn
  server_tls_mode: require
  server_tls_negotiation: direct
  journal_size: 7
  journal_file: journal.jsonl
web:
  inspect: true
  viewer: true
pools:
  app:
    server_tls_negotiation: postgres
    users: [{ username: a, password: x }]
`,
      FILE,
      { checkFiles: false },
    );
    expect(config.ignoredKeys).toEqual([]);
    expect(config.general).toMatchObject({ tls_max_version: 'TLSv1.2', tls_client_cert_identity: 'cn', journal_size: 7, journal_file: '/etc/gatehouse/journal.jsonl' });
    expect(config.pools.app.server_tls.negotiation).toBe('postgres');
    expect(config.web).toMatchObject({ inspect: true, viewer: true });
    expect(configWarnings(config)).toEqual([`${FILE}: general.tls13_ciphersuites: ignored because general.tls_max_version is TLSv1.2`]);
  });

  test.each([
    ['tls_min_versoin: TLSv1.2', 'general.tls_min_versoin', 'tls_min_version'],
    ['tls_max_verison: TLSv1.3', 'general.tls_max_verison', 'tls_max_version'],
    ['tls_cipher: HIGH', 'general.tls_cipher', 'tls_ciphers'],
    ['tls13_ciphersuite: TLS_AES_128_GCM_SHA256', 'general.tls13_ciphersuite', 'tls13_ciphersuites'],
    ['tls_client_cert_identiy: cn', 'general.tls_client_cert_identiy', 'tls_client_cert_identity'],
    ['server_tls_negociation: direct', 'general.server_tls_negociation', 'server_tls_negotiation'],
    ['journal_sizes: 5', 'general.journal_sizes', 'journal_size'],
    ['jounral_file: j.jsonl', 'general.jounral_file', 'journal_file'],
  ])('suggests the right key for the misspelt general key in "%s"', (line, keyPath, suggestion) => {
    expectProblem(configErrorOf(withGeneral(line)), keyPath, `unknown key (did you mean ${suggestion}?)`);
  });

  test('suggests the right key for misspelt web and pool keys', () => {
    const error = configErrorOf(`web:\n  inspcet: true\n  veiwer: true\npools:\n  app:\n    server_tls_negotation: direct\n    users: [{ username: a, password: x }]\n`);
    expectProblem(error, 'web.inspcet', 'did you mean inspect?');
    expectProblem(error, 'web.veiwer', 'did you mean viewer?');
    expectProblem(error, 'pools.app.server_tls_negotation', 'did you mean server_tls_negotiation?');
  });

  test('says where a misplaced key belongs', () => {
    const error = configErrorOf(`general:\n  viewer: true\npools:\n  app:\n    journal_file: j.jsonl\n    tls_min_version: TLSv1.3\n    users: [{ username: a, password: x }]\n`);
    expectProblem(error, 'general.viewer', 'unknown key here (viewer is a setting of web)');
    expectProblem(error, 'pools.app.journal_file', 'unknown key here (journal_file is a setting of general)');
    expectProblem(error, 'pools.app.tls_min_version', 'unknown key here (tls_min_version is a setting of general)');
  });
});

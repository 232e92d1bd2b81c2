import { describe, expect, test } from 'vitest';
import { configWarnings, parseConfig, type Config } from '../../../src/config/index.js';
import { configErrorOf, expectProblem, FILE, ONE_POOL } from './expect-problems.js';

const parse = (text: string): Config => parseConfig(text, FILE, { checkFiles: false });
const withGeneral = (general: string) => `general:\n${general.replace(/^/gm, '  ')}\n${ONE_POOL}`;
const VERIFY_FULL = 'tls_mode: verify-full\ntls_certificate: s.crt\ntls_private_key: s.key\ntls_ca_cert: ca.pem';
const ALL_TLS13 = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256';

describe('TLS versions', () => {
  test('defaults to TLS 1.2 through TLS 1.3', () => {
    expect(parse(ONE_POOL).general).toMatchObject({ tls_min_version: 'TLSv1.2', tls_max_version: 'TLSv1.3' });
  });

  test.each([
    ['TLSv1.2', 'TLSv1.2'],
    ['TLSv1.2', 'TLSv1.3'],
    ['TLSv1.3', 'TLSv1.3'],
  ])('accepts tls_min_version %s with tls_max_version %s', (min, max) => {
    expect(parse(withGeneral(`tls_min_version: ${min}\ntls_max_version: ${max}`)).general).toMatchObject({ tls_min_version: min, tls_max_version: max });
  });

  test('lists the two accepted spellings for any other version name', () => {
    const error = configErrorOf(withGeneral('tls_min_version: "1.2"\ntls_max_version: TLSv1_3'));
    expect(expectProblem(error, 'general.tls_min_version', 'must be one of')).toBe(`${FILE}: general.tls_min_version: must be one of TLSv1.2, TLSv1.3 (got "1.2")`);
    expectProblem(error, 'general.tls_max_version', 'must be one of TLSv1.2, TLSv1.3 (got "TLSv1_3")');
  });

  test.each([['TLSv1.1'], ['tlsv1.3'], ['1.3']])('refuses tls_max_version %s', (version) => {
    expectProblem(configErrorOf(withGeneral(`tls_max_version: ${version}`)), 'general.tls_max_version', 'must be one of TLSv1.2, TLSv1.3');
  });

  test('refuses a minimum above the maximum, naming both keys', () => {
    const error = configErrorOf(withGeneral('tls_min_version: TLSv1.3\ntls_max_version: TLSv1.2'));
    expect(error.message).toBe(`${FILE}: general.tls_min_version: TLSv1.3 is higher than general.tls_max_version (TLSv1.2)`);
  });

  test('does not compare versions when one of them is invalid', () => {
    const error = configErrorOf(withGeneral('tls_min_version: TLSv1.4\ntls_max_version: TLSv1.2'));
    expect(error.problems).toEqual([{ keyPath: 'general.tls_min_version', problem: 'must be one of TLSv1.2, TLSv1.3 (got "TLSv1.4")' }]);
  });
});

describe('tls_ciphers', () => {
  test('is null (gatehouse\'s default list) unless set', () => {
    expect(parse(ONE_POOL).general.tls_ciphers).toBeNull();
  });

  test.each([['ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384'], ['HIGH:!aNULL:!MD5'], ['ECDHE-RSA-AES128-GCM-SHA256:not-a-cipher']])(
    'keeps the OpenSSL list %s as written',
    (list) => {
      expect(parse(withGeneral(`tls_ciphers: "${list}"`)).general.tls_ciphers).toBe(list);
    },
  );

  test('refuses a list that selects no cipher, naming the key', () => {
    const line = expectProblem(configErrorOf(withGeneral('tls_ciphers: nonsense')), 'general.tls_ciphers', 'no cipher matches');
    expect(line).toBe(`${FILE}: general.tls_ciphers: no cipher matches "nonsense": expected an OpenSSL cipher list such as "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"`);
    expectProblem(configErrorOf(withGeneral('tls_ciphers: "!ALL"')), 'general.tls_ciphers', 'no cipher matches "!ALL"');
  });

  test('points TLS 1.3 suite names to tls13_ciphersuites', () => {
    const line = expectProblem(configErrorOf(withGeneral('tls_ciphers: TLS_AES_128_GCM_SHA256:ECDHE-RSA-AES128-GCM-SHA256')), 'general.tls_ciphers', 'TLS 1.3');
    expect(line).toBe(`${FILE}: general.tls_ciphers: "TLS_AES_128_GCM_SHA256" is a TLS 1.3 suite: list it in general.tls13_ciphersuites (tls_ciphers is for TLS 1.2)`);
  });

  test('refuses an empty list and a value that is not a string', () => {
    expectProblem(configErrorOf(withGeneral('tls_ciphers: ""')), 'general.tls_ciphers', 'must not be empty');
    expectProblem(configErrorOf(withGeneral('tls_ciphers: [HIGH]')), 'general.tls_ciphers', 'expected a string (got a list)');
  });
});

describe('tls13_ciphersuites', () => {
  test('is null (OpenSSL\'s default suites) unless set', () => {
    expect(parse(ONE_POOL).general.tls13_ciphersuites).toBeNull();
  });

  test.each([['TLS_AES_256_GCM_SHA384'], ['TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256'], [ALL_TLS13]])('keeps %s as written', (list) => {
    expect(parse(withGeneral(`tls13_ciphersuites: ${list}`)).general.tls13_ciphersuites).toBe(list);
  });

  test('refuses an unknown suite and lists the known ones', () => {
    const line = expectProblem(configErrorOf(withGeneral('tls13_ciphersuites: TLS_AES_128_GCM_SHA256:TLS_AES_512_GCM')), 'general.tls13_ciphersuites', 'unknown');
    expect(line).toBe(`${FILE}: general.tls13_ciphersuites: unknown TLS 1.3 cipher suite "TLS_AES_512_GCM": each must be one of ${ALL_TLS13.replaceAll(':', ', ')}`);
  });

  test('names every unknown suite at once', () => {
    expectProblem(configErrorOf(withGeneral('tls13_ciphersuites: TLS_A:TLS_B')), 'general.tls13_ciphersuites', 'unknown TLS 1.3 cipher suites "TLS_A", "TLS_B"');
  });

  test('says that suite names are case-sensitive', () => {
    expectProblem(configErrorOf(withGeneral('tls13_ciphersuites: tls_aes_128_gcm_sha256')), 'general.tls13_ciphersuites', '(names are case-sensitive)');
  });

  test('points TLS 1.2 cipher names to tls_ciphers', () => {
    expectProblem(configErrorOf(withGeneral('tls13_ciphersuites: ECDHE-RSA-AES128-GCM-SHA256')), 'general.tls13_ciphersuites', '(TLS 1.2 ciphers go in general.tls_ciphers)');
  });

  test('refuses an empty name between colons', () => {
    expectProblem(configErrorOf(withGeneral('tls13_ciphersuites: "TLS_AES_128_GCM_SHA256:"')), 'general.tls13_ciphersuites', 'empty suite name in "TLS_AES_128_GCM_SHA256:"');
  });
});

describe('tls_client_cert_identity', () => {
  test('defaults to none', () => {
    expect(parse(ONE_POOL).general.tls_client_cert_identity).toBe('none');
  });

  test('accepts cn with tls_mode verify-full, and none with any mode', () => {
    expect(parse(withGeneral(`${VERIFY_FULL}\ntls_client_cert_identity: cn`)).general.tls_client_cert_identity).toBe('cn');
    expect(parse(withGeneral('tls_mode: disable\ntls_client_cert_identity: none')).general.tls_client_cert_identity).toBe('none');
  });

  test('refuses cn unless tls_mode is verify-full', () => {
    const set = configErrorOf(withGeneral('tls_mode: require\ntls_certificate: s.crt\ntls_private_key: s.key\ntls_client_cert_identity: cn'));
    expect(set.message).toBe(`${FILE}: general.tls_client_cert_identity: cn requires general.tls_mode verify-full (general.tls_mode is require)`);
    const unset = configErrorOf(withGeneral('tls_client_cert_identity: cn'));
    expect(unset.message).toBe(`${FILE}: general.tls_client_cert_identity: cn requires general.tls_mode verify-full (general.tls_mode is allow, the default)`);
  });

  test('refuses other values, with a hint about case', () => {
    expectProblem(configErrorOf(withGeneral('tls_client_cert_identity: CN')), 'general.tls_client_cert_identity', 'must be one of none, cn (got "CN") (names are case-sensitive)');
    expectProblem(configErrorOf(withGeneral('tls_client_cert_identity: san')), 'general.tls_client_cert_identity', 'must be one of none, cn (got "san")');
  });
});

describe('cipher settings for a TLS version that is off', () => {
  test('warns that tls_ciphers is unused when the minimum is TLS 1.3', () => {
    const config = parse(withGeneral('tls_min_version: TLSv1.3\ntls_ciphers: HIGH'));
    expect(configWarnings(config)).toEqual([`${FILE}: general.tls_ciphers: ignored because general.tls_min_version is TLSv1.3 (tls_ciphers applies to TLS 1.2 only)`]);
  });

  test('warns that tls13_ciphersuites is unused when the maximum is TLS 1.2', () => {
    const config = parse(withGeneral('tls_max_version: TLSv1.2\ntls13_ciphersuites: TLS_AES_128_GCM_SHA256'));
    expect(configWarnings(config)).toEqual([`${FILE}: general.tls13_ciphersuites: ignored because general.tls_max_version is TLSv1.2`]);
  });

  test('does not warn when both cipher settings are in use', () => {
    expect(configWarnings(parse(withGeneral('tls_ciphers: HIGH\ntls13_ciphersuites: TLS_AES_128_GCM_SHA256')))).toEqual([]);
  });
});

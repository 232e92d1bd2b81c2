import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadConfig, parseConfig } from '../../../src/config/index.js';
import { configErrorOf, expectProblem, FILE, ONE_POOL } from './expect-problems.js';
import { encryptKey, makeCertAndKey, tempDir, type CertAndKey, type TempDir } from './pem-helper.js';

let dir: TempDir;
let server: CertAndKey;
let other: CertAndKey;
let ca: CertAndKey;

beforeAll(() => {
  server = makeCertAndKey('server.test');
  other = makeCertAndKey('other.test');
  ca = makeCertAndKey('test-ca');
  dir = tempDir();
  dir.write('server.crt', server.certPem);
  dir.write('server.key', server.keyPem);
  dir.write('other.crt', other.certPem);
  dir.write('other.key', other.keyPem);
  dir.write('ca.pem', ca.certPem);
  dir.write('bundle.pem', `${ca.certPem}\n${other.certPem}`);
  dir.write('chain.crt', server.certPem + ca.certPem);
  dir.write('notes.txt', 'just some text\n');
  dir.write('encrypted.key', encryptKey(server.keyPem));
  dir.write('corrupt.crt', '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n');
});
afterAll(() => dir.remove());

const general = (lines: string) => `general:\n${lines.replace(/^/gm, '  ')}\n${ONE_POOL}`;
const check = (text: string) => configErrorOf(text, { checkFiles: true });
const accepts = (text: string) => parseConfig(text, FILE, { checkFiles: true });

describe('configured TLS files', () => {
  test('accepts a matching certificate and key, a CA bundle and a certificate chain', () => {
    expect(() =>
      accepts(general(`tls_mode: verify-full
tls_certificate: ${dir.path('chain.crt')}
tls_private_key: ${dir.path('server.key')}
tls_ca_cert: ${dir.path('bundle.pem')}
server_tls_mode: verify-ca
server_tls_ca_cert: ${dir.path('ca.pem')}
server_tls_certificate: ${dir.path('other.crt')}
server_tls_private_key: ${dir.path('other.key')}`)),
    ).not.toThrow();
  });

  test('accepts a traditional RSA PRIVATE KEY as well as PKCS#8', () => {
    const rsa = makeCertAndKey('rsa.test', 'rsa-traditional');
    expect(rsa.keyPem).toContain('-----BEGIN RSA PRIVATE KEY-----');
    const crt = dir.write('rsa.crt', rsa.certPem);
    const key = dir.write('rsa.key', rsa.keyPem);
    expect(() => accepts(general(`tls_certificate: ${crt}\ntls_private_key: ${key}`))).not.toThrow();
  });

  test('names the key and the path of a file that does not exist', () => {
    const missing = dir.path('missing/server.crt');
    const line = expectProblem(check(general(`tls_certificate: ${missing}\ntls_private_key: ${dir.path('server.key')}`)), 'general.tls_certificate', 'cannot read');
    expect(line).toBe(`${FILE}: general.tls_certificate: cannot read ${missing}: no such file`);
  });

  test('refuses a directory where a file is expected', () => {
    expectProblem(check(general(`server_tls_ca_cert: ${dir.dir}`)), 'general.server_tls_ca_cert', `cannot read ${dir.dir}: it is a directory`);
  });

  test('refuses a certificate file that holds no certificate', () => {
    const error = check(general(`tls_certificate: ${dir.path('server.key')}\ntls_private_key: ${dir.path('server.key')}`));
    expectProblem(error, 'general.tls_certificate', `${dir.path('server.key')} holds no PEM certificate`);
  });

  test('refuses a key file that holds no private key', () => {
    const error = check(general(`tls_certificate: ${dir.path('server.crt')}\ntls_private_key: ${dir.path('server.crt')}`));
    expectProblem(error, 'general.tls_private_key', `${dir.path('server.crt')} holds no PEM private key`);
  });

  test('refuses a CA bundle with no certificate in it', () => {
    expectProblem(check(general(`server_tls_ca_cert: ${dir.path('notes.txt')}`)), 'general.server_tls_ca_cert', 'holds no PEM certificate');
  });

  test('refuses a CERTIFICATE block that does not parse', () => {
    expectProblem(check(general(`tls_ca_cert: ${dir.path('corrupt.crt')}`)), 'general.tls_ca_cert', 'certificate 1 of 1 cannot be parsed');
  });

  test('refuses an encrypted private key', () => {
    const error = check(general(`tls_certificate: ${dir.path('server.crt')}\ntls_private_key: ${dir.path('encrypted.key')}`));
    expectProblem(error, 'general.tls_private_key', 'holds an encrypted private key');
  });

  test('refuses a client-side key that does not belong to the certificate', () => {
    const line = expectProblem(check(general(`tls_certificate: ${dir.path('server.crt')}\ntls_private_key: ${dir.path('other.key')}`)), 'general.tls_private_key', 'does not match');
    expect(line).toBe(`${FILE}: general.tls_private_key: ${dir.path('other.key')} does not match the certificate in ${dir.path('server.crt')}`);
  });

  test('refuses a server-side key that does not belong to the certificate', () => {
    const error = check(general(`server_tls_certificate: ${dir.path('other.crt')}\nserver_tls_private_key: ${dir.path('server.key')}`));
    expectProblem(error, 'general.server_tls_private_key', 'does not match the certificate');
  });

  test('checks a pool\'s own files and its effective certificate/key pair', () => {
    const error = check(`general:
  server_tls_certificate: ${dir.path('server.crt')}
  server_tls_private_key: ${dir.path('server.key')}
pools:
  app:
    server_tls_ca_cert: ${dir.path('nope.pem')}
    server_tls_certificate: ${dir.path('other.crt')}
    users: [{ username: a, password: x }]
`);
    expectProblem(error, 'pools.app.server_tls_ca_cert', `cannot read ${dir.path('nope.pem')}: no such file`);
    // The pool's certificate is paired with the key inherited from general, which belongs to another certificate.
    expectProblem(error, 'general.server_tls_private_key', `does not match the certificate in ${dir.path('other.crt')}`);
  });

  test('resolves relative file names against the configuration file\'s directory before checking them', () => {
    const file = dir.write('conf/gatehouse.yaml', general('tls_certificate: ../server.crt\ntls_private_key: ../server.key\ntls_ca_cert: ../missing-ca.pem'));
    expect(() => loadConfig(file)).toThrow(`${file}: general.tls_ca_cert: cannot read ${dir.path('missing-ca.pem')}: no such file`);
    dir.write('missing-ca.pem', ca.certPem);
    expect(loadConfig(file).general.tls_ca_cert).toBe(dir.path('missing-ca.pem'));
  });

  test('skips file checks when checkFiles is false', () => {
    expect(() => parseConfig(general('tls_certificate: /no/such.crt\ntls_private_key: /no/such.key'), FILE, { checkFiles: false })).not.toThrow();
  });

  test('reports file problems together with other problems', () => {
    const error = check(general(`port: 0\ntls_certificate: /no/such.crt\ntls_private_key: /no/such.key`));
    expect(error.problems.map((p) => p.keyPath)).toEqual(['general.port', 'general.tls_certificate', 'general.tls_private_key']);
  });
});

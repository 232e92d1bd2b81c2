// Every server_tls_mode against real PostgreSQL in every TLS posture it can take. The expected outcome
// of each cell is written down from docs/tls.md ("Server side" → Modes, Errors that help), not from
// watching gatehouse: a session whose backend hop pg_stat_ssl (read through gatehouse) calls encrypted
// or not, or a FATAL with the documented SQLSTATE and reason. Each cell also checks the server-side TLS
// metrics: one handshake observed per new TLS backend connection, none for plain ones, and a handshake
// error counted for every refusal that is a TLS failure.
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_DATABASE, APP_USER, FLAVORS, startTestCluster, type Cluster, type PostgresFlavor } from '../../fixtures/clusters.js';
import { poolFor, startGatehouse, type RunningGatehouse } from '../../fixtures/gatehouse.js';
import { createPki, type CertificateFiles, type Pki } from '../../fixtures/pki.js';
import { configureBackend, type BackendSsl } from './support/backend.js';
import { attempt, serverTlsCounters, type Outcome } from './support/outcome.js';

const MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
type Mode = (typeof MODES)[number];

type Expected = { session: 'tls' | 'plain' } | { refused: { code: string; words: string; reason: RegExp; tlsFailure: boolean } };

const PLAIN: Expected = { session: 'plain' };
const TLS: Expected = { session: 'tls' };
const refused = (code: string, words: string, reason: RegExp, tlsFailure: boolean): Expected => ({ refused: { code, words, reason, tlsFailure } });
// gatehouse's own refusals (docs/tls.md, "Errors that help"): 08001 and the reason in words.
const NO_TLS = refused('08001', 'server does not support TLS', /server does not support TLS/, true);
const UNTRUSTED = refused('08001', 'certificate verify failed', /certificate verify failed/, true);
const MISMATCH = refused('08001', 'hostname mismatch', /hostname mismatch/, true);
// PostgreSQL's own login refusals reach the client as "server login failed: …" with the server's SQLSTATE.
const HBA_WANTS_TLS = refused('28000', 'no pg_hba.conf entry … no encryption', /^server login failed: no pg_hba\.conf entry .*no encryption/, false);
const HBA_WANTS_PLAIN = refused('28000', 'no pg_hba.conf entry … SSL encryption', /^server login failed: no pg_hba\.conf entry .*SSL encryption/, false);
const NO_CLIENT_CERT = refused(
  '28000',
  'connection requires a valid client certificate',
  /^server login failed: connection requires a valid client certificate/,
  false,
);

const expectByMode = (...outcomes: [Expected, Expected, Expected, Expected, Expected, Expected]): Record<Mode, Expected> =>
  Object.fromEntries(MODES.map((mode, i) => [mode, outcomes[i]])) as Record<Mode, Expected>;

const HOST = 'host all all 127.0.0.1/32 scram-sha-256';
const HOSTSSL = 'hostssl all all 127.0.0.1/32 scram-sha-256';
const HOSTNOSSL = 'hostnossl all all 127.0.0.1/32 scram-sha-256';
const HOSTSSL_CLIENTCERT = 'hostssl all all 127.0.0.1/32 scram-sha-256 clientcert=verify-full';
const HOSTSSL_CERT_AUTH = 'hostssl all all 127.0.0.1/32 cert';

interface Posture {
  name: string;
  ssl: BackendSsl;
  hba: string;
  /** server_tls_ca_cert: the right CA (default), an unrelated one, or a bundle with the right CA second. */
  ca?: 'right' | 'other' | 'bundle-right-second';
  /** gatehouse presents a client certificate whose CN is the user. */
  clientCert?: boolean;
  /** PostgreSQL may not ask for a password: gatehouse's is wrong on purpose. */
  wrongServerPassword?: boolean;
  serverHost?: 'localhost' | '127.0.0.1';
  /** Also run against PostgreSQL 15. */
  pg15: boolean;
  expect: Record<Mode, Expected>;
}

// Columns: disable, allow, prefer, require, verify-ca, verify-full.
const POSTURES: Posture[] = [
  { name: 'ssl = off, host', ssl: 'off', hba: HOST, pg15: true, expect: expectByMode(PLAIN, PLAIN, PLAIN, NO_TLS, NO_TLS, NO_TLS) },
  { name: 'ssl = on, host', ssl: 'on', hba: HOST, pg15: true, expect: expectByMode(PLAIN, PLAIN, TLS, TLS, TLS, TLS) },
  { name: 'hostssl only', ssl: 'on', hba: HOSTSSL, pg15: true, expect: expectByMode(HBA_WANTS_TLS, TLS, TLS, TLS, TLS, TLS) },
  {
    name: 'hostnossl only',
    ssl: 'on',
    hba: HOSTNOSSL,
    pg15: true,
    expect: expectByMode(PLAIN, PLAIN, HBA_WANTS_PLAIN, HBA_WANTS_PLAIN, HBA_WANTS_PLAIN, HBA_WANTS_PLAIN),
  },
  {
    name: 'hostssl clientcert=verify-full, gatehouse presents a certificate with CN = the user',
    ssl: 'on',
    hba: HOSTSSL_CLIENTCERT,
    clientCert: true,
    pg15: true,
    expect: expectByMode(HBA_WANTS_TLS, TLS, TLS, TLS, TLS, TLS),
  },
  {
    name: 'hostssl clientcert=verify-full, gatehouse has no client certificate',
    ssl: 'on',
    hba: HOSTSSL_CLIENTCERT,
    pg15: false,
    expect: expectByMode(HBA_WANTS_TLS, NO_CLIENT_CERT, NO_CLIENT_CERT, NO_CLIENT_CERT, NO_CLIENT_CERT, NO_CLIENT_CERT),
  },
  {
    name: 'hostssl … cert authentication by the client certificate alone',
    ssl: 'on',
    hba: HOSTSSL_CERT_AUTH,
    clientCert: true,
    wrongServerPassword: true,
    pg15: true,
    expect: expectByMode(HBA_WANTS_TLS, TLS, TLS, TLS, TLS, TLS),
  },
  {
    name: 'hostssl only, server_tls_ca_cert is an unrelated CA',
    ssl: 'on',
    hba: HOSTSSL,
    ca: 'other',
    pg15: true,
    expect: expectByMode(HBA_WANTS_TLS, TLS, TLS, TLS, UNTRUSTED, UNTRUSTED),
  },
  {
    name: 'hostssl only, server_tls_ca_cert is a bundle with the right CA second',
    ssl: 'on',
    hba: HOSTSSL,
    ca: 'bundle-right-second',
    pg15: false,
    expect: expectByMode(HBA_WANTS_TLS, TLS, TLS, TLS, TLS, TLS),
  },
  {
    name: 'certificate naming only DNS:localhost, server_host 127.0.0.1',
    ssl: 'localhost-only',
    hba: HOSTSSL,
    serverHost: '127.0.0.1',
    pg15: true,
    expect: expectByMode(HBA_WANTS_TLS, TLS, TLS, TLS, TLS, MISMATCH),
  },
  {
    name: 'certificate naming only DNS:localhost, server_host localhost',
    ssl: 'localhost-only',
    hba: HOSTSSL,
    serverHost: 'localhost',
    pg15: false,
    expect: expectByMode(HBA_WANTS_TLS, TLS, TLS, TLS, TLS, TLS),
  },
];

function describeExpected(expected: Expected): string {
  if ('session' in expected) return `logs in, backend hop ${expected.session === 'tls' ? 'encrypted (pg_stat_ssl t)' : 'plain (pg_stat_ssl f)'}`;
  return `FATAL ${expected.refused.code} "${expected.refused.words}"`;
}

function checkOutcome(outcome: Outcome, expected: Expected): void {
  if ('session' in expected) {
    expect(outcome).toEqual({ kind: 'session', ssl: expected.session === 'tls' });
    return;
  }
  expect(outcome).toMatchObject({ kind: 'refused', severity: 'FATAL', code: expected.refused.code });
  expect(outcome.kind === 'refused' && outcome.message).toMatch(expected.refused.reason);
}

describe.each(FLAVORS)('server_tls_mode × PostgreSQL TLS posture, %s', (flavor: PostgresFlavor) => {
  let pki: Pki;
  let cluster: Cluster;
  let clientCert: CertificateFiles;
  let bundleFile: string;

  beforeAll(async () => {
    pki = await createPki(`server-tls matrix ${flavor}`);
    clientCert = await pki.clientCertificate(APP_USER.name);
    bundleFile = path.join(pki.dir, 'bundle-right-second.crt');
    await fs.writeFile(bundleFile, (await fs.readFile(pki.otherCaFile, 'utf8')) + pki.ca.certPem);
    cluster = await startTestCluster(flavor, pki);
  });

  afterAll(async () => {
    await cluster?.stop();
    await pki?.remove();
  });

  const postures = POSTURES.filter((p) => flavor === 'embedded18' || p.pg15);
  describe.each(postures.map((p) => [p.name, p] as const))('%s', (_name, posture) => {
    let gh: RunningGatehouse;

    beforeAll(async () => {
      await configureBackend(cluster, pki, posture.ssl, [posture.hba]);
      const ca = { right: pki.caFile, other: pki.otherCaFile, 'bundle-right-second': bundleFile }[posture.ca ?? 'right'];
      const pools = Object.fromEntries(
        MODES.map((mode) => [
          mode,
          poolFor(cluster, pki, {
            server_database: APP_DATABASE,
            server_host: posture.serverHost ?? '127.0.0.1',
            server_tls_mode: mode,
            server_tls_ca_cert: ca,
            ...(posture.clientCert ? { server_tls_certificate: clientCert.certFile, server_tls_private_key: clientCert.keyFile } : {}),
            users: [
              {
                username: APP_USER.name,
                password: APP_USER.password,
                pool_size: 2,
                ...(posture.wrongServerPassword ? { server_password: 'not-the-password' } : {}),
              },
            ],
          }),
        ]),
      );
      gh = await startGatehouse({ general: { tls_mode: 'disable' }, pools });
    });

    afterAll(async () => {
      await gh?.stop();
    });

    it.each(MODES.map((mode) => [mode, describeExpected(posture.expect[mode])] as const))('%s: %s', async (mode) => {
      const expected = posture.expect[mode];
      const before = await serverTlsCounters(gh, mode);
      const logsBefore = gh.logs.length;
      let openDuringSession = -1;
      const outcome = await attempt(gh, mode, async () => {
        openDuringSession = (await serverTlsCounters(gh, mode)).open;
      });
      checkOutcome(outcome, expected);
      const after = await serverTlsCounters(gh, mode);
      if ('session' in expected) {
        const tls = expected.session === 'tls' ? 1 : 0;
        expect({ handshakes: after.handshakes - before.handshakes, errors: after.errors - before.errors, open: openDuringSession }).toEqual({
          handshakes: tls,
          errors: 0,
          open: tls,
        });
      } else {
        expect(after.errors - before.errors).toBe(expected.refused.tlsFailure ? 1 : 0);
        // docs/tls.md: "The log line carries pool, host, port, mode, reason and SQLSTATE."
        const failures = gh.logs.slice(logsBefore).filter((line) => String(line.msg).startsWith('backend connection failed'));
        expect(failures.at(-1)).toMatchObject({
          pool: mode,
          host: posture.serverHost ?? '127.0.0.1',
          port: cluster.port,
          mode,
          reason: expect.any(String),
          sqlstate: expected.refused.code,
          msg: expect.stringMatching(new RegExp(`^backend connection failed: ${expected.refused.reason.source.replace(/^\^/, '')}`)),
        });
      }
    });
  });
});

// psql (libpq 15) against gatehouse in every tls_mode, with every libpq sslmode and with no client
// certificate, a trusted one and one from a CA gatehouse does not trust. The expected outcome comes
// from the table in support/psql-matrix.ts; psql's \conninfo tells whether the client hop uses TLS,
// pg_stat_ssl that the backend hop does (always, here).
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { RunningGatehouse } from '../../fixtures/gatehouse.js';
import { psql } from '../../fixtures/psql.js';
import { gatehouseConninfo, startHarness, type ClientTlsHarness } from './support/harness.js';
import {
  CLIENT_CERTS,
  describeOutcome,
  expectedOutcome,
  SSL_MODES,
  TLS_MODES,
  type ClientCert,
  type TlsMode,
} from './support/psql-matrix.js';

let h: ClientTlsHarness;

beforeAll(async () => {
  h = await startHarness();
});

afterAll(async () => {
  await h?.stop();
});

function certificateParams(cert: ClientCert): Record<string, string> {
  if (cert === 'trusted') return { sslcert: h.trustedClient.certFile, sslkey: h.trustedClient.keyFile };
  if (cert === 'untrusted') return { sslcert: h.untrustedClient.certFile, sslkey: h.untrustedClient.keyFile };
  // Point libpq away from ~/.postgresql/postgresql.crt: no certificate at all.
  return { sslcert: `${h.pki.dir}/no-such-client.crt`, sslkey: `${h.pki.dir}/no-such-client.key` };
}

const cases = SSL_MODES.flatMap((sslmode) => CLIENT_CERTS.map((cert) => ({ sslmode, cert })));

describe.each(TLS_MODES)('psql through gatehouse with tls_mode %s', (mode: TlsMode) => {
  let gh: RunningGatehouse;

  beforeAll(async () => {
    // A certificate is configured in every mode: under disable it must be ignored.
    gh = await h.gatehouse(mode);
  });

  afterAll(async () => {
    await gh?.stop();
  });

  for (const { sslmode, cert } of cases) {
    const outcome = expectedOutcome(mode, sslmode, cert);
    it.concurrent(`sslmode ${sslmode}, client certificate ${cert}: ${describeOutcome(outcome)}`, async ({ expect }) => {
      const connection = gatehouseConninfo(gh, { sslmode, sslrootcert: h.pki.caFile, ...certificateParams(cert) });
      const result = await psql(connection, ['-At', '-c', '\\conninfo', '-c', 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'], {
        env: { PGCONNECT_TIMEOUT: '5' },
        timeoutMs: 15_000,
      });
      if (outcome.connects) {
        expect(result.stderr).toBe('');
        expect(result.code).toBe(0);
        // \conninfo prints the connection line, then an "SSL connection (…)" line when TLS is in use.
        const lines = result.stdout.trim().split('\n');
        expect(lines[0]).toMatch(/^You are connected to database "appdb" as user "app_user" on host "127\.0\.0\.1"/);
        if (outcome.tls) expect(lines.slice(1, -1)).toEqual([expect.stringMatching(/^SSL connection \(protocol: TLSv1\.[23], cipher: /)]);
        else expect(lines.slice(1, -1)).toEqual([]);
        // The backend hop is TLS whatever the client hop is.
        expect(lines.at(-1)).toBe('t');
      } else {
        expect(result.code).toBe(2);
        expect(result.stdout).toBe('');
        expect(result.stderr).toMatch(outcome.error);
      }
    });
  }
});

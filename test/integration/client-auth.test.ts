// How gatehouse admits or refuses clients: passwords (plaintext, md5 hash, SCRAM secret in the config),
// unknown users and databases, and client tls_mode against libpq's sslmode.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_DATABASE, APP_USER, FLAVORS, startTestCluster, storedPassword, type Cluster } from '../fixtures/clusters.js';
import { connectError } from '../fixtures/clients.js';
import { clientTls, poolFor, startGatehouse, type RunningGatehouse } from '../fixtures/gatehouse.js';
import { createPki, type Pki } from '../fixtures/pki.js';
import { gatehouseConninfo, psql, psqlQuery, type Libpq } from '../fixtures/psql.js';

const MD5_CLIENT = { name: 'md5_client', password: 'md5-client-pass' };
const SCRAM_POOL = 'appdb_scram'; // app_user configured with the SCRAM secret copied from pg_authid

describe.each(FLAVORS)('client authentication in front of %s', (flavor) => {
  let pki: Pki;
  let cluster: Cluster;

  beforeAll(async () => {
    pki = await createPki();
    cluster = await startTestCluster(flavor, pki);
  });

  afterAll(async () => {
    await cluster?.stop();
    await pki?.remove();
  });

  describe('tls_mode require', () => {
    let gh: RunningGatehouse;
    let md5Hash: string;
    let scramSecret: string;
    const target = (params: Record<string, string | number> = {}) =>
      gatehouseConninfo(gh, { sslmode: 'verify-full', sslrootcert: pki.caFile, ...params });

    beforeAll(async () => {
      md5Hash = `md5${createHash('md5').update(MD5_CLIENT.password + MD5_CLIENT.name).digest('hex')}`;
      scramSecret = await storedPassword(cluster, APP_USER.name);
      expect(scramSecret).toMatch(/^SCRAM-SHA-256\$4096:/);
      gh = await startGatehouse({
        logLevel: 'debug',
        general: clientTls(pki, 'require'),
        pools: {
          [APP_DATABASE]: poolFor(cluster, pki, {
            users: [
              { username: APP_USER.name, password: APP_USER.password },
              { username: MD5_CLIENT.name, password: md5Hash, server_username: APP_USER.name, server_password: APP_USER.password },
            ],
          }),
          [SCRAM_POOL]: poolFor(cluster, pki, {
            server_database: APP_DATABASE,
            users: [{ username: APP_USER.name, password: scramSecret, server_password: APP_USER.password }],
          }),
        },
      });
    });

    afterAll(async () => {
      await gh?.stop();
    });

    it('a wrong password is refused with FATAL 28P01', async () => {
      const err = await connectError(gh, pki, { password: 'not-the-password' });
      expect(err).toMatchObject({ code: '28P01', severity: 'FATAL', message: `password authentication failed for user "${APP_USER.name}"` });
    });

    it('an unknown user gets the same 28P01 refusal as a wrong password (no user enumeration)', async () => {
      const unknown = await connectError(gh, pki, { user: 'nobody_here', password: 'whatever' });
      const wrong = await connectError(gh, pki, { password: 'whatever' });
      expect(unknown).toMatchObject({ code: '28P01', severity: 'FATAL' });
      expect(unknown.message.replace('nobody_here', '<user>')).toBe(wrong.message.replace(APP_USER.name, '<user>'));
    });

    it('an unknown database is refused with FATAL 3D000', async () => {
      const err = await connectError(gh, pki, { database: 'no_such_db' });
      expect(err).toMatchObject({ code: '3D000', severity: 'FATAL' });
      expect(err.message).toMatch(/no_such_db/);
    });

    it('psql logs in as a user whose configured password is an md5 hash, and a wrong password is refused', async () => {
      const as = { user: MD5_CLIENT.name, password: MD5_CLIENT.password };
      const ok = await psqlQuery(target(as), 'SELECT current_user');
      expect(ok.stderr).toBe('');
      expect(ok.stdout).toBe(`${APP_USER.name}\n`);
      const bad = await psqlQuery(target({ ...as, password: 'wrong' }), 'SELECT 1');
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(`FATAL:  password authentication failed for user "${MD5_CLIENT.name}"`);
    });

    it.each([15, 18] as Libpq[])('psql with libpq %i logs in against a SCRAM secret copied from pg_authid; a wrong password is refused', async (libpq) => {
      const ok = await psqlQuery(target({ dbname: SCRAM_POOL }), 'SELECT current_database()', { libpq });
      expect(ok.stderr).toBe('');
      expect(ok.stdout).toBe(`${APP_DATABASE}\n`);
      const bad = await psqlQuery(target({ dbname: SCRAM_POOL, password: 'wrong' }), 'SELECT 1', { libpq });
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(`FATAL:  password authentication failed for user "${APP_USER.name}"`);
    });

    it('a plain connection is refused with FATAL 28000 that says TLS is required', async () => {
      const err = await connectError(gh, pki, { ssl: false });
      expect(err).toMatchObject({ code: '28000', severity: 'FATAL' });
      expect(err.message).toMatch(/TLS is required/);
      const viaPsql = await psqlQuery(target({ sslmode: 'disable' }), 'SELECT 1');
      expect(viaPsql.code).toBe(2);
      expect(viaPsql.stderr).toMatch(/FATAL: {2}TLS is required/);
    });

    it.each([15, 18] as Libpq[])('libpq %i with sslmode=allow is refused in plain, retries with TLS and gets in', async (libpq) => {
      const result = await psql(target({ sslmode: 'allow' }), ['-c', '\\conninfo'], { libpq });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/SSL connection/);
    });

    it('the log of all these logins (at debug level) holds no password, md5 hash or SCRAM secret', async () => {
      const log = JSON.stringify(gh.logs);
      expect(gh.logs.length).toBeGreaterThan(10);
      expect(log).toMatch(/password authentication failed/);
      for (const secret of [APP_USER.password, MD5_CLIENT.password, md5Hash, scramSecret, scramSecret.split('$')[2], 'not-the-password']) {
        expect(log).not.toContain(secret);
      }
    });
  });

  describe('tls_mode disable', () => {
    let gh: RunningGatehouse;
    const target = (sslmode: string) => gatehouseConninfo(gh, { sslmode });

    beforeAll(async () => {
      gh = await startGatehouse({ general: { tls_mode: 'disable' }, pools: { [APP_DATABASE]: poolFor(cluster, pki) } });
    });

    afterAll(async () => {
      await gh?.stop();
    });

    it('sslmode=require cannot connect: the server does not offer TLS', async () => {
      const result = await psqlQuery(target('require'), 'SELECT 1');
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/server does not support SSL, but SSL was required/);
    });

    it('sslmode=prefer connects without TLS (while the backend hop still uses TLS)', async () => {
      const info = await psql(target('prefer'), ['-c', '\\conninfo']);
      expect(info.code).toBe(0);
      expect(info.stdout).toMatch(/You are connected to database "appdb"/);
      expect(info.stdout).not.toMatch(/SSL connection/);
      const backend = await psqlQuery(target('prefer'), 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
      expect(backend.stdout).toBe('t\n');
    });
  });
});

// Passthrough authentication: PgDoorman's minimal configuration (a SCRAM secret copied from pg_authid, no
// server_password) runs unchanged, and an md5 hash logs in to a cluster that uses md5, with no plaintext password
// in the configuration. The keys this takes never reach a log line or a journal.
import { createHmac, pbkdf2Sync } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLAVORS, startTestCluster, storedPassword, type Cluster } from '../fixtures/clusters.js';
import { parseHba } from '../../src/config/hba.js';
import { ensureBuilt, runCli } from '../fixtures/cli.js';
import { startGatehouseFromFile, type RunningGatehouse } from '../fixtures/gatehouse.js';
import { createPki, type Pki } from '../fixtures/pki.js';
import { conninfo, psqlQuery, type Libpq } from '../fixtures/psql.js';

const MINIMAL = fileURLToPath(new URL('../fixtures/pgdoorman/minimal.yaml', import.meta.url));
/** The fixture's user, database, and the password whose SCRAM secret the fixture holds. */
const APP = { name: 'app', password: 'doorman-readme-pass', database: 'mydb' };
const MD5_USER = { name: 'doorman_md5', password: 'doorman-md5-pass', database: 'md5db' };

function fixtureSecret(text: string): string {
  const secret = /password: "(SCRAM-SHA-256\$[^"]+)"/.exec(text)?.[1];
  if (!secret) throw new Error('the fixture holds no SCRAM secret');
  return secret;
}

/** Every form in which a key or password could leak: as text, base64 and hex. */
function leakForms(secrets: Array<string | Buffer>): string[] {
  return secrets.flatMap((s) => (typeof s === 'string' ? [s] : [s.toString('base64'), s.toString('hex')]));
}

async function journalText(gh: RunningGatehouse, file: string): Promise<string> {
  const inMemory = JSON.stringify([...gh.gateway.journals.endedRecords()]);
  return `${inMemory}\n${await fs.readFile(file, 'utf8')}`;
}

function pgConnect(gh: RunningGatehouse, user: string, password: string, database: string): Promise<pg.Client> {
  const client = new pg.Client({ host: gh.host, port: gh.port, user, password, database, ssl: false });
  client.on('error', () => {});
  return client.connect().then(() => client);
}

async function pgError(gh: RunningGatehouse, user: string, password: string, database: string): Promise<Error & { code?: string; severity?: string }> {
  try {
    const client = await pgConnect(gh, user, password, database);
    await client.end();
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected the login to be refused');
}

describe.each(FLAVORS)('passthrough authentication in front of %s', (flavor) => {
  let pki: Pki;
  let tmp: string;

  beforeAll(async () => {
    pki = await createPki();
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-passthrough-'));
    await ensureBuilt();
  });

  afterAll(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
    await pki?.remove();
  });

  describe("PgDoorman's minimal configuration, unchanged", () => {
    let cluster: Cluster;
    let gh: RunningGatehouse;
    let secret: string;
    let journalFile: string;
    const target = (password = APP.password) =>
      conninfo({ host: gh.host, port: gh.port, user: APP.name, password, dbname: APP.database, sslmode: 'disable' });

    beforeAll(async () => {
      secret = fixtureSecret(await fs.readFile(MINIMAL, 'utf8'));
      // The role's password is given as the secret itself, so pg_authid holds exactly the fixture's secret.
      cluster = await startTestCluster(flavor, pki, {
        ssl: 'off',
        hba: ['host all all 127.0.0.1/32 scram-sha-256'],
        users: [{ name: APP.name, password: secret }],
        databases: [{ name: APP.database, owner: APP.name }],
        settings: { log_connections: true },
      });
      journalFile = path.join(tmp, `${flavor}-minimal.jsonl`);
      gh = await startGatehouseFromFile(MINIMAL, (config) => {
        config.pools.mydb.server_port = cluster.port;
        config.general.log_level = 'debug';
        config.general.journal_file = journalFile;
      });
    });

    afterAll(async () => {
      await gh?.stop();
      await cluster?.stop();
    });

    it('the fixture holds the secret exactly as pg_authid has it, and check-config accepts the file', async () => {
      expect(await storedPassword(cluster, APP.name)).toBe(secret);
      const result = await runCli(['check-config', MINIMAL]);
      expect(result.stderr).not.toMatch(/error/i);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/minimal\.yaml: OK \(1 pool\(s\)\)/);
      // Every key of the file has an effect (admin_* turn the admin console on); its example admin password is
      // worth a warning, which does not repeat it.
      expect(result.stdout).not.toContain('accepts without effect');
      expect(result.stderr).toContain("general.admin_password: is an example password from PgDoorman's documentation");
      expect(result.stdout + result.stderr).not.toContain('change_me');
    });

    it.each([15, 18] as Libpq[])('psql with libpq %i logs in and queries; PostgreSQL saw a SCRAM login as app', async (libpq) => {
      const result = await psqlQuery(target(), 'SELECT current_user, current_database()', { libpq });
      expect(result.stderr).toBe('');
      expect(result.stdout).toBe(`${APP.name}|${APP.database}\n`);
      const log = await fs.readFile(cluster.logFile, 'utf8');
      expect(log).toMatch(new RegExp(`connection authenticated: identity="${APP.name}" method=scram-sha-256`));
    });

    it('node-postgres logs in and runs transactions on pooled servers', async () => {
      const clients = await Promise.all([1, 2, 3].map(() => pgConnect(gh, APP.name, APP.password, APP.database)));
      try {
        for (const [i, client] of clients.entries()) {
          await client.query('BEGIN');
          const { rows } = await client.query<{ who: string; n: number }>('SELECT current_user AS who, $1::int AS n', [i]);
          await client.query('COMMIT');
          expect(rows).toEqual([{ who: APP.name, n: i }]);
        }
      } finally {
        await Promise.all(clients.map((c) => c.end()));
      }
    });

    it('a wrong password is refused with FATAL 28P01, by psql and by node-postgres', async () => {
      const viaPsql = await psqlQuery(target('not-the-password'), 'SELECT 1');
      expect(viaPsql.code).toBe(2);
      expect(viaPsql.stderr).toMatch(`FATAL:  password authentication failed for user "${APP.name}"`);
      const err = await pgError(gh, APP.name, 'not-the-password', APP.database);
      expect(err).toMatchObject({ code: '28P01', severity: 'FATAL' });
    });

    it('no log line and no journal entry holds the password, the ClientKey or the secret', async () => {
      const [, iterations, salt] = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(secret)!;
      const salted = pbkdf2Sync(APP.password, Buffer.from(salt, 'base64'), Number(iterations), 32, 'sha256');
      const clientKey = createHmac('sha256', salted).update('Client Key').digest();
      const serverKey = createHmac('sha256', salted).update('Server Key').digest();
      const logs = JSON.stringify(gh.logs);
      const journals = await journalText(gh, journalFile);
      expect(journals).toMatch(/"auth\.succeeded"/);
      expect(logs).toMatch(/password authentication failed/);
      for (const leak of leakForms([APP.password, 'not-the-password', secret, clientKey, serverKey])) {
        expect(logs).not.toContain(leak);
        expect(journals).not.toContain(leak);
      }
    });
  });

  describe('SCRAM passthrough behind a pg_hba trust rule, before any client proved its password', () => {
    let cluster: Cluster;
    let gh: RunningGatehouse;

    beforeAll(async () => {
      const secret = fixtureSecret(await fs.readFile(MINIMAL, 'utf8'));
      cluster = await startTestCluster(flavor, pki, {
        ssl: 'off',
        hba: ['host all all 127.0.0.1/32 scram-sha-256'],
        users: [{ name: APP.name, password: secret }],
        databases: [{ name: APP.database, owner: APP.name }],
      });
      gh = await startGatehouseFromFile(MINIMAL, (config) => {
        config.pools.mydb.server_port = cluster.port;
        config.general.pg_hba = { source: 'test rules', rules: parseHba('host all all 127.0.0.1/32 trust').rules };
      });
    });

    afterAll(async () => {
      await gh?.stop();
      await cluster?.stop();
    });

    it('the backend login fails with FATAL 08006 that says no client of the user has authenticated yet', async () => {
      const err = await pgError(gh, APP.name, '', APP.database);
      expect(err).toMatchObject({ code: '08006', severity: 'FATAL' });
      expect(err.message).toMatch(/cannot log in to PostgreSQL as "app" yet: its password is a SCRAM secret \(passthrough authentication\), and no client of this user has authenticated with it since gatehouse started/);
      const viaPsql = await psqlQuery(conninfo({ host: gh.host, port: gh.port, user: APP.name, dbname: APP.database, sslmode: 'disable' }), 'SELECT 1');
      expect(viaPsql.code).toBe(2);
      expect(viaPsql.stderr).toMatch(/FATAL: {2}.*cannot log in to PostgreSQL as "app" yet/);
    });
  });

  describe('md5 passthrough to a cluster that uses md5', () => {
    let cluster: Cluster;
    let gh: RunningGatehouse;
    let hash: string;
    let config: string;
    const target = (password = MD5_USER.password) =>
      conninfo({ host: gh.host, port: gh.port, user: MD5_USER.name, password, dbname: MD5_USER.database, sslmode: 'disable' });

    beforeAll(async () => {
      cluster = await startTestCluster(flavor, pki, {
        ssl: 'off',
        hba: ['host all all 127.0.0.1/32 md5'],
        users: [{ name: MD5_USER.name, password: MD5_USER.password, passwordEncryption: 'md5' }],
        databases: [{ name: MD5_USER.database, owner: MD5_USER.name }],
        settings: { password_encryption: 'md5', log_connections: true },
      });
      hash = await storedPassword(cluster, MD5_USER.name);
      expect(hash).toMatch(/^md5[0-9a-f]{32}$/);
      config = path.join(tmp, `${flavor}-md5.yaml`);
      await fs.writeFile(
        config,
        [
          'general:',
          '  port: 6432',
          'pools:',
          `  ${MD5_USER.database}:`,
          `    server_port: ${cluster.port}`,
          '    users:',
          `      - { username: "${MD5_USER.name}", password: "${hash}", pool_size: 4 }`,
          '',
        ].join('\n'),
      );
      gh = await startGatehouseFromFile(config, (c) => {
        c.general.log_level = 'debug';
      });
    });

    afterAll(async () => {
      await gh?.stop();
      await cluster?.stop();
    });

    it('psql logs in with the password whose hash the file holds; PostgreSQL saw an md5 login', async () => {
      const result = await psqlQuery(target(), 'SELECT current_user');
      expect(result.stderr).toBe('');
      expect(result.stdout).toBe(`${MD5_USER.name}\n`);
      const log = await fs.readFile(cluster.logFile, 'utf8');
      expect(log).toMatch(new RegExp(`connection authenticated: identity="${MD5_USER.name}" method=md5`));
    });

    it('node-postgres logs in and queries', async () => {
      const client = await pgConnect(gh, MD5_USER.name, MD5_USER.password, MD5_USER.database);
      try {
        expect((await client.query<{ u: string }>('SELECT current_user AS u')).rows).toEqual([{ u: MD5_USER.name }]);
      } finally {
        await client.end();
      }
    });

    it('a wrong password is refused with FATAL 28P01', async () => {
      const err = await pgError(gh, MD5_USER.name, 'wrong', MD5_USER.database);
      expect(err).toMatchObject({ code: '28P01', severity: 'FATAL' });
    });

    it('the hash and the password appear in no log line', () => {
      const logs = JSON.stringify(gh.logs);
      expect(logs).toMatch(/password authentication failed/);
      for (const leak of [hash, hash.slice(3), MD5_USER.password]) expect(logs).not.toContain(leak);
    });
  });
});

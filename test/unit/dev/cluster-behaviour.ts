// Behaviour every cluster flavor must show; each flavor's test file calls describeClusterBehaviour once, so
// vitest runs the flavors in parallel workers and each file starts its cluster once.
import fs from 'node:fs';
import { tcpAccepts } from '../../../src/dev/free-port.js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCertificateAuthority, type CertificateAuthority } from '../../../src/dev/certificates.js';
import { availableFlavors, type PostgresFlavor } from '../../../src/dev/postgres-binaries.js';
import { startCluster, type Cluster } from '../../../src/dev/postgres-cluster.js';

const SCRAM_USER = { name: 'scram_user', password: "s3cret'pa$$" };
const MD5_USER = { name: 'md5_user', password: 'md5-pass' };
const HOSTSSL_ONLY = [
  `hostssl all ${MD5_USER.name} 127.0.0.1/32 md5`,
  'hostssl all all 127.0.0.1/32 scram-sha-256',
];

async function connect(cluster: Cluster, config: pg.ClientConfig): Promise<pg.Client> {
  const client = new pg.Client({ host: cluster.host, port: cluster.port, database: 'app', ...config });
  client.on('error', () => {});
  await client.connect();
  return client;
}

async function connectError(cluster: Cluster, config: pg.ClientConfig): Promise<{ code?: string; message: string }> {
  try {
    const client = await connect(cluster, config);
    await client.end();
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error('expected the connection to be refused');
}

function postgresUid(): number | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  return line ? Number(line.split(':')[2]) : undefined;
}

export function describeClusterBehaviour(flavor: PostgresFlavor, expectedMajor: number): void {
  describe.skipIf(!availableFlavors().includes(flavor))(`${flavor} cluster`, () => {
    let ca: CertificateAuthority;
    let cluster: Cluster;
    let tls: pg.ClientConfig['ssl'];

    beforeAll(async () => {
      ca = await createCertificateAuthority(`gatehouse ${flavor} test CA`);
      const server = await ca.issue({ commonName: 'localhost', dnsNames: ['localhost'], usage: 'server' });
      tls = { ca: ca.certPem, servername: 'localhost' };
      cluster = await startCluster({
        flavor,
        ssl: { certPem: server.certPem, keyPem: server.keyPem, caPem: ca.certPem },
        hba: HOSTSSL_ONLY,
        users: [
          { ...SCRAM_USER, passwordEncryption: 'scram-sha-256' },
          { ...MD5_USER, passwordEncryption: 'md5' },
        ],
        databases: [{ name: 'app', owner: SCRAM_USER.name }],
      });
    });

    afterAll(async () => {
      await cluster?.stop();
    });

    it(`reports PostgreSQL ${expectedMajor} from SELECT version() over the Unix socket`, async () => {
      expect(cluster.version).toMatch(new RegExp(`^${expectedMajor}\\.\\d+$`));
      const rows = await cluster.query('SELECT version()');
      expect(rows).toHaveLength(1);
      expect(rows[0][0]).toMatch(new RegExp(`^PostgreSQL ${cluster.version.replace('.', '\\.')}\\b`));
      expect(cluster.host).toBe('127.0.0.1');
      expect(Buffer.byteLength(`${cluster.socketDir}/.s.PGSQL.${cluster.port}`)).toBeLessThan(107);
    });

    it('runs as the postgres OS user under root, with a 0600 key it owns', async () => {
      const keyStat = fs.statSync(`${cluster.dataDir}/server.key`);
      expect(keyStat.mode & 0o777).toBe(0o600);
      const uid = postgresUid();
      if (uid !== undefined) {
        expect(keyStat.uid).toBe(uid);
        expect(fs.statSync(cluster.dataDir).uid).toBe(uid);
      }
      expect(await cluster.query('SHOW ssl')).toEqual([['on']]);
    });

    it('returns rows from a named database and several statements, NULL as empty text', async () => {
      const rows = await cluster.query("SELECT current_database(), NULL::text; SELECT 'x'", 'app');
      expect(rows).toEqual([['app', ''], ['x']]);
    });

    it('rejects a failing statement with the server message and SQLSTATE', async () => {
      await expect(cluster.query('SELECT 1/0')).rejects.toMatchObject({
        sqlstate: '22012',
        message: 'division by zero (SQLSTATE 22012)',
      });
      // The admin path still works after an error.
      expect(await cluster.query('SELECT 2')).toEqual([['2']]);
    });

    it('gives a pg client that trusts the CA and names localhost a TLS session as a SCRAM user', async () => {
      const client = await connect(cluster, { user: SCRAM_USER.name, password: SCRAM_USER.password, ssl: tls });
      try {
        const { rows } = await client.query('SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
        expect(rows).toEqual([{ ssl: true, version: expect.stringMatching(/^TLSv1\.[23]$/) }]);
      } finally {
        await client.end();
      }
      const [[stored]] = await cluster.query(`SELECT rolpassword FROM pg_authid WHERE rolname = '${SCRAM_USER.name}'`);
      expect(stored.startsWith('SCRAM-SHA-256$')).toBe(true);
    });

    it('authenticates a user whose password was stored as md5, and refuses a wrong one with 28P01', async () => {
      const [[stored]] = await cluster.query(`SELECT rolpassword FROM pg_authid WHERE rolname = '${MD5_USER.name}'`);
      expect(stored).toMatch(/^md5[0-9a-f]{32}$/);
      const client = await connect(cluster, { user: MD5_USER.name, password: MD5_USER.password, ssl: tls });
      expect((await client.query('SELECT current_user AS u')).rows).toEqual([{ u: MD5_USER.name }]);
      await client.end();
      const wrong = await connectError(cluster, { user: MD5_USER.name, password: 'nope', ssl: tls });
      expect(wrong.code).toBe('28P01');
    });

    it('refuses a non-TLS pg client under a hostssl-only pg_hba.conf with 28000', async () => {
      const err = await connectError(cluster, { user: SCRAM_USER.name, password: SCRAM_USER.password, ssl: false });
      expect(err.code).toBe('28000');
      expect(err.message).toMatch(/no pg_hba\.conf entry/);
    });

    it('applies a rewritten pg_hba.conf to the next connection after writeHba', async () => {
      const plain = { user: SCRAM_USER.name, password: SCRAM_USER.password, ssl: false };
      await cluster.writeHba([...HOSTSSL_ONLY, 'host all all 127.0.0.1/32 scram-sha-256']);
      const client = await connect(cluster, plain);
      expect((await client.query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows).toEqual([{ ssl: false }]);
      await client.end();
      await cluster.writeHba(HOSTSSL_ONLY);
      expect((await connectError(cluster, plain)).code).toBe('28000');
      expect(fs.readFileSync(`${cluster.dataDir}/pg_hba.conf`, 'utf8').split('\n')[0]).toBe('local all all trust');
    });

    it('refuses pg_hba.conf lines PostgreSQL cannot parse and keeps the previous rules', async () => {
      const before = fs.readFileSync(`${cluster.dataDir}/pg_hba.conf`, 'utf8');
      await expect(cluster.writeHba(['host all all 127.0.0.1/32 no-such-method'])).rejects.toThrow(
        /rejects these pg_hba\.conf lines[\s\S]*no-such-method/,
      );
      expect(fs.readFileSync(`${cluster.dataDir}/pg_hba.conf`, 'utf8')).toBe(before);
      const client = await connect(cluster, { user: SCRAM_USER.name, password: SCRAM_USER.password, ssl: tls });
      await client.end();
    });

    it('stops: the port closes and the base and socket directories are removed, however often stop() is called', async () => {
      const { baseDir, socketDir, port } = cluster;
      expect(fs.existsSync(baseDir)).toBe(true);
      await Promise.all([cluster.stop(), cluster.stop()]);
      await cluster.stop();
      expect(fs.existsSync(baseDir)).toBe(false);
      expect(fs.existsSync(socketDir)).toBe(false);
      expect(await tcpAccepts(port)).toBe(false);
    });
  });
}

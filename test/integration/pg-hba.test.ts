// general.pg_hba end to end with psql: every rule type and method, first match wins, refusals worded as PostgreSQL
// words them (FATAL 28000 naming address, user, database and TLS state), and the journal (and `gatehouse replay`)
// naming the rule that decided. pg_hba is gatehouse's own decision, so one PostgreSQL flavor is enough here.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatScramSecret, deriveScramSecret } from '../../src/auth/index.js';
import type { ClientSessionContext } from '../../machines/client-session.js';
import { ensureBuilt, runCli } from '../fixtures/cli.js';
import { APP_DATABASE, APP_USER, FLAVORS, startTestCluster, type Cluster } from '../fixtures/clusters.js';
import { poolFor, startGatehouse, type RunningGatehouse } from '../fixtures/gatehouse.js';
import { createPki, type CertificateFiles, type Pki } from '../fixtures/pki.js';
import { conninfo, psql } from '../fixtures/psql.js';

const PASSWORD = 'hba-pass';
const md5 = (user: string, password: string) => `md5${createHash('md5').update(password + user).digest('hex')}`;

// Line numbers matter: the tests name them.
const RULES = `# gatehouse pg_hba rules for the end-to-end test
hostssl   all  certuser        127.0.0.1/32  cert
host      all  rejected        127.0.0.1/32  reject
hostssl   all  sslonly         127.0.0.1/32  scram-sha-256
hostnossl all  plainonly       127.0.0.1/32  scram-sha-256
host      all  trusted         127.0.0.1/32  trust
host      all  app_user,md5_user,scram_user  127.0.0.1/32  md5
host      all  md5_scram_only  127.0.0.1/32  scram-sha-256
host      all  all             10.0.0.0/8    trust
`;

describe(`pg_hba in front of ${FLAVORS[0]}`, () => {
  let pki: Pki;
  let cluster: Cluster;
  let gh: RunningGatehouse;
  let journalFile: string;
  let hbaFile: string;
  let certUser: CertificateFiles;
  let otherUser: CertificateFiles;

  /** psql as `user`; `tls` verifies gatehouse's certificate; `cert` presents a client certificate. */
  const run = (user: string, opts: { tls?: boolean; password?: string | null; cert?: CertificateFiles } = {}) => {
    const params: Record<string, string | number> = { host: gh.host, port: gh.port, dbname: APP_DATABASE, user };
    if (opts.password !== null) params.password = opts.password ?? PASSWORD;
    Object.assign(params, opts.tls ? { sslmode: 'verify-full', sslrootcert: pki.caFile } : { sslmode: 'disable' });
    // Never a certificate libpq finds on its own (~/.postgresql): only the one the test gives.
    Object.assign(params, opts.cert ? { sslcert: opts.cert.certFile, sslkey: opts.cert.keyFile } : { sslcert: '/nonexistent.crt' });
    return psql(conninfo(params), ['-w', '-Atc', 'SELECT current_user']);
  };

  /** The final context of the last client-session connection that ended. */
  const lastSession = () => {
    const records = gh.gateway.journals.endedRecords().filter((r) => r.machine === 'client-session');
    const record = records[records.length - 1];
    return { context: record.final?.context as ClientSessionContext, events: record.entries.map((e) => e.event) };
  };

  beforeAll(async () => {
    pki = await createPki();
    cluster = await startTestCluster(FLAVORS[0], pki);
    [certUser, otherUser] = await Promise.all([pki.clientCertificate('certuser'), pki.clientCertificate('someone_else')]);
    hbaFile = path.join(pki.dir, 'pg_hba.conf');
    journalFile = path.join(pki.dir, 'journal.jsonl');
    await fs.writeFile(hbaFile, RULES);
    const server = { server_username: APP_USER.name, server_password: APP_USER.password };
    const users = ['certuser', 'rejected', 'sslonly', 'plainonly', 'trusted', 'scram_user', 'md5_user', 'md5_scram_only'].map((name) => ({
      username: name,
      password:
        name === 'scram_user'
          ? formatScramSecret(deriveScramSecret(PASSWORD))
          : name.startsWith('md5_')
            ? md5(name, PASSWORD)
            : PASSWORD,
      ...server,
    }));
    gh = await startGatehouse({
      general: {
        tls_mode: 'allow',
        tls_certificate: pki.gatehouse.certFile,
        tls_private_key: pki.gatehouse.keyFile,
        tls_ca_cert: pki.caFile,
        pg_hba: { path: hbaFile },
        journal_file: journalFile,
      },
      pools: { [APP_DATABASE]: poolFor(cluster, pki, { users: [{ username: APP_USER.name, password: APP_USER.password }, ...users] }) },
    });
    await ensureBuilt();
  });

  afterAll(async () => {
    await gh?.stop();
    await cluster?.stop();
    await pki?.remove();
  });

  const refusal = (user: string, encryption: 'SSL encryption' | 'no encryption') =>
    `host "127.0.0.1", user "${user}", database "${APP_DATABASE}", ${encryption}`;

  it('trust lets a client in without a password', async () => {
    const result = await run('trusted', { password: null });
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(`${APP_USER.name}\n`);
    expect(lastSession().context.authMethod).toBe('trust');
  });

  it('reject refuses with FATAL 28000 in PostgreSQL\'s words', async () => {
    const result = await run('rejected');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`FATAL:  pg_hba.conf rejects connection for ${refusal('rejected', 'no encryption')}`);
  });

  it('a client no rule matches is refused, naming address, user, database and TLS state', async () => {
    const plain = await run('stranger');
    expect(plain.stderr).toContain(`FATAL:  no pg_hba.conf entry for ${refusal('stranger', 'no encryption')}`);
    const tls = await run('stranger', { tls: true });
    expect(tls.stderr).toContain(`FATAL:  no pg_hba.conf entry for ${refusal('stranger', 'SSL encryption')}`);
  });

  it('hostssl admits a TLS client and refuses a plaintext one', async () => {
    expect((await run('sslonly', { tls: true })).stdout).toBe(`${APP_USER.name}\n`);
    const plain = await run('sslonly');
    expect(plain.code).toBe(2);
    expect(plain.stderr).toContain(`FATAL:  no pg_hba.conf entry for ${refusal('sslonly', 'no encryption')}`);
  });

  it('hostnossl admits a plaintext client and refuses a TLS one', async () => {
    expect((await run('plainonly')).stdout).toBe(`${APP_USER.name}\n`);
    const tls = await run('plainonly', { tls: true });
    expect(tls.code).toBe(2);
    expect(tls.stderr).toContain(`FATAL:  no pg_hba.conf entry for ${refusal('plainonly', 'SSL encryption')}`);
  });

  it('md5 runs the MD5 exchange for a plaintext password and an md5 hash, and SCRAM for a SCRAM secret', async () => {
    for (const [user, method] of [['app_user', 'md5'], ['md5_user', 'md5'], ['scram_user', 'scram-sha-256']] as const) {
      const password = user === 'app_user' ? APP_USER.password : PASSWORD;
      const result = await run(user, { password });
      expect(result.stderr, user).toBe('');
      expect(lastSession().context.authMethod, user).toBe(method);
      const wrong = await run(user, { password: 'wrong' });
      expect(wrong.stderr, user).toContain(`FATAL:  password authentication failed for user "${user}"`);
    }
  });

  it('scram-sha-256 refuses a user whose password is an md5 hash with 28P01, after a full (mock) exchange', async () => {
    const result = await run('md5_scram_only');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('FATAL:  password authentication failed for user "md5_scram_only"');
    expect(lastSession().context).toMatchObject({ authMethod: 'scram-sha-256', mockAuth: true });
  });

  it('cert admits a client whose verified certificate names the user, without a password', async () => {
    const result = await run('certuser', { tls: true, password: null, cert: certUser });
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(`${APP_USER.name}\n`);
    expect(lastSession().context.authMethod).toBe('cert');
  });

  it('cert refuses a certificate for another user, and a client without one', async () => {
    const other = await run('certuser', { tls: true, password: null, cert: otherUser });
    expect(other.stderr).toContain('FATAL:  certificate authentication failed for user "certuser"');
    const none = await run('certuser', { tls: true, password: null });
    expect(none.stderr).toContain('FATAL:  connection requires a valid client certificate');
    // cert rules are hostssl: a plaintext client does not match them at all.
    expect((await run('certuser', { password: null })).stderr).toContain(`no pg_hba.conf entry for ${refusal('certuser', 'no encryption')}`);
  });

  it('the journal and gatehouse replay name the rule that decided', async () => {
    await run('rejected');
    const startup = lastSession().events.find((e) => e.type === 'client.startup');
    expect(startup).toMatchObject({ hba: { kind: 'match', source: hbaFile, line: 3, method: 'reject', text: 'host all rejected 127.0.0.1/32 reject' } });
    await expect.poll(async () => (await fs.readFile(journalFile, 'utf8')).includes('"reject"')).toBe(true);
    const replay = await runCli(['replay', journalFile]);
    expect(replay.code).toBe(0);
    expect(replay.stdout).toContain(`client.startup (pg_hba ${hbaFile}:3: host all rejected 127.0.0.1/32 reject) [isHbaReject] → failed`);
    expect(replay.stdout).toContain(`client.startup (pg_hba ${hbaFile}:5: hostnossl all plainonly 127.0.0.1/32 scram-sha-256) → connected.negotiating.authenticating`);
  });
});

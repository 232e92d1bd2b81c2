// general.pg_hba end to end with psycopg2 (libpq 15 underneath, as a Python application has it): every rule type
// (local over the Unix socket, host, hostssl, hostnossl) and every method (trust, reject, md5, scram-sha-256, cert).
// psycopg2 cannot tell the SQLSTATE of a refused connection (its pgcode is None then), so each refusal is checked
// twice: the FATAL message psycopg2 shows, and the SQLSTATE gatehouse's journal says it sent. pg_hba is gatehouse's
// own decision, so one PostgreSQL flavor is enough.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveScramSecret, formatScramSecret } from '../../src/auth/index.js';
import { APP_DATABASE, APP_USER, FLAVORS, startTestCluster, type Cluster } from '../fixtures/clusters.js';
import { clientSessionsDuring, poolFor, startGatehouse, type RunningGatehouse } from '../fixtures/gatehouse.js';
import { createPki, type CertificateFiles, type Pki } from '../fixtures/pki.js';
import { psycopg2ConnectError, psycopg2Session, type Psycopg2Connect } from '../fixtures/psycopg2.js';

const PASSWORD = 'psycopg2-hba-pass';
const md5 = (user: string, password: string) => `md5${createHash('md5').update(password + user).digest('hex')}`;

const RULES = `# psycopg2 end-to-end rules
local     all  local_trusted  trust
local     all  local_scram    scram-sha-256
local     all  all            reject
hostssl   all  certuser       127.0.0.1/32  cert
host      all  rejected       127.0.0.1/32  reject
hostssl   all  sslonly        127.0.0.1/32  scram-sha-256
hostnossl all  plainonly      127.0.0.1/32  md5
host      all  trusted        127.0.0.1/32  trust
host      all  md5_user       127.0.0.1/32  md5
host      all  scram_user     127.0.0.1/32  scram-sha-256
`;

const USERS = ['certuser', 'rejected', 'sslonly', 'plainonly', 'trusted', 'md5_user', 'scram_user', 'local_trusted', 'local_scram'];

describe(`pg_hba with psycopg2 in front of ${FLAVORS[0]}`, () => {
  let pki: Pki;
  let cluster: Cluster;
  let gh: RunningGatehouse;
  let socketDir: string;
  let certUser: CertificateFiles;
  let otherUser: CertificateFiles;

  /** psycopg2 over TCP as `user`: plaintext unless `tls`; never a client certificate libpq finds on its own. */
  const tcp = (user: string, extra: Psycopg2Connect = {}): Psycopg2Connect => ({
    host: gh.host,
    port: gh.port,
    dbname: APP_DATABASE,
    user,
    password: PASSWORD,
    sslmode: 'disable',
    sslcert: '/nonexistent.crt',
    ...extra,
  });
  const verified = (): Psycopg2Connect => ({ sslmode: 'verify-full', sslrootcert: pki.caFile });
  /** psycopg2 over the Unix socket: host is the socket directory, as for PostgreSQL. */
  const socket = (user: string, extra: Psycopg2Connect = {}): Psycopg2Connect => ({ host: socketDir, port: gh.port, dbname: APP_DATABASE, user, ...extra });

  /** Logs in, runs SELECT current_user; what psycopg2 saw, and how gatehouse authenticated the client. */
  const login = async (connect: Psycopg2Connect) => {
    const { result, sessions } = await clientSessionsDuring(gh, () => psycopg2Session(connect, ['SELECT current_user']));
    if (!result.ok) throw new Error(`psycopg2 as ${String(connect.user)} was refused: ${result.message}`);
    return { rows: result.sessions[0].rows[0], ssl: result.sessions[0].ssl, authMethod: sessions.at(-1)?.authMethod };
  };
  /** A refused login: psycopg2's message, its pgcode, and the SQLSTATE gatehouse sent. */
  const refused = async (connect: Psycopg2Connect) => {
    const { result, sessions } = await clientSessionsDuring(gh, () => psycopg2ConnectError(connect));
    expect(result.error).toBe('OperationalError');
    const sqlstate = sessions.at(-1)?.failure?.sqlstate;
    // psycopg2 2.9 leaves pgcode None here; should a later one fill it, it must agree.
    expect([null, sqlstate]).toContain(result.pgcode);
    return { message: result.message, sqlstate };
  };
  const who = (user: string, encryption: 'SSL encryption' | 'no encryption', host = '127.0.0.1') =>
    `host "${host}", user "${user}", database "${APP_DATABASE}", ${encryption}`;

  beforeAll(async () => {
    pki = await createPki();
    socketDir = await fs.mkdtemp('/tmp/ghp-');
    cluster = await startTestCluster(FLAVORS[0], pki);
    [certUser, otherUser] = await Promise.all([pki.clientCertificate('certuser'), pki.clientCertificate('someone_else')]);
    const server = { server_username: APP_USER.name, server_password: APP_USER.password };
    const password = (name: string) =>
      name === 'md5_user' ? md5(name, PASSWORD) : name === 'scram_user' ? formatScramSecret(deriveScramSecret(PASSWORD)) : PASSWORD;
    gh = await startGatehouse({
      general: {
        tls_mode: 'allow',
        tls_certificate: pki.gatehouse.certFile,
        tls_private_key: pki.gatehouse.keyFile,
        tls_ca_cert: pki.caFile,
        unix_socket_dir: socketDir,
        pg_hba: { content: RULES },
      },
      pools: { [APP_DATABASE]: poolFor(cluster, pki, { users: USERS.map((name) => ({ username: name, password: password(name), ...server })) }) },
    });
  });

  afterAll(async () => {
    await gh?.stop();
    await cluster?.stop();
    await pki?.remove();
    if (socketDir) await fs.rm(socketDir, { recursive: true, force: true });
  });

  it('trust: psycopg2 connects without a password and queries', async () => {
    const { password: _none, ...noPassword } = tcp('trusted');
    expect(await login(noPassword)).toEqual({ rows: [[APP_USER.name]], ssl: false, authMethod: 'trust' });
  });

  it('reject: refused with FATAL 28000 "pg_hba.conf rejects connection"', async () => {
    const { message, sqlstate } = await refused(tcp('rejected'));
    expect(message).toContain(`FATAL:  pg_hba.conf rejects connection for ${who('rejected', 'no encryption')}`);
    expect(sqlstate).toBe('28000');
  });

  it('a client no rule matches is refused with 28000, naming address, user, database and TLS state', async () => {
    const plain = await refused(tcp('stranger'));
    expect(plain).toEqual({ message: expect.stringContaining(`FATAL:  no pg_hba.conf entry for ${who('stranger', 'no encryption')}`), sqlstate: '28000' });
    const tls = await refused(tcp('stranger', verified()));
    expect(tls).toEqual({ message: expect.stringContaining(`FATAL:  no pg_hba.conf entry for ${who('stranger', 'SSL encryption')}`), sqlstate: '28000' });
  });

  it('hostssl: a verified TLS client gets in, a plaintext client (sslmode=disable) is refused with 28000', async () => {
    expect(await login(tcp('sslonly', verified()))).toEqual({ rows: [[APP_USER.name]], ssl: true, authMethod: 'scram-sha-256' });
    const plain = await refused(tcp('sslonly'));
    expect(plain).toEqual({ message: expect.stringContaining(`FATAL:  no pg_hba.conf entry for ${who('sslonly', 'no encryption')}`), sqlstate: '28000' });
  });

  it('hostnossl: a plaintext client gets in, a TLS client is refused, and sslmode=prefer gets in on libpq\'s plain retry', async () => {
    expect(await login(tcp('plainonly'))).toEqual({ rows: [[APP_USER.name]], ssl: false, authMethod: 'md5' });
    const tls = await refused(tcp('plainonly', verified()));
    expect(tls).toEqual({ message: expect.stringContaining(`FATAL:  no pg_hba.conf entry for ${who('plainonly', 'SSL encryption')}`), sqlstate: '28000' });
    // libpq's default: TLS first; refused after the handshake, it tries again in plaintext, which the rule admits.
    const { result, sessions } = await clientSessionsDuring(gh, () => psycopg2Session(tcp('plainonly', { sslmode: 'prefer' }), ['SELECT current_user']));
    expect(result).toEqual({ ok: true, sessions: [{ ssl: false, rows: [[[APP_USER.name]]] }] });
    expect(sessions.map((s) => [s.tls, s.failure?.sqlstate ?? null])).toEqual([
      [true, '28000'],
      [false, null],
    ]);
  });

  it('md5: the right password gets in by the MD5 exchange, a wrong one is refused with 28P01', async () => {
    expect(await login(tcp('md5_user'))).toEqual({ rows: [[APP_USER.name]], ssl: false, authMethod: 'md5' });
    const wrong = await refused(tcp('md5_user', { password: 'wrong' }));
    expect(wrong).toEqual({ message: expect.stringContaining('FATAL:  password authentication failed for user "md5_user"'), sqlstate: '28P01' });
  });

  it('scram-sha-256: the right password gets in by SCRAM, a wrong one is refused with 28P01', async () => {
    expect(await login(tcp('scram_user'))).toEqual({ rows: [[APP_USER.name]], ssl: false, authMethod: 'scram-sha-256' });
    const wrong = await refused(tcp('scram_user', { password: 'wrong' }));
    expect(wrong).toEqual({ message: expect.stringContaining('FATAL:  password authentication failed for user "scram_user"'), sqlstate: '28P01' });
  });

  it('cert: a verified certificate naming the user gets in without a password; another user\'s, or none, is refused with 28000', async () => {
    const withCert = (cert: CertificateFiles) => ({ ...verified(), sslcert: cert.certFile, sslkey: cert.keyFile });
    const { password: _none, ...noPassword } = tcp('certuser');
    expect(await login({ ...noPassword, ...withCert(certUser) })).toEqual({ rows: [[APP_USER.name]], ssl: true, authMethod: 'cert' });
    const other = await refused({ ...noPassword, ...withCert(otherUser) });
    expect(other).toEqual({ message: expect.stringContaining('FATAL:  certificate authentication failed for user "certuser"'), sqlstate: '28000' });
    const none = await refused({ ...noPassword, ...verified() });
    expect(none).toEqual({ message: expect.stringContaining('FATAL:  connection requires a valid client certificate'), sqlstate: '28000' });
  });

  it('local over the Unix socket (host=<unix_socket_dir>): trust, scram-sha-256, and the socket\'s reject rule for everyone else', async () => {
    expect(await login(socket('local_trusted'))).toEqual({ rows: [[APP_USER.name]], ssl: false, authMethod: 'trust' });
    expect(await login(socket('local_scram', { password: PASSWORD }))).toEqual({ rows: [[APP_USER.name]], ssl: false, authMethod: 'scram-sha-256' });
    const wrong = await refused(socket('local_scram', { password: 'wrong' }));
    expect(wrong).toEqual({ message: expect.stringContaining('FATAL:  password authentication failed for user "local_scram"'), sqlstate: '28P01' });
    // trusted has a host trust rule, which the socket does not read: the local catch-all refuses it there.
    const hostRule = await refused(socket('trusted', { password: PASSWORD }));
    expect(hostRule).toEqual({ message: expect.stringContaining(`FATAL:  pg_hba.conf rejects connection for ${who('trusted', 'no encryption', '[local]')}`), sqlstate: '28000' });
  });
});

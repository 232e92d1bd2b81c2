// The Unix-domain socket listener: psql -h <unix_socket_dir> connects, an SSLRequest there is answered N as
// PostgreSQL answers it, pg_hba `local` rules apply to it and `host*` rules do not, tls_mode require does not refuse
// it, the socket file has the configured mode, and a leftover socket file is handled like PgDoorman handles it.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/dev/index.js';
import { APP_DATABASE, APP_USER, FLAVORS, startTestCluster, type Cluster } from '../fixtures/clusters.js';
import { clientTls, poolFor, startGatehouse, startGatehouseFromFile, type RunningGatehouse } from '../fixtures/gatehouse.js';
import { createPki, type Pki } from '../fixtures/pki.js';
import { conninfo, psql, psqlQuery, type Libpq } from '../fixtures/psql.js';
import { messageTypes, SSL_REQUEST_CODE, startupMessage, startupPacket } from '../fixtures/raw-socket.js';

const RULES = `local     all  ${APP_USER.name}  scram-sha-256
local     all  trusted     trust
host      all  hostonly    0.0.0.0/0     trust
hostssl   all  all         127.0.0.1/32  scram-sha-256
`;

/** Reads until `count` bytes arrived or the peer closed. */
function readBytes(socket: net.Socket, count: number): Promise<Buffer> {
  return new Promise((resolve) => {
    let data = Buffer.alloc(0);
    const done = () => {
      socket.off('data', onData);
      resolve(data);
    };
    const onData = (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      if (data.length >= count) done();
    };
    socket.on('data', onData);
    socket.once('close', done);
  });
}

describe(`the Unix socket listener in front of ${FLAVORS[0]}`, () => {
  let pki: Pki;
  let cluster: Cluster;
  let dir: string;
  let gh: RunningGatehouse;
  const socketFile = () => path.join(dir, `.s.PGSQL.${gh.port}`);
  const local = (user: string, extra: Record<string, string> = {}) =>
    conninfo({ host: dir, port: gh.port, dbname: APP_DATABASE, user, ...extra });

  beforeAll(async () => {
    pki = await createPki();
    cluster = await startTestCluster(FLAVORS[0], pki);
    // Short: a socket path must fit in 107 bytes.
    dir = await fs.mkdtemp('/tmp/ghu-');
    gh = await startGatehouse({
      general: { ...clientTls(pki, 'require'), unix_socket_dir: dir, unix_socket_mode: '0660', pg_hba: RULES },
      pools: {
        [APP_DATABASE]: poolFor(cluster, pki, {
          users: [
            { username: APP_USER.name, password: APP_USER.password },
            { username: 'trusted', password: 'x', server_username: APP_USER.name, server_password: APP_USER.password },
            { username: 'hostonly', password: 'x', server_username: APP_USER.name, server_password: APP_USER.password },
          ],
        }),
      },
    });
  });

  afterAll(async () => {
    await gh?.stop();
    await cluster?.stop();
    await pki?.remove();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('creates .s.PGSQL.<port> in unix_socket_dir with the configured mode', async () => {
    const stat = await fs.stat(socketFile());
    expect(stat.isSocket()).toBe(true);
    expect(stat.mode & 0o777).toBe(0o660);
  });

  it.each([15, 18] as Libpq[])('psql (libpq %i) -h <unix_socket_dir> logs in through a local rule, plain despite tls_mode require', async (libpq) => {
    const result = await psql(local(APP_USER.name, { password: APP_USER.password }), ['-c', '\\conninfo', '-Atc', 'SELECT current_user'], { libpq });
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain(`via socket in "${dir}"`);
    expect(result.stdout).toContain(`${APP_USER.name}\n`);
  });

  it('a local trust rule lets a client in without a password', async () => {
    const result = await psql(local('trusted'), ['-w', '-Atc', 'SELECT current_user']);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(`${APP_USER.name}\n`);
  });

  it('host rules do not apply to the socket: a user with only a host rule is refused there, and let in over TCP', async () => {
    const result = await psqlQuery(local('hostonly', { password: 'x' }), 'SELECT 1');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`FATAL:  no pg_hba.conf entry for host "[local]", user "hostonly", database "${APP_DATABASE}", no encryption`);
    const tcp = await psqlQuery(conninfo({ host: gh.host, port: gh.port, dbname: APP_DATABASE, user: 'hostonly', sslmode: 'require' }), 'SELECT 1', { timeoutMs: 20_000 });
    expect(tcp.stderr).toBe('');
  });

  it('local rules do not apply to TCP: the same user over TCP goes by the TCP rules', async () => {
    const tcp = await psqlQuery(conninfo({ host: gh.host, port: gh.port, dbname: APP_DATABASE, user: 'trusted', sslmode: 'require' }), 'SELECT 1');
    // Not trust: the hostssl scram-sha-256 rule asks for a password, and there is none.
    expect(tcp.code).toBe(2);
    expect(tcp.stderr).toMatch(/password|fe_sendauth: no password supplied/);
  });

  it('an SSLRequest on the socket is answered N, and the plain StartupMessage after it is served', async () => {
    const socket = net.connect(socketFile());
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(startupPacket(SSL_REQUEST_CODE));
    expect((await readBytes(socket, 1)).toString('latin1')).toBe('N');
    socket.write(startupMessage({ user: APP_USER.name, database: APP_DATABASE }));
    const reply = await readBytes(socket, 9);
    expect(messageTypes(reply)[0]).toBe('R');
    expect(reply.readInt32BE(5)).toBe(10); // AuthenticationSASL
    socket.destroy();
  });
});

describe('a socket file already in unix_socket_dir', () => {
  let dir: string;
  let config: string;
  let port: number;

  beforeAll(async () => {
    dir = await fs.mkdtemp('/tmp/ghu-');
    port = await freePort();
    config = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'ghu-config-')), 'gatehouse.yaml');
    await fs.writeFile(config, `general:\n  port: ${port}\n  unix_socket_dir: ${dir}\npools:\n  app:\n    users: [{ username: a, password: b }]\n`);
  });

  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
    await fs.rm(path.dirname(config), { recursive: true, force: true });
  });

  const start = () => startGatehouseFromFile(config, (c) => (c.general.port = port));

  it('is replaced when no process listens on it any more (left by one that died)', async () => {
    const file = path.join(dir, `.s.PGSQL.${port}`);
    // A process that listened on the socket and was killed, so it never removed the file.
    const child = spawn(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(file)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await once(child.stdout!, 'data');
    child.kill('SIGKILL');
    await once(child, 'exit');
    expect((await fs.stat(file)).isSocket()).toBe(true);
    const gh = await start();
    try {
      const answered = await new Promise<string>((resolve, reject) => {
        const s = net.connect(file, () => s.write(startupPacket(SSL_REQUEST_CODE)));
        s.once('data', (d) => {
          resolve(d.toString('latin1'));
          s.destroy();
        });
        s.once('error', reject);
      });
      expect(answered).toBe('N');
    } finally {
      await gh.stop();
    }
    await expect(fs.stat(file), 'removed when gatehouse stops').rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('is an error naming unix_socket_dir when another process still listens on it', async () => {
    const file = path.join(dir, `.s.PGSQL.${port}`);
    const other = net.createServer((s) => s.destroy());
    await new Promise<void>((resolve) => other.listen(file, resolve));
    try {
      await expect(start()).rejects.toMatchObject({ keyPath: 'general.unix_socket_dir', message: `cannot listen on ${file}: another process is already listening on it` });
      // The TCP port was let go again, so nothing half-started is left behind.
      const probe = net.createServer();
      await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(port, '127.0.0.1', resolve));
      await new Promise<void>((resolve) => probe.close(() => resolve()));
    } finally {
      await new Promise<void>((resolve) => other.close(() => resolve()));
    }
  });
});

// Reconfigures a running test cluster between groups of tests instead of starting new ones (a cluster
// costs seconds here): ssl on/off and the server certificate are reloadable settings, pg_hba.conf too.
// Every change is checked from the outside (what the port answers to an SSLRequest, which certificate
// it serves) so that a reload PostgreSQL ignored cannot pass for the configuration a test expects.
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import type { Cluster } from '../../../fixtures/clusters.js';
import type { Pki } from '../../../fixtures/pki.js';
import { SSL_REQUEST_CODE, startupPacket } from '../../../fixtures/raw-socket.js';
import { waitUntil } from '../../../fixtures/wait.js';

/** 'on': the PKI's certificate naming localhost and 127.0.0.1; 'localhost-only': one naming DNS:localhost only. */
export type BackendSsl = 'off' | 'on' | 'localhost-only';

const CERT_FILES: Record<Exclude<BackendSsl, 'off'>, { cert: string; key: string }> = {
  on: { cert: 'server.crt', key: 'server.key' },
  'localhost-only': { cert: 'server-localhost-only.crt', key: 'server-localhost-only.key' },
};

/** The PostgreSQL data directory's owner must own a key it reads (and only it may read it). */
async function writeOwnedLike(dataDir: string, name: string, content: string, mode: number): Promise<void> {
  const owner = await fs.stat(dataDir);
  const file = path.join(dataDir, name);
  await fs.writeFile(file, content, { mode });
  await fs.chmod(file, mode);
  await fs.chown(file, owner.uid, owner.gid);
}

async function setting(cluster: Cluster, name: string): Promise<string> {
  return (await cluster.query(`SELECT current_setting('${name}')`))[0][0];
}

/** What the server answers to an SSLRequest: 'N', or 'S' with the subjectAltName of the certificate it serves. */
export function probeServerTls(port: number): Promise<{ reply: 'N' } | { reply: 'S'; subjectAltName: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('error', reject);
    socket.once('connect', () => socket.write(startupPacket(SSL_REQUEST_CODE)));
    socket.once('data', (reply: Buffer) => {
      if (reply.toString('latin1') === 'N') {
        socket.destroy();
        return resolve({ reply: 'N' });
      }
      if (reply.toString('latin1') !== 'S') return reject(new Error(`unexpected answer to SSLRequest: ${reply.toString('hex')}`));
      const secure = tls.connect({ socket, rejectUnauthorized: false, ALPNProtocols: ['postgresql'] });
      secure.once('error', reject);
      secure.once('secureConnect', () => {
        const subjectAltName = secure.getPeerCertificate().subjectaltname ?? '';
        secure.destroy();
        resolve({ reply: 'S', subjectAltName });
      });
    });
  });
}

/**
 * Puts `cluster` in the given TLS configuration with exactly `hba` (after the admin trust line), and
 * resolves once new connections see it.
 */
export async function configureBackend(cluster: Cluster, pki: Pki, ssl: BackendSsl, hba: string[]): Promise<void> {
  if (ssl === 'localhost-only') {
    await writeOwnedLike(cluster.dataDir, CERT_FILES[ssl].cert, pki.postgresLocalhostOnly.certPem, 0o644);
    await writeOwnedLike(cluster.dataDir, CERT_FILES[ssl].key, pki.postgresLocalhostOnly.keyPem, 0o600);
  }
  const files = CERT_FILES[ssl === 'off' ? 'on' : ssl];
  const wanted = { ssl: ssl === 'off' ? 'off' : 'on', ssl_cert_file: files.cert, ssl_key_file: files.key };
  for (const [name, value] of Object.entries(wanted)) await cluster.query(`ALTER SYSTEM SET ${name} = '${value}'`);
  await cluster.query('SELECT pg_reload_conf()');
  // pg_hba.conf is checked against the ssl setting of the backend that checks it: reload ssl first.
  await waitUntil(`${cluster.flavor} to reload ssl = ${wanted.ssl}, ${files.cert}`, async () => {
    for (const [name, value] of Object.entries(wanted)) if ((await setting(cluster, name)) !== value) return false;
    return true;
  });
  await cluster.writeHba(hba);

  const served = await probeServerTls(cluster.port);
  const expected = ssl === 'off' ? 'N' : ssl === 'on' ? 'DNS:localhost, IP Address:127.0.0.1' : 'DNS:localhost';
  const got = served.reply === 'N' ? 'N' : served.subjectAltName;
  if (got !== expected) throw new Error(`${cluster.flavor} serves ${JSON.stringify(got)} after reconfiguring, expected ${JSON.stringify(expected)}`);
}

/** The postmaster's process id, from postmaster.pid. */
export async function postmasterPid(cluster: Cluster): Promise<number> {
  const text = await fs.readFile(path.join(cluster.dataDir, 'postmaster.pid'), 'utf8');
  const pid = Number(text.split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no postmaster pid in ${cluster.dataDir}/postmaster.pid`);
  return pid;
}

/** The cluster's log since `offset` bytes (see logSize). */
export async function logSince(cluster: Cluster, offset: number): Promise<string> {
  const all = await fs.readFile(cluster.logFile);
  return all.subarray(offset).toString('utf8');
}

export async function logSize(cluster: Cluster): Promise<number> {
  return (await fs.stat(cluster.logFile)).size;
}

/**
 * SIGHUP to a running `gatehouse --config` process: pools added to the file are served; the client-side certificate is re-read from
 * disk; new handshakes get the new one while an established TLS session stays up; a broken file
 * keeps the previous certificate and the process keeps serving.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/dev/index.js';
import { encodeSslRequest, encodeStartupMessage } from '../../src/protocol/index.js';
import { ensureBuilt, servingProcesses, spawnCli } from '../fixtures/cli.js';
import { createPki, type Pki } from '../fixtures/pki.js';
import { waitUntil } from '../fixtures/wait.js';

/** SSLRequest, 'S', TLS handshake: the connection and the serial of the certificate gatehouse showed. */
async function tlsTo(port: number): Promise<{ socket: TLSSocket; serial: string }> {
  const raw: Socket = connect(port, '127.0.0.1');
  await new Promise((resolve, reject) => raw.once('connect', resolve).once('error', reject));
  raw.write(encodeSslRequest());
  const reply = await new Promise<Buffer>((resolve) => raw.once('data', resolve));
  expect(reply.toString()).toBe('S');
  const socket = tlsConnect({ socket: raw, rejectUnauthorized: false, servername: 'localhost' });
  await new Promise((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  return { socket, serial: socket.getPeerCertificate().serialNumber };
}

describe('SIGHUP reloads the client-side certificate of a running gatehouse', () => {
  let pki: Pki;
  let dir: string;
  let child: ChildProcess;
  let port: number;
  let config: string;
  let log = '';
  const configText = (pools: string[]) =>
    [
      `general: { host: 127.0.0.1, port: ${port}, tls_mode: require, tls_certificate: server.crt, tls_private_key: server.key }`,
      `pools: { ${pools.map((p) => `${p}: { server_port: 1, users: [ { username: alice, password: secret } ] }`).join(', ')} }`,
    ].join('\n');
  /** The first answer to a StartupMessage for `database`: 'R' (a password exchange) for a pool, 'E' for none. */
  const startupAnswer = async (database: string) => {
    const { socket } = await tlsTo(port);
    socket.write(encodeStartupMessage({ user: 'alice', database }));
    const answer = await new Promise<Buffer>((resolve) => socket.once('data', resolve));
    socket.destroy();
    return String.fromCharCode(answer[0]);
  };

  const install = async (cert: { certPem: string; keyPem: string }) => {
    await fs.writeFile(path.join(dir, 'server.crt'), cert.certPem);
    await fs.writeFile(path.join(dir, 'server.key'), cert.keyPem, { mode: 0o600 });
  };
  const hup = async (expected: RegExp) => {
    const before = log.length;
    child.kill('SIGHUP');
    // Every worker applies the reload and logs it: the instance has reloaded once each has.
    const all = new RegExp(expected.source, 'g');
    await waitUntil(`gatehouse to log ${expected} from every worker`, () => (log.slice(before).match(all)?.length ?? 0) >= servingProcesses(log)!);
  };

  beforeAll(async () => {
    await ensureBuilt();
    pki = await createPki('sighup');
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-sighup-'));
    await install(pki.gatehouse);
    port = await freePort();
    config = path.join(dir, 'gatehouse.yaml');
    await fs.writeFile(config, configText(['app']));
    child = spawnCli(['--config', config]);
    child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    await waitUntil('gatehouse to serve on every worker', () => servingProcesses(log) !== null);
  });

  afterAll(async () => {
    child?.kill('SIGTERM');
    await pki?.remove();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('serves the rotated certificate to new handshakes while an open TLS session keeps working', async () => {
    const open = await tlsTo(port);
    expect(open.serial.toLowerCase()).toBe(pki.gatehouse.serialNumber.toLowerCase());

    const rotated = await pki.ca.issue({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], usage: 'server' });
    await install(rotated);
    await hup(/TLS material reloaded/);

    const fresh = await tlsTo(port);
    expect(fresh.serial.toLowerCase()).toBe(rotated.serialNumber.toLowerCase());
    fresh.socket.destroy();

    // The session opened before the reload still talks: its StartupMessage gets the SCRAM challenge.
    open.socket.write(encodeStartupMessage({ user: 'alice', database: 'app' }));
    const answer = await new Promise<Buffer>((resolve) => open.socket.once('data', resolve));
    expect(String.fromCharCode(answer[0])).toBe('R');
    open.socket.destroy();
  });

  it('a pool added to the file is served after SIGHUP, and one taken out is not', async () => {
    expect(await startupAnswer('reports')).toBe('E');
    await fs.writeFile(config, configText(['reports']));
    await hup(/configuration reloaded/);
    expect(await startupAnswer('reports')).toBe('R');
    expect(await startupAnswer('app')).toBe('E');
    await fs.writeFile(config, configText(['app']));
    await hup(/configuration reloaded/);
  });

  it('a broken certificate file on SIGHUP keeps the previous certificate and the process serving', async () => {
    const before = (await tlsTo(port)).serial;
    await fs.writeFile(path.join(dir, 'server.crt'), '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
    await hup(/TLS reload failed; keeping the previous material/);
    const after = await tlsTo(port);
    expect(after.serial).toBe(before);
    after.socket.destroy();
    expect(child.exitCode).toBeNull();
  });
});

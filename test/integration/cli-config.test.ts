// Configuration mistakes through the real command line: `gatehouse check-config FILE` and
// `gatehouse --config FILE` both refuse the file, name the key and the file, and the proxy never
// starts listening; a valid file passes and runs.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, tcpAccepts } from '../../src/dev/index.js';
import { cliResult, ensureBuilt, runCli, spawnCli } from '../fixtures/cli.js';
import { createPki, type Pki } from '../fixtures/pki.js';

type Doc = { general: Record<string, unknown>; pools: Record<string, Record<string, unknown>> };

describe('configuration errors through the CLI', () => {
  let pki: Pki;
  let dir: string;

  beforeAll(async () => {
    await ensureBuilt();
    pki = await createPki();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-cli-'));
  });

  afterAll(async () => {
    await pki?.remove();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  function validDocument(port: number): Doc {
    return {
      general: {
        host: '127.0.0.1',
        port,
        tls_mode: 'require',
        tls_certificate: pki.gatehouse.certFile,
        tls_private_key: pki.gatehouse.keyFile,
        shutdown_timeout: '1s',
      },
      pools: {
        appdb: {
          server_host: '127.0.0.1',
          server_port: 5432,
          server_tls_mode: 'verify-full',
          server_tls_ca_cert: pki.caFile,
          users: [{ username: 'app_user', password: 'app-pass-1' }],
        },
      },
    };
  }

  async function writeConfig(name: string, doc: Doc): Promise<string> {
    const file = path.join(dir, `${name}.yaml`);
    await fs.writeFile(file, stringify(doc));
    return file;
  }

  const missingCert = () => path.join(dir, 'no-such-dir', 'gatehouse.crt');
  const cases: Array<{ what: string; keyPath: string; mutate: (doc: Doc) => void; mentions?: () => string }> = [
    { what: 'an unknown key', keyPath: 'general.listen_prot', mutate: (d) => (d.general.listen_prot = 6432) },
    { what: 'an unknown tls_mode', keyPath: 'general.tls_mode', mutate: (d) => (d.general.tls_mode = 'mandatory') },
    {
      what: 'server_tls_mode verify-full without a CA',
      keyPath: 'pools.appdb.server_tls_ca_cert',
      mutate: (d) => delete d.pools.appdb.server_tls_ca_cert,
    },
    {
      what: 'a certificate file that does not exist',
      keyPath: 'general.tls_certificate',
      mutate: (d) => (d.general.tls_certificate = missingCert()),
      mentions: missingCert,
    },
    { what: 'a certificate without its key', keyPath: 'general.tls_private_key', mutate: (d) => delete d.general.tls_private_key },
  ];

  // Each case is a separate node process: run them side by side.
  it.concurrent.for(cases)('check-config refuses $what: non-zero exit, stderr names the file and $keyPath', async ({ what, keyPath, mutate, mentions }, { expect }) => {
    const doc = validDocument(6432);
    mutate(doc);
    const file = await writeConfig(`check-${keyPath}-${what.length}`, doc);
    const result = await runCli(['check-config', file]);
    expect(result.signal).toBeNull();
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`${file}: ${keyPath}: `);
    if (mentions) expect(result.stderr).toContain(mentions());
  });

  it.concurrent.for(cases)('--config refuses $what before listening: non-zero exit, $keyPath named, port stays free', async ({ what, keyPath, mutate }, { expect }) => {
    const port = await freePort();
    const doc = validDocument(port);
    mutate(doc);
    const file = await writeConfig(`run-${keyPath}-${what.length}`, doc);
    const child = spawnCli(['--config', file]);
    const result = cliResult(child, 30_000);
    let accepted = false;
    let exited = false;
    void result.then(() => (exited = true));
    while (!exited) {
      if (await tcpAccepts(port)) accepted = true;
      await new Promise((r) => setTimeout(r, 20));
    }
    const { code, signal, stderr } = await result;
    expect(signal).toBeNull();
    expect(code).not.toBe(0);
    expect(stderr).toContain(`${file}: ${keyPath}: `);
    expect(accepted).toBe(false);
    expect(await tcpAccepts(port)).toBe(false);
  });

  it('check-config accepts a valid file with exit code 0 and says OK', async () => {
    const file = await writeConfig('valid-check', validDocument(6432));
    const result = await runCli(['check-config', file]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${file}: OK (1 pool(s))\n`);
  });

  it('--config with a valid file listens on general.port and exits 0 on SIGTERM, freeing the port', async () => {
    const port = await freePort();
    const file = await writeConfig('valid-run', validDocument(port));
    const child = spawnCli(['--config', file]);
    const result = cliResult(child, 40_000);
    try {
      const deadline = Date.now() + 25_000;
      while (!(await tcpAccepts(port))) {
        if (Date.now() > deadline) throw new Error(`gatehouse did not listen on ${port}: ${(await (child.kill('SIGKILL'), result)).stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      child.kill('SIGTERM');
    }
    const { code, signal } = await result;
    expect(signal).toBeNull();
    expect(code).toBe(0);
    expect(await tcpAccepts(port)).toBe(false);
  });
});

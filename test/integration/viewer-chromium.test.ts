/**
 * The self-hosted viewer, loaded by headless Chromium with no network: it lists a live connection,
 * shows its state and highlights it on the machine's diagram.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { encodeStartupMessage } from '../../src/protocol/index.js';
import { Gateway } from '../../src/proxy/gateway.js';
import { freePort } from '../../src/dev/index.js';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

async function dumpDom(url: string): Promise<string> {
  const { stdout } = await promisify(execFile)(
    CHROMIUM!,
    [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', `--user-data-dir=${mkdtempSync(path.join(tmpdir(), 'gh-chromium-'))}`,
      '--virtual-time-budget=5000', '--dump-dom', url,
    ],
    { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 },
  );
  return stdout;
}

describe.skipIf(!CHROMIUM)('machine viewer in headless Chromium', () => {
  let gateway: Gateway;
  let client: Socket;

  beforeAll(async () => {
    const config = parseConfig(
      [
        `general: { host: 127.0.0.1, port: ${await freePort()}, tls_mode: disable }`,
        `web: { enabled: true, host: 127.0.0.1, port: ${await freePort()}, viewer: true }`,
        'pools: { app: { server_port: 1, users: [ { username: alice, password: secret } ] } }',
      ].join('\n'),
      '/virtual/viewer.yaml',
    );
    gateway = new Gateway(config, pino({ level: 'silent' }));
    const address = await gateway.listen();
    // A client that sent its StartupMessage and has not answered the SCRAM challenge: live, in authenticating.
    client = connect(address.port, '127.0.0.1');
    await new Promise((resolve) => client.once('connect', resolve));
    client.write(encodeStartupMessage({ user: 'alice', database: 'app' }));
    await new Promise((resolve) => client.once('data', resolve));
  });

  afterAll(async () => {
    client?.destroy();
    await gateway?.close();
  });

  it('lists the live connection, names its state and highlights it on the diagram', async () => {
    const dom = await dumpDom(`http://127.0.0.1:${gateway.webAddress!.port}/machines`);
    expect(dom).toMatch(/<ul id="live"><li data-id="c\d+" class="selected">/);
    expect(dom).toContain('<span class="state" id="current-state">connected.negotiating.authenticating</span>');
    expect(dom).toMatch(/<g class="node active" data-id="connected_negotiating_authenticating"/);
    expect(dom).not.toMatch(/<g class="node active" data-id="connected_ready"/);
  });

  it('serves nothing that needs the internet', async () => {
    const page = await (await fetch(`http://127.0.0.1:${gateway.webAddress!.port}/machines`)).text();
    const svg = await (await fetch(`http://127.0.0.1:${gateway.webAddress!.port}/machines/diagram/client-session.svg`)).text();
    for (const body of [page, svg]) expect(body).not.toMatch(/(src|href)=["']https?:|@import url\(/);
  });
});

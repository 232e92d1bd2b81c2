/**
 * The self-hosted viewer, loaded by headless Chromium with no network: it lists a live connection,
 * shows its state and highlights it on the machine's diagram.
 */
import { connect, type Socket } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_SESSION_VERSION, machineRegistry, type ClientEvent } from '../../machines/index.js';
import { parseConfig } from '../../src/config/index.js';
import { encodeStartupMessage } from '../../src/protocol/index.js';
import { Gateway } from '../../src/proxy/gateway.js';
import { freePort } from '../../src/dev/index.js';
import { CHROMIUM, dumpDom } from '../fixtures/chromium.js';

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
    expect(dom).toMatch(/<g class="node [^"]*\bactive\b[^"]*" data-id="connected_negotiating_authenticating"/);
    expect(dom).not.toMatch(/<g class="node [^"]*\bactive\b[^"]*" data-id="connected_ready"/);
  });

  it('fits a long journal to the frame’s width and lets it scroll, so its labels stay legible', async () => {
    // A transaction-pooled session that was pinned and unpinned many times: the journal rows the viewer reads.
    const journal = gateway.journals.open('long1', 'client-session', CLIENT_SESSION_VERSION, machineRegistry['client-session'].modes.disable);
    const events: ClientEvent[] = [
      { type: 'client.startup', user: 'alice', database: 'app', databaseKnown: true, password: 'plain', address: '127.0.0.1', hba: { kind: 'unconfigured' }, adminConsole: null },
      { type: 'auth.succeeded' },
      { type: 'pool.acquired', serverId: 's1' },
      ...Array.from({ length: 40 }, (_, i): ClientEvent => ({ type: 'session.pinned', pins: i % 2 ? [] : ['advisory_lock'] })),
    ];
    for (const event of events) journal.append(event);
    const dom = await dumpDom(`http://127.0.0.1:${gateway.webAddress!.port}/machines?connection=long1`);
    expect(dom).toContain('<div id="flow" class="tall">');
    expect(dom).toMatch(/<g class="flow-step walked" data-seq="43" data-event="session.pinned">/);
  });

  it('serves nothing that needs the internet', async () => {
    const page = await (await fetch(`http://127.0.0.1:${gateway.webAddress!.port}/machines`)).text();
    const svg = await (await fetch(`http://127.0.0.1:${gateway.webAddress!.port}/machines/diagram/client-session.svg`)).text();
    for (const body of [page, svg]) expect(body).not.toMatch(/(src|href)=["']https?:|@import url\(/);
  });
});

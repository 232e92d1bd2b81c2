/** web.inspect: actor events reach a viewer of the Stately inspector relay, which listens on 127.0.0.1 only. */
import { connect } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { parseConfig } from '../../src/config/index.js';
import { freePort } from '../../src/dev/index.js';
import { encodeStartupMessage } from '../../src/protocol/index.js';
import { Gateway } from '../../src/proxy/gateway.js';

describe('Stately inspector bridge', () => {
  let gateway: Gateway;
  let webPort: number;

  beforeAll(async () => {
    webPort = await freePort();
    const config = parseConfig(
      [
        `general: { host: 127.0.0.1, port: ${await freePort()}, tls_mode: disable }`,
        `web: { enabled: false, host: 127.0.0.1, port: ${webPort}, inspect: true }`,
        'pools: { app: { server_port: 1, users: [ { username: alice, password: secret } ] } }',
      ].join('\n'),
      '/virtual/inspect.yaml',
    );
    gateway = new Gateway(config, pino({ level: 'silent' }));
    await gateway.listen();
  });

  afterAll(() => gateway?.close());

  it('streams a client connection’s events to a viewer, without secrets', async () => {
    const viewer = new WebSocket(`ws://127.0.0.1:${webPort + 1}`);
    const messages: string[] = [];
    viewer.on('message', (m) => messages.push(String(m)));
    await new Promise((resolve) => viewer.once('open', resolve));

    const client = connect(gateway.config.general.port, '127.0.0.1');
    await new Promise((resolve) => client.once('connect', resolve));
    client.write(encodeStartupMessage({ user: 'alice', database: 'app' }));
    await new Promise((resolve) => client.once('data', resolve));
    client.destroy();

    await expect.poll(() => messages.some((m) => m.includes('"client.startup"')), { timeout: 10_000 }).toBe(true);
    const all = messages.join('\n');
    expect(all).toContain('"user":"alice"');
    expect(all).not.toContain('secret');
    viewer.close();
  });

  it('does not listen on other interfaces', async () => {
    const probe = connect(webPort + 1, '::1');
    const outcome = await new Promise<string>((resolve) => {
      probe.once('connect', () => resolve('connected'));
      probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
    probe.destroy();
    expect(outcome).not.toBe('connected');
  });
});

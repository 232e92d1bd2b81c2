import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../../src/dev/free-port.js';

describe('freePort', () => {
  it('returns a port on 127.0.0.1 that can be bound right away', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    expect((server.address() as net.AddressInfo).port).toBe(port);
    // While it is bound, freePort does not hand it out again.
    const others = await Promise.all([freePort(), freePort(), freePort()]);
    expect(others).not.toContain(port);
    await new Promise((resolve) => server.close(resolve));
  });
});

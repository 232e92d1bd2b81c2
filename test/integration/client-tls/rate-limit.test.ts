// tls_rate_limit_per_second: a token bucket in front of client TLS handshakes. Clients beyond the
// rate wait for a slot (they are delayed, not refused); only a client whose client_login_timeout
// passes before its slot comes is closed, and that is counted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPg } from '../../fixtures/clients.js';
import { waitUntil } from '../../fixtures/wait.js';
import { metricValue, type RunningGatehouse } from '../../fixtures/gatehouse.js';
import { encodeSslRequest } from '../../../src/protocol/index.js';
import { scrape, startHarness, type ClientTlsHarness } from './support/harness.js';
import { connectionsSince, journalMark } from './support/journal.js';
import { WireClient } from './support/wire.js';

let h: ClientTlsHarness;

beforeAll(async () => {
  h = await startHarness();
});

afterAll(async () => {
  await h?.stop();
});

describe('tls_rate_limit_per_second: 2', () => {
  it('6 concurrent TLS logins all succeed, delayed not refused: two at once, then one slot per 500 ms', async () => {
    const gh = await h.gatehouse('require', { tls_rate_limit_per_second: 2 });
    const mark = journalMark(gh);
    const started = Date.now();
    const finishedAfter = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const client = await connectPg(gh, h.pki);
        const at = Date.now() - started;
        await client.end();
        return at;
      }),
    );
    expect(Math.max(...finishedAfter)).toBeGreaterThanOrEqual(1800);

    // When gatehouse granted each handshake its slot, from its journal (independent of CPU load). A
    // bucket of 2 refilled at 2/s grants at most 2 + 2·t handshakes in t seconds, so the (i+1)-th
    // grant comes at least (i-1)·500 ms after the first.
    const granted = connectionsSince(gh, mark)
      .map((conn) => {
        const slot = conn.entries.find((e) => e.event.type === 'tls.slotGranted');
        if (!slot) throw new Error(`connection ${conn.id} never got a handshake slot`);
        return slot.at;
      })
      .sort((a, b) => a - b);
    expect(granted).toHaveLength(6);
    for (let i = 2; i < 6; i++) expect(granted[i] - granted[0]).toBeGreaterThanOrEqual((i - 1) * 500 - 50);

    const text = await scrape(gh);
    expect(metricValue(text, 'pg_doorman_connections_total', { type: 'tls' })).toBe(6);
    expect(metricValue(text, 'pg_doorman_listener_rejections_total', { reason: 'tls_rate_limited' })).toBe(0);
  });
});

/** SSLRequest, 'S', TLS handshake: true once the handshake completes, false when gatehouse closes the socket first. */
async function handshake(gh: RunningGatehouse): Promise<boolean> {
  const plain = await WireClient.connect(gh.port);
  plain.write(encodeSslRequest());
  expect((await plain.read(1)).toString()).toBe('S');
  try {
    const secure = await plain.startTls({ ca: h.pki.ca.certPem });
    secure.destroy();
    return true;
  } catch {
    await plain.closed(1000);
    return false;
  }
}

describe('tls_rate_limit_per_second: 1 with client_login_timeout 1500 ms', () => {
  // Slots at 0 and 1000 ms; the next one (2000 ms) comes after the login timeout.
  const settings = { tls_rate_limit_per_second: 1, client_login_timeout: 1500 };

  it('of 6 concurrent TLS clients the 2 that get a slot in time complete the handshake; the other 4 are closed and counted', async () => {
    const gh = await h.gatehouse('require', settings);
    const outcomes = await Promise.all(Array.from({ length: 6 }, () => handshake(gh)));
    expect(outcomes.filter(Boolean)).toHaveLength(2);
    const text = await scrape(gh);
    expect(metricValue(text, 'pg_doorman_listener_rejections_total', { reason: 'tls_rate_limited' })).toBe(4);
  });

  it('the clients closed for want of a slot are counted as tls_rate_limited', async () => {
    const gh = await h.gatehouse('require', settings);
    const outcomes = await Promise.all(Array.from({ length: 6 }, () => handshake(gh)));
    expect(outcomes.filter((ok) => !ok)).toHaveLength(4);
    const text = await scrape(gh);
    expect(metricValue(text, 'pg_doorman_listener_rejections_total', { reason: 'tls_rate_limited' })).toBe(4);
    expect(metricValue(text, 'pg_doorman_listener_rejections_total', { reason: 'login_timeout' })).toBe(0);
  });
});

describe('tls_rate_limit_per_second: 2, clients that hang up while waiting', () => {
  it("10 clients that hang up after 'S' do not delay the next TLS client by their slots", async () => {
    const gh = await h.gatehouse('require', { tls_rate_limit_per_second: 2 });
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        const client = await WireClient.connect(gh.port);
        client.write(encodeSslRequest());
        expect((await client.read(1)).toString()).toBe('S');
        client.destroy();
      }),
    );
    await waitUntil('gatehouse to forget the clients that hung up', () => gh.gateway.clientCount === 0);
    const started = Date.now();
    expect(await handshake(gh)).toBe(true);
    // The bucket is empty after the first two; the next slot is 500 ms away, not 8 × 500 ms.
    expect(Date.now() - started).toBeLessThan(1500);
  });
});

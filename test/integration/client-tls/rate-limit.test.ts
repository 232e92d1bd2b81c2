// tls_rate_limit_per_second: a token bucket in front of client TLS handshakes. Clients beyond the
// rate wait for a slot (they are delayed, not refused); only a client whose client_login_timeout
// passes before its slot comes is closed, and that is counted.
//
// Time is the test's: the limiter and the login timers read performance.now() and setTimeout, which
// a fake clock replaces while a gatehouse runs (sockets, TLS and PostgreSQL stay real). The test
// moves the clock to each slot and checks what happened there, so a loaded machine can make a run
// slower but not change its outcome. (Before, these tests measured wall time and flaked when a
// busy machine stalled the event loop past a slot or a deadline.)
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { connectPg } from '../../fixtures/clients.js';
import { metricValue, type RunningGatehouse } from '../../fixtures/gatehouse.js';
import { encodeSslRequest } from '../../../src/protocol/index.js';
import { scrape, startHarness, type ClientTlsHarness } from './support/harness.js';
import { connectionsSince, journalMark } from './support/journal.js';
import { WireClient } from './support/wire.js';

let h: ClientTlsHarness;

beforeAll(async () => {
  h = await startHarness();
});

afterEach(() => {
  vi.useRealTimers();
});

afterAll(async () => {
  await h?.stop();
});

/** A gatehouse whose clock (performance.now, setTimeout: the limiter's and the login timers') stands still until the test moves it. */
async function gatehouseOnTestClock(settings: Record<string, unknown>): Promise<RunningGatehouse> {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  return h.gatehouse('require', settings);
}

/** Real time passes (I/O, TLS handshakes) while the test clock stands still; setImmediate is not faked. */
async function until(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms (real time) waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Let I/O and promise callbacks that the last clock move released run, without moving the clock. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}

function countEvents(gh: RunningGatehouse, mark: Set<string>, type: string): number {
  return connectionsSince(gh, mark).filter((conn) => conn.entries.some((e) => e.event.type === type)).length;
}

/** Connections (since `mark`) that got a handshake slot. */
const granted = (gh: RunningGatehouse, mark: Set<string>) => countEvents(gh, mark, 'tls.slotGranted');

describe('tls_rate_limit_per_second: 2', () => {
  it('6 concurrent TLS logins all succeed, delayed not refused: two at once, then one slot per 500 ms', async () => {
    const gh = await gatehouseOnTestClock({ tls_rate_limit_per_second: 2 });
    // Idle for 5 s first: the bucket fills up to its size (2), not to 10.
    await vi.advanceTimersByTimeAsync(5000);
    const mark = journalMark(gh);
    const logins: number[] = [];
    const all = Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        const client = await connectPg(gh, h.pki);
        logins.push(i);
        // Back to the pool at once: the pool is smaller than 6, and this test is about the handshakes.
        await client.end();
      }),
    );
    await until('6 SSLRequests and the first 2 logins', () => countEvents(gh, mark, 'client.sslRequest') === 6 && logins.length >= 2);
    await settle();
    expect(granted(gh, mark), 'the bucket holds 2: two handshakes at once').toBe(2);
    expect(logins).toHaveLength(2);

    for (const [slot, at] of [[3, 500], [4, 1000], [5, 1500], [6, 2000]] as const) {
      await vi.advanceTimersByTimeAsync(499);
      await settle();
      expect(granted(gh, mark), `${at - 1} ms: no slot yet for handshake ${slot}`).toBe(slot - 1);
      await vi.advanceTimersByTimeAsync(1);
      await until(`login ${slot}, whose slot came at ${at} ms`, () => logins.length === slot);
      expect(granted(gh, mark), `${at} ms: one more slot`).toBe(slot);
    }
    await all;

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

  /** 6 concurrent clients; the clock moves to the second slot, then to the login timeout. */
  async function sixClients(gh: RunningGatehouse): Promise<boolean[]> {
    const mark = journalMark(gh);
    const done: boolean[] = [];
    const outcomes = Promise.all(
      Array.from({ length: 6 }, async () => {
        const ok = await handshake(gh);
        done.push(ok);
        return ok;
      }),
    );
    await until('6 SSLRequests and the first handshake', () => countEvents(gh, mark, 'client.sslRequest') === 6 && done.length === 1);
    expect(done).toEqual([true]);
    await vi.advanceTimersByTimeAsync(1000);
    await until('the handshake whose slot came at 1000 ms', () => done.length === 2);
    expect(done, 'the slot at 1000 ms is before the 1500 ms deadline').toEqual([true, true]);
    await vi.advanceTimersByTimeAsync(499);
    await settle();
    expect(done, 'nobody is closed before the login timeout').toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    return outcomes;
  }

  it('of 6 concurrent TLS clients the 2 that get a slot in time complete the handshake; the other 4 are closed and counted', async () => {
    const gh = await gatehouseOnTestClock(settings);
    const outcomes = await sixClients(gh);
    expect(outcomes.filter(Boolean)).toHaveLength(2);
    const text = await scrape(gh);
    expect(metricValue(text, 'pg_doorman_listener_rejections_total', { reason: 'tls_rate_limited' })).toBe(4);
  });

  it('the clients closed for want of a slot are counted as tls_rate_limited', async () => {
    const gh = await gatehouseOnTestClock(settings);
    const outcomes = await sixClients(gh);
    expect(outcomes.filter((ok) => !ok)).toHaveLength(4);
    const text = await scrape(gh);
    expect(metricValue(text, 'pg_doorman_listener_rejections_total', { reason: 'tls_rate_limited' })).toBe(4);
    expect(metricValue(text, 'pg_doorman_listener_rejections_total', { reason: 'login_timeout' })).toBe(0);
  });
});

describe('tls_rate_limit_per_second: 2, clients that hang up while waiting', () => {
  it("10 clients that hang up after 'S' do not delay the next TLS client by their slots", async () => {
    const gh = await gatehouseOnTestClock({ tls_rate_limit_per_second: 2 });
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        const client = await WireClient.connect(gh.port);
        client.write(encodeSslRequest());
        expect((await client.read(1)).toString()).toBe('S');
        client.destroy();
      }),
    );
    await until('gatehouse to forget the clients that hung up', () => gh.gateway.clientCount === 0);
    const mark = journalMark(gh);
    let ok: boolean | undefined;
    void handshake(gh).then((result) => (ok = result));
    await until("the next client's SSLRequest", () => countEvents(gh, mark, 'client.sslRequest') === 1);
    // The first two took the bucket's tokens; the next slot is 500 ms away, not 8 × 500 ms.
    await vi.advanceTimersByTimeAsync(499);
    await settle();
    expect(granted(gh, mark), 'the bucket is empty until 500 ms').toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    await until('the handshake', () => ok !== undefined);
    expect(ok).toBe(true);
  });
});

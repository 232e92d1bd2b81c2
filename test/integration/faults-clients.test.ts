/**
 * Issue 13: clients that misbehave or come all at once.
 * - Half a message, then silence. Transaction pooling buffers a split message and attaches no server for it, so the
 *   one server of the pool goes on serving others, and the message is answered when it is finished. Session pooling
 *   has passed the half on to the client's own server: others wait for that server at most query_wait_timeout (53300),
 *   and when the silent client leaves, its half-fed server is closed, not handed on. Half a startup packet, then
 *   silence: the connection is dropped after client_login_timeout.
 * - Thousands of clients connecting at once (FAULT_CLIENTS, default 1,200; 5,000 by hand) at general.max_connections
 *   (80 % of them): no connection is dropped by a full accept queue (while the burst fits in it), exactly max_connections get in and are all served
 *   by four servers, every other one gets FATAL 53300, none hangs, and once they have left new clients get in.
 */
import fs from 'node:fs/promises';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackendType, query } from '../../src/protocol/index.js';
import { LISTEN_BACKLOG } from '../../src/proxy/listeners.js';
import { APP_DATABASE, APP_USER, FLAVORS, startTestCluster, type Cluster } from '../fixtures/clusters.js';
import { backendPid, connectError, connectPg } from '../fixtures/clients.js';
import { openRawSession, typesOf, type BackendMsg } from '../fixtures/drivers/raw-session.js';
import { clientTls, poolFor, startGatehouse, type RunningGatehouse } from '../fixtures/gatehouse.js';
import { createPki, type Pki } from '../fixtures/pki.js';
import { errorCode, messageTypes, rawExchange, startupMessage } from '../fixtures/raw-socket.js';
import { waitUntil } from '../fixtures/wait.js';

const QUERY_WAIT_MS = 1_000;
const LOGIN_TIMEOUT_MS = 2_500;
/**
 * 1,200 in CI (≈ 8 s on two shared cores: each login costs gatehouse and its raw client here ≈ 5 ms; enough to overflow
 * Node's default backlog of 511); FAULT_CLIENTS=5000 by hand.
 */
const FAULT_CLIENTS = Number(process.env.FAULT_CLIENTS ?? 1_200);

/**
 * Times the kernel dropped a connection because a listener's accept queue was full (TcpExt ListenOverflows, for the
 * network namespace): each such client waits a SYN retransmit (1 s, 3 s, … up to ETIMEDOUT after about 2 minutes).
 */
const somaxconn = async () => Number(await fs.readFile('/proc/sys/net/core/somaxconn', 'utf8'));

async function listenOverflows(): Promise<number> {
  const lines = (await fs.readFile('/proc/net/netstat', 'utf8')).split('\n').filter((l) => l.startsWith('TcpExt:'));
  const [names, values] = lines.map((l) => l.trim().split(/\s+/));
  return Number(values[names.indexOf('ListenOverflows')]);
}

/** The text of the first column of the first DataRow among `messages`. */
function firstValue(messages: BackendMsg[]): string {
  const row = messages.find((m) => m.type === BackendType.DataRow)!;
  return row.body.toString('utf8', 6, 6 + row.body.readInt32BE(2));
}

describe(`misbehaving and crowding clients, in front of ${FLAVORS[0]}`, () => {
  let pki: Pki;
  let cluster: Cluster;

  beforeAll(async () => {
    pki = await createPki();
    cluster = await startTestCluster(FLAVORS[0], pki);
  });

  afterAll(async () => {
    await cluster?.stop();
    await pki?.remove();
  });

  describe('half a message, then silence', () => {
    let gh: RunningGatehouse;
    const one = (mode: string) =>
      poolFor(cluster, pki, { server_database: APP_DATABASE, pool_mode: mode, users: [{ username: APP_USER.name, password: APP_USER.password, pool_size: 1 }] });

    beforeAll(async () => {
      gh = await startGatehouse({
        general: { ...clientTls(pki), query_wait_timeout: QUERY_WAIT_MS, client_login_timeout: LOGIN_TIMEOUT_MS },
        pools: { tx_one: one('transaction'), session_one: one('session') },
      });
    });

    afterAll(async () => {
      await gh?.stop();
    });

    it('transaction pooling: the silent client holds no server, others are served by the only one, and its message is answered once finished', async () => {
      const silent = await openRawSession(gh, pki, 'tx_one');
      const message = query('SELECT 42 AS answer');
      await silent.write(message.subarray(0, 9));
      for (let i = 0; i < 3; i++) {
        const other = await connectPg(gh, pki, { database: 'tx_one' });
        expect((await other.query('SELECT $1::int AS i', [i])).rows).toEqual([{ i }]);
        await other.end();
      }
      await silent.write(message.subarray(9));
      const answer = await silent.until(BackendType.ReadyForQuery);
      expect([typesOf(answer), firstValue(answer)]).toEqual(['TDCZ', '42']);
      silent.destroy();
    });

    it('session pooling: others wait for the silent client’s server at most query_wait_timeout (53300), and once it leaves its half-fed server is not reused', async () => {
      const silent = await openRawSession(gh, pki, 'session_one');
      await silent.write(query('SELECT pg_backend_pid()'));
      const silentPid = Number(firstValue(await silent.until(BackendType.ReadyForQuery)));
      await silent.write(query('SELECT 42').subarray(0, 9));

      const started = Date.now();
      const refused = await connectError(gh, pki, { database: 'session_one' });
      expect(refused).toMatchObject({ code: '53300', severity: 'FATAL' });
      expect(Date.now() - started).toBeLessThan(QUERY_WAIT_MS + 2_000);

      silent.destroy();
      const next = await connectPg(gh, pki, { database: 'session_one' });
      try {
        expect(await backendPid(next)).not.toBe(silentPid);
        expect((await next.query('SELECT 7 AS seven')).rows).toEqual([{ seven: 7 }]);
      } finally {
        await next.end();
      }
    });

    it('half a startup packet, then silence: the connection is dropped after client_login_timeout', async () => {
      const outcome = await rawExchange(gh.port, [startupMessage({ user: APP_USER.name, database: 'tx_one' }).subarray(0, 12)], { waitMs: LOGIN_TIMEOUT_MS + 3_000 });
      expect(outcome.closedByServer).toBe(true);
      expect(outcome.elapsedMs).toBeGreaterThanOrEqual(LOGIN_TIMEOUT_MS - 50);
    });
  });

  describe(`${FAULT_CLIENTS} clients connecting at once`, () => {
    const maxConnections = Math.floor(FAULT_CLIENTS * 0.8);
    let gh: RunningGatehouse;

    beforeAll(async () => {
      gh = await startGatehouse({
        // Trust and plain TCP: what is tested is the listener's limit, not thousands of SCRAM and TLS handshakes.
        general: { tls_mode: 'disable', max_connections: maxConnections, query_wait_timeout: 20_000, pg_hba: { content: 'host all all 127.0.0.1/32 trust' } },
        pools: {
          crowd: poolFor(cluster, pki, {
            server_database: APP_DATABASE,
            pool_mode: 'transaction',
            users: [{ username: APP_USER.name, password: APP_USER.password, pool_size: 4 }],
          }),
        },
      });
    });

    afterAll(async () => {
      await gh?.stop();
    });

    /** A raw client that logs in: 'ready' with its socket, or the SQLSTATE it was refused with, or how it ended. */
    function login(): Promise<{ outcome: string; socket: net.Socket }> {
      return new Promise((resolve) => {
        const socket = net.connect({ host: gh.host, port: gh.port });
        let received = Buffer.alloc(0);
        const done = (outcome: string) => {
          socket.removeAllListeners('data');
          resolve({ outcome, socket });
        };
        socket.on('error', () => done('socket error'));
        socket.on('close', () => done('closed'));
        socket.on('connect', () => socket.write(startupMessage({ user: APP_USER.name, database: 'crowd' })));
        socket.on('data', (chunk: Buffer) => {
          received = Buffer.concat([received, chunk]);
          const types = messageTypes(received);
          if (types[0] === 'E') done(errorCode(received) ?? 'error without SQLSTATE');
          else if (types.includes('Z')) done('ready');
        });
      });
    }

    /** One simple query on a logged-in raw socket; resolves with the value it returned. */
    function selectOn(socket: net.Socket, value: number): Promise<string> {
      return new Promise((resolve, reject) => {
        let received = Buffer.alloc(0);
        socket.on('data', (chunk: Buffer) => {
          received = Buffer.concat([received, chunk]);
          if (!messageTypes(received).includes('Z')) return;
          socket.removeAllListeners('data');
          let at = 0;
          while (received[at] !== BackendType.DataRow) at += 1 + received.readInt32BE(at + 1);
          // 'D', length, column count, the first column's length, its text.
          resolve(received.toString('utf8', at + 11, at + 11 + received.readInt32BE(at + 7)));
        });
        socket.once('close', () => reject(new Error('closed before the answer')));
        socket.write(query(`SELECT ${value}`));
      });
    }

    it(`exactly max_connections (${maxConnections}) get in and are served, the others get 53300, none hangs, and the slots come back`, async () => {
      const overflowsBefore = await listenOverflows();
      const started = Date.now();
      const logins = await Promise.all(Array.from({ length: FAULT_CLIENTS }, () => login()));
      const loginMs = Date.now() - started;
      // A burst the accept queue can hold (LISTEN_BACKLOG, capped by net.core.somaxconn) loses no SYN. The counter is
      // the network namespace's, so another listener of this machine may add a few meanwhile; Node's default backlog
      // (511) made it thousands here. A larger burst is only slowed down by SYN retransmits: the tally below still holds.
      if (FAULT_CLIENTS <= Math.min(LISTEN_BACKLOG, await somaxconn())) {
        expect((await listenOverflows()) - overflowsBefore, 'connections dropped because an accept queue was full').toBeLessThan(20);
      }
      const tally: Record<string, number> = {};
      for (const l of logins) tally[l.outcome] = (tally[l.outcome] ?? 0) + 1;
      expect(tally).toEqual({ ready: maxConnections, '53300': FAULT_CLIENTS - maxConnections });

      const inside = logins.filter((l) => l.outcome === 'ready');
      const answers = await Promise.all(inside.map((l, i) => selectOn(l.socket, i)));
      expect(answers).toEqual(inside.map((_, i) => String(i)));
      console.log(`${FAULT_CLIENTS} clients: logins settled in ${loginMs} ms, ${inside.length} queries answered ${Date.now() - started - loginMs} ms later`);

      for (const l of logins) l.socket.destroy();
      await waitUntil('every client to be gone', () => gh.gateway.clientCount === 0, 20_000);
      const again = await login();
      expect(again.outcome).toBe('ready');
      again.socket.destroy();
    }, 120_000);
  });
});

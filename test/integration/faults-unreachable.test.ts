/**
 * Issue 13: PostgreSQL unreachable. Connection refused (nothing listens), a black-holed address (SYNs dropped: see
 * fixtures/black-hole.ts; a network namespace would need a veth pair in the host's namespace, which a test on a shared
 * machine should not add), and a stalled peer: the real postmaster stopped with SIGSTOP, so that the kernel completes
 * the TCP handshake and nobody answers the SSLRequest. In session and transaction pooling alike the client gets a
 * FATAL with 08001 or 08006 in about connect_timeout (at once when refused), never a hang; sessions on backends that
 * already run carry on, and once the postmaster runs again new clients are served without a restart of gatehouse.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/dev/index.js';
import { startBlackHole, type BlackHole } from '../fixtures/black-hole.js';
import { APP_DATABASE, FLAVORS, startTestCluster, type Cluster } from '../fixtures/clusters.js';
import { connectError, connectPg } from '../fixtures/clients.js';
import { clientTls, poolFor, startGatehouse, type RunningGatehouse } from '../fixtures/gatehouse.js';
import { createPki, type Pki } from '../fixtures/pki.js';

const CONNECT_TIMEOUT_MS = 500;
/** How late after connect_timeout a refusal may come on two busy shared cores. */
const SLACK_MS = 2_000;
const MODES = ['session', 'transaction'] as const;

/** The error a login ends with, and how long it took. */
async function timedRefusal(gh: RunningGatehouse, pki: Pki, database: string) {
  const started = Date.now();
  const err = await connectError(gh, pki, { database });
  return { code: err.code, severity: err.severity, message: err.message, elapsedMs: Date.now() - started };
}

// What is tested is gatehouse's side of the connect; one PostgreSQL flavor is enough for the stalled postmaster.
describe(`PostgreSQL unreachable, in front of ${FLAVORS[0]}`, () => {
  let pki: Pki;
  let cluster: Cluster;
  let hole: BlackHole;
  let gh: RunningGatehouse;

  beforeAll(async () => {
    pki = await createPki();
    [cluster, hole] = await Promise.all([startTestCluster(FLAVORS[0], pki), startBlackHole()]);
    const nowhere = await freePort();
    const pools: Record<string, Record<string, unknown>> = {};
    for (const mode of MODES) {
      const base = { server_database: APP_DATABASE, pool_mode: mode };
      pools[`refused_${mode}`] = poolFor(cluster, pki, { ...base, server_port: nowhere });
      pools[`hole_${mode}`] = poolFor(cluster, pki, { ...base, server_port: hole.port });
      pools[`stalled_${mode}`] = poolFor(cluster, pki, base);
    }
    gh = await startGatehouse({ general: { ...clientTls(pki), connect_timeout: CONNECT_TIMEOUT_MS }, pools });
  });

  afterAll(async () => {
    await gh?.stop();
    await Promise.all([cluster?.stop(), hole?.close()]);
    await pki?.remove();
  });

  it.each(MODES)('connection refused, %s pooling: FATAL 08001 "could not connect to server" at once, well inside connect_timeout', async (mode) => {
    const refusal = await timedRefusal(gh, pki, `refused_${mode}`);
    expect(refusal).toMatchObject({ code: '08001', severity: 'FATAL' });
    expect(refusal.message).toMatch(/could not connect to server: connect ECONNREFUSED/);
    expect(refusal.elapsedMs).toBeLessThan(CONNECT_TIMEOUT_MS);
  });

  it.each(MODES)('a black-holed address, %s pooling: FATAL 08006 after connect_timeout, not a hang', async (mode) => {
    const refusal = await timedRefusal(gh, pki, `hole_${mode}`);
    expect(refusal).toMatchObject({ code: '08006', severity: 'FATAL', message: 'timeout while connecting to the server (connect_timeout)' });
    expect(refusal.elapsedMs).toBeGreaterThanOrEqual(CONNECT_TIMEOUT_MS - 20);
    expect(refusal.elapsedMs).toBeLessThan(CONNECT_TIMEOUT_MS + SLACK_MS);
  });

  it('a stalled postmaster (SIGSTOP: TCP accepted, never answered): new logins of both modes get 08006 after connect_timeout, running sessions carry on, and after SIGCONT new logins work', async () => {
    const before = await Promise.all(MODES.map((mode) => connectPg(gh, pki, { database: `stalled_${mode}` })));
    process.kill(cluster.postmasterPid, 'SIGSTOP');
    try {
      // Session pooling holds its server; transaction pooling has one idle: a new login needs a new backend only in session pooling.
      const refusal = await timedRefusal(gh, pki, 'stalled_session');
      expect(refusal).toMatchObject({ code: '08006', severity: 'FATAL', message: 'timeout while connecting to the server (connect_timeout)' });
      expect(refusal.elapsedMs).toBeGreaterThanOrEqual(CONNECT_TIMEOUT_MS - 20);
      expect(refusal.elapsedMs).toBeLessThan(CONNECT_TIMEOUT_MS + SLACK_MS);
      // The transaction pool's one backend is held by a transaction: the next client's transaction needs a new one.
      await before[1].query('BEGIN');
      await before[1].query('SELECT txid_current()');
      const txRefusal = await timedRefusal(gh, pki, 'stalled_transaction');
      expect(txRefusal).toMatchObject({ code: '08006', severity: 'FATAL' });
      expect(txRefusal.elapsedMs).toBeLessThan(CONNECT_TIMEOUT_MS + SLACK_MS);
      for (const client of before) expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      await before[1].query('COMMIT');
    } finally {
      process.kill(cluster.postmasterPid, 'SIGCONT');
    }
    for (const mode of MODES) {
      const fresh = await connectPg(gh, pki, { database: `stalled_${mode}` });
      expect((await fresh.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
      await fresh.end();
    }
    await Promise.all(before.map((c) => c.end()));
  });
});

// How gatehouse opens a backend connection, watched on the wire through a TCP tap: allow's plain
// attempt and its retry on a new socket with TLS (and no retry for 57P03), prefer's fall back to plain
// after 'N' on the same socket (and never after a failed handshake), and direct TLS (PostgreSQL 17+).
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_DATABASE, FLAVORS, startTestCluster, type Cluster } from '../../fixtures/clusters.js';
import { poolFor, startGatehouse, type RunningGatehouse } from '../../fixtures/gatehouse.js';
import { createPki, type Pki } from '../../fixtures/pki.js';
import { waitUntil } from '../../fixtures/wait.js';
import { configureBackend, logSince, logSize, postmasterPid } from './support/backend.js';
import { startSThenGarbageBackend, type FakeBackend } from './support/fake-backend.js';
import { attempt, serverTlsCounters } from './support/outcome.js';
import { startTap, type Tap, type TappedConnection } from './support/tap.js';

const HOST = 'host all all 127.0.0.1/32 scram-sha-256';
const HOSTSSL = 'hostssl all all 127.0.0.1/32 scram-sha-256';

const wire = (connections: TappedConnection[]) =>
  connections.map(({ opening, backendFirst, afterSslRequest }) => ({ opening, backendFirst, afterSslRequest }));

describe('backend negotiation on the wire, embedded PostgreSQL 18', () => {
  let pki: Pki;
  let cluster: Cluster;
  let tap: Tap;
  let fake: FakeBackend;
  let gh: RunningGatehouse;

  /** The connections the tap saw while `action` ran. */
  async function tapped<T>(action: () => Promise<T>): Promise<{ result: T; connections: TappedConnection[] }> {
    const from = tap.connections.length;
    const result = await action();
    return { result, connections: tap.connections.slice(from) };
  }

  beforeAll(async () => {
    pki = await createPki('server-tls negotiation');
    [cluster, fake] = await Promise.all([startTestCluster('embedded18', pki, { hba: [HOSTSSL] }), startSThenGarbageBackend()]);
    tap = await startTap(cluster.port);
    const via = (port: number, overrides: Record<string, unknown>) =>
      poolFor(cluster, pki, { server_database: APP_DATABASE, server_port: port, ...overrides });
    gh = await startGatehouse({
      general: { tls_mode: 'disable' },
      pools: {
        allow: via(tap.port, { server_tls_mode: 'allow' }),
        // Unused until the server shuts down: a pooled connection would hide the login attempt.
        allow_at_shutdown: via(tap.port, { server_tls_mode: 'allow' }),
        prefer: via(tap.port, { server_tls_mode: 'prefer' }),
        prefer_garbage: via(fake.port, { server_tls_mode: 'prefer' }),
        direct_require: via(tap.port, { server_tls_mode: 'require', server_tls_negotiation: 'direct' }),
        direct_verify_full: via(tap.port, { server_tls_mode: 'verify-full', server_tls_negotiation: 'direct' }),
      },
    });
  });

  afterAll(async () => {
    await gh?.stop();
    await Promise.all([tap?.close(), fake?.close()]);
    await cluster?.stop();
    await pki?.remove();
  });

  it('allow against hostssl only: plain login refused, retried on a new socket with TLS, session encrypted (pg_stat_ssl t)', async () => {
    const { result, connections } = await tapped(() => attempt(gh, 'allow'));
    expect(result).toEqual({ kind: 'session', ssl: true });
    expect(wire(connections)).toEqual([
      { opening: 'startup', backendFirst: 'E', afterSslRequest: 'nothing' },
      { opening: 'ssl-request', backendFirst: 'S', afterSslRequest: 'tls-record' },
    ]);
  });

  it.each(['direct_require', 'direct_verify_full'])('%s: TLS from the first byte, no SSLRequest, session encrypted (pg_stat_ssl t)', async (pool) => {
    const before = await serverTlsCounters(gh, pool);
    const { result, connections } = await tapped(() => attempt(gh, pool));
    expect(result).toEqual({ kind: 'session', ssl: true });
    expect(wire(connections)).toEqual([{ opening: 'tls-record', backendFirst: '\x16', afterSslRequest: 'nothing' }]);
    expect((await serverTlsCounters(gh, pool)).handshakes - before.handshakes).toBe(1);
  });

  describe('with ssl = off', () => {
    beforeAll(() => configureBackend(cluster, pki, 'off', [HOST]));

    it('prefer: SSLRequest answered N, the login continues in plain on the same socket (pg_stat_ssl f)', async () => {
      const { result, connections } = await tapped(() => attempt(gh, 'prefer'));
      expect(result).toEqual({ kind: 'session', ssl: false });
      expect(wire(connections)).toEqual([{ opening: 'ssl-request', backendFirst: 'N', afterSslRequest: 'startup' }]);
    });
  });

  it('prefer, server answers S then bytes that are not TLS: FATAL 08001, counted, never a plain login', async () => {
    const before = await serverTlsCounters(gh, 'prefer_garbage');
    const started = Date.now();
    const outcome = await attempt(gh, 'prefer_garbage');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(outcome).toMatchObject({ kind: 'refused', severity: 'FATAL', code: '08001' });
    expect(outcome.kind === 'refused' && outcome.message).toMatch(/TLS handshake failed/);
    // A fall back would open a new socket (or reuse this one) and send a StartupMessage in plain.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect({ connections: fake.connections, plainStartups: fake.plainStartups }).toEqual({ connections: 1, plainStartups: 0 });
    expect((await serverTlsCounters(gh, 'prefer_garbage')).errors - before.errors).toBe(1);
  });

  describe('PostgreSQL shutting down (smart shutdown: new connections get 57P03)', () => {
    let holder: pg.Client;

    beforeAll(async () => {
      await configureBackend(cluster, pki, 'on', [HOSTSSL]);
      // A smart shutdown waits for this session, refusing new ones meanwhile with 57P03.
      holder = new pg.Client({ host: cluster.socketDir, port: cluster.port, user: 'postgres', database: 'postgres' });
      holder.on('error', () => {});
      await holder.connect();
      const offset = await logSize(cluster);
      process.kill(await postmasterPid(cluster), 'SIGTERM');
      await waitUntil('PostgreSQL to refuse new connections', async () => /smart shutdown request/.test(await logSince(cluster, offset)));
    });

    afterAll(async () => {
      await holder?.end();
    });

    it('allow does not retry a plain login refused with 57P03: one attempt, the client gets 57P03', async () => {
      const { result, connections } = await tapped(() => attempt(gh, 'allow_at_shutdown'));
      expect(result).toMatchObject({ kind: 'refused', severity: 'FATAL', code: '57P03' });
      expect(result.kind === 'refused' && result.message).toMatch(/server login failed: the database system is shutting down/);
      expect(wire(connections)).toEqual([{ opening: 'startup', backendFirst: 'E', afterSslRequest: 'nothing' }]);
    });
  });
});

describe.runIf(FLAVORS.includes('system15'))('direct TLS against PostgreSQL 15, which does not support it', () => {
  let pki: Pki;
  let cluster: Cluster;
  let gh: RunningGatehouse;

  beforeAll(async () => {
    pki = await createPki('server-tls direct 15');
    cluster = await startTestCluster('system15', pki, { hba: [HOSTSSL] });
    gh = await startGatehouse({
      general: { tls_mode: 'disable' },
      pools: { direct: poolFor(cluster, pki, { server_database: APP_DATABASE, server_tls_mode: 'verify-full', server_tls_negotiation: 'direct' }) },
    });
  });

  afterAll(async () => {
    await gh?.stop();
    await cluster?.stop();
    await pki?.remove();
  });

  it('server_tls_negotiation direct: a prompt FATAL 08001 "TLS handshake failed", counted as a handshake error', async () => {
    const before = await serverTlsCounters(gh, 'direct');
    const started = Date.now();
    const outcome = await attempt(gh, 'direct');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(outcome).toMatchObject({ kind: 'refused', severity: 'FATAL', code: '08001' });
    expect(outcome.kind === 'refused' && outcome.message).toMatch(/TLS handshake failed/);
    expect((await serverTlsCounters(gh, 'direct')).errors - before.errors).toBe(1);
  });
});

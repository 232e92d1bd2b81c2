/**
 * Many instances as one (docs/scaling.md): two gatehouse instances, peer ids 1 and 2, each other's peers, behind
 * a real HAProxy (balance roundrobin, so consecutive connections alternate) in front of one PostgreSQL. A client's
 * cancel opens a new connection, which HAProxy sends to the other instance; that one forwards it to the owner,
 * which cancels on PostgreSQL. Cancels whose key has no hop left, or names a peer id nobody configured, are dropped.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configWarnings, parseConfig } from '../../src/config/index.js';
import { freePort } from '../../src/dev/index.js';
import { encodeCancelRequest } from '../../src/protocol/index.js';
import { cancelKeyOwner } from '../../src/proxy/cancel-key.js';
import { ADMIN_SETTINGS, psqlAdmin } from '../fixtures/admin.js';
import { childResult } from '../fixtures/child-result.js';
import { settledWithin } from '../fixtures/clients.js';
import { APP_DATABASE, APP_USER, startTestCluster, type Cluster } from '../fixtures/clusters.js';
import { metricValue, poolFor, startGatehouse, type RunningGatehouse } from '../fixtures/gatehouse.js';
import { haproxyInstalled, HAPROXY, startHaproxy, type RunningHaproxy } from '../fixtures/haproxy.js';
import { createPki, type Pki } from '../fixtures/pki.js';
import { gatehouseConninfo, psqlResult, spawnPsql } from '../fixtures/psql.js';
import { waitUntil } from '../fixtures/wait.js';

/** Sends one CancelRequest straight to `port` and waits for the receiver to close, as libpq does. */
function rawCancel(port: number, processId: number, secretKey: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write(encodeCancelRequest(processId, secretKey)));
    socket.resume();
    socket.once('close', () => resolve());
    socket.once('error', reject);
  });
}

const journalsOf = (gh: RunningGatehouse, prefix: RegExp) =>
  [...gh.gateway.journals.liveRecords(), ...gh.gateway.journals.endedRecords()].filter((r) => r.machine === 'cancel-request' && prefix.test(r.id));

describe.skipIf(!haproxyInstalled)(`two peered gatehouse instances behind HAProxy${haproxyInstalled ? '' : ` (skipped: ${HAPROXY} is not installed; .ci/run installs haproxy)`}`, () => {
  let pki: Pki;
  let cluster: Cluster;
  const gh: Record<number, RunningGatehouse> = {};
  let lb: RunningHaproxy;
  const clients: pg.Client[] = [];
  const other = (peerId: number) => gh[peerId === 1 ? 2 : 1];

  beforeAll(async () => {
    pki = await createPki('peers haproxy');
    cluster = await startTestCluster('embedded18', pki);
    const ports = { 1: await freePort(), 2: await freePort() };
    // One peers section for both, as docs/scaling.md suggests: each instance skips its own id.
    const peers = { 1: { host: '127.0.0.1', port: ports[1] }, 2: { host: '127.0.0.1', port: ports[2] } };
    for (const id of [1, 2] as const) {
      gh[id] = await startGatehouse({
        port: ports[id],
        general: { tls_mode: 'disable', peer_id: id, ...ADMIN_SETTINGS },
        peers,
        pools: { [APP_DATABASE]: poolFor(cluster, pki, { server_database: APP_DATABASE }) },
        logLevel: 'debug',
      });
    }
    lb = await startHaproxy([{ name: 'gatehouse1', port: ports[1] }, { name: 'gatehouse2', port: ports[2] }]);
  });

  afterAll(async () => {
    for (const client of clients) await client.end().catch(() => {});
    await lb?.stop();
    for (const g of Object.values(gh)) await g.stop();
    await cluster?.stop();
    await pki?.remove();
  });

  const sleeping = async (marker: string) =>
    waitUntil(`${marker} to run on PostgreSQL`, async () => (await cluster.query(`SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%${marker}%' AND pid <> pg_backend_pid()`))[0][0] === '1');

  /** A node-postgres session through HAProxy running pg_sleep(30), with its cancel key and the instance that owns it. */
  async function sleepingSession(marker: string) {
    const client = new pg.Client({ host: lb.host, port: lb.port, database: APP_DATABASE, user: APP_USER.name, password: APP_USER.password, ssl: false });
    client.on('error', () => {});
    clients.push(client);
    await client.connect();
    const { processID, secretKey } = client as unknown as { processID: number; secretKey: number };
    const secret = Buffer.alloc(4);
    secret.writeInt32BE(secretKey);
    const query = client.query(`SELECT pg_sleep(30) -- ${marker}`);
    query.catch(() => {});
    await sleeping(marker);
    return { processID, secret, query, owner: cancelKeyOwner(processID, secret).peerId };
  }

  it('the haproxy.cfg and gatehouse file docs/scaling.md shows are accepted as they stand', async () => {
    const page = await fs.readFile(new URL('../../docs/scaling.md', import.meta.url), 'utf8');
    const block = (lang: string) => new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(page)?.[1] ?? '';
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-scaling-doc-'));
    try {
      const cfg = path.join(dir, 'haproxy.cfg');
      await fs.writeFile(cfg, block('haproxy'));
      const check = await childResult(spawn(HAPROXY, ['-c', '-f', cfg], { stdio: ['ignore', 'pipe', 'pipe'] }), 10_000);
      expect(check.stdout + check.stderr).toContain('Configuration file is valid');
      expect(check.code).toBe(0);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
    const yaml = block('yaml');
    for (const id of [1, 2]) {
      const config = parseConfig(yaml.replace('peer_id: 1', `peer_id: ${id}`), '/etc/gatehouse/gatehouse.yaml', { checkFiles: false });
      expect(config.general.peer_id).toBe(id);
      expect(config.peers.map((p) => [p.peer_id, p.host, p.port])).toEqual([[1, '10.0.0.11', 6432], [2, '10.0.0.12', 6432]]);
      expect(configWarnings(config)).toEqual([]);
    }
  });

  it('HAProxy sees both instances up through its health checks', async () => {
    expect([...(await lb.servers()).entries()]).toEqual([['gatehouse1', 'UP'], ['gatehouse2', 'UP']]);
  });

  it('SHOW PEERS lists the other instance, not the own id; a reload applies a new peers section, not a new peer_id', async () => {
    const showPeers = async () => (await psqlAdmin(gh[1], pki, 'SHOW PEERS', { sslmode: 'disable' })).rows;
    expect(await showPeers()).toEqual([{ peer_id: '2', host: '127.0.0.1', port: String(gh[2].port), pool_size: '20' }]);
    const config = Object.fromEntries((await psqlAdmin(gh[1], pki, 'SHOW CONFIG', { sslmode: 'disable' })).rows.map((r) => [r.key, r]));
    expect(config['general.peer_id']).toMatchObject({ value: '1', default: '0', changeable: 'no' });
    expect(config['peers.2']).toMatchObject({ value: JSON.stringify({ host: '127.0.0.1', port: gh[2].port, pool_size: 20 }), changeable: 'yes' });

    const file = gh[1].config.file;
    const original = await fs.readFile(file, 'utf8');
    try {
      const next = parse(original) as { general: { peer_id: number }; peers: Record<string, { pool_size?: number }> };
      next.general.peer_id = 3;
      next.peers['2'].pool_size = 5;
      await fs.writeFile(file, stringify(next));
      const outcome = await gh[1].gateway.reload();
      expect(outcome.applied).toBe(true);
      expect(outcome.needRestart).toContain('general.peer_id (1 → 3)');
      expect(await showPeers()).toEqual([{ peer_id: '2', host: '127.0.0.1', port: String(gh[2].port), pool_size: '5' }]);
      expect(gh[1].config.general.peer_id).toBe(1);
    } finally {
      await fs.writeFile(file, original);
      await gh[1].gateway.reload();
    }
    expect((await showPeers())[0].pool_size).toBe('20');
  });

  it("psql's cancel lands on the other instance, which forwards it to the owner: the query fails with 57014", async () => {
    const marker = 'peers psql';
    const child = spawnPsql(gatehouseConninfo(lb, { sslmode: 'disable' }), ['-At', '-v', 'VERBOSITY=verbose', '-c', `SELECT pg_sleep(30) -- ${marker}`]);
    const result = psqlResult(child, 25_000);
    await sleeping(marker);
    const ownerId = [1, 2].find((id) => gh[id].gateway.journals.liveRecords().some((r) => r.machine === 'client-session'))!;
    const owner = gh[ownerId];
    const forwarder = other(ownerId);
    const forwardsBefore = journalsOf(forwarder, /^xp/).length;
    const cancelsBefore = journalsOf(owner, /^x\d/).length;

    child.kill('SIGINT');
    const { code, stderr } = await result;
    expect(stderr).toMatch(/ERROR: {2}57014: canceling statement due to user request/);
    expect(code).not.toBe(0);

    // The instance HAProxy gave the cancel to journaled the forward to the owner, one hop used …
    await waitUntil('the forward to end', () => journalsOf(forwarder, /^xp/).slice(forwardsBefore).every((r) => r.endedAt !== null));
    const forwards = journalsOf(forwarder, /^xp/).slice(forwardsBefore);
    expect(forwards.map((r) => [r.input, r.final?.value])).toEqual([[{ mode: 'disable', negotiation: 'postgres', sessionTls: false, peer: ownerId }, 'sent']]);
    expect(journalsOf(forwarder, /^x\d/)).toEqual([]);
    // … and the owner journaled its cancel to PostgreSQL, over the backend's verified TLS.
    const cancels = journalsOf(owner, /^x\d/).slice(cancelsBefore);
    expect(cancels.map((r) => [r.input, r.final?.value])).toEqual([[{ mode: 'verify-full', negotiation: 'postgres', sessionTls: true }, 'sent']]);
    expect(metricValue(await forwarder.gateway.metrics.scrape(), 'gatehouse_peer_cancel_requests_total', { peer: String(ownerId), outcome: 'sent' })).toBe(1);
    expect(metricValue(await owner.gateway.metrics.scrape(), 'gatehouse_cancel_requests_total', { pool: APP_DATABASE, outcome: 'sent' })).toBeGreaterThanOrEqual(1);
  });

  it('a cancel for another peer with no hop left is dropped there, while the owner still honours the same key', async () => {
    const session = await sleepingSession('peers ttl 0');
    const spent = Buffer.from(session.secret);
    spent[3] &= 0xfc;
    const forwarder = other(session.owner);
    const forwardsBefore = journalsOf(forwarder, /^xp/).length;

    await rawCancel(forwarder.port, session.processID, spent);
    await waitUntil('the drop to be counted', async () =>
      metricValue(await forwarder.gateway.metrics.scrape(), 'gatehouse_peer_cancel_requests_total', { peer: String(session.owner), outcome: 'ttl_expired' }) === 1,
    );
    expect(await settledWithin(session.query, 500)).toBe('pending');
    expect(journalsOf(forwarder, /^xp/).length).toBe(forwardsBefore);
    expect(forwarder.logs.some((l) => l.level === 20 && /cancel request for peer \d+ dropped: it was forwarded too often \(TTL 0\)/.test(String(l.msg)))).toBe(true);

    // The owner ignores the TTL bits when it looks the key up: a forwarded cancel is handled as usual.
    await rawCancel(gh[session.owner].port, session.processID, spent);
    await expect(session.query).rejects.toMatchObject({ code: '57014' });
  });

  it('a cancel naming a peer id that is not in peers is dropped, as PostgreSQL ignores an unknown key', async () => {
    const session = await sleepingSession('peers unknown');
    // Bytes 1-2 of the process id are the peer id, low byte first: make it 7.
    const unknown = Buffer.alloc(4);
    unknown.writeInt32BE(session.processID);
    unknown.writeUInt16LE(7, 1);
    const landing = gh[1];
    const forwardsBefore = journalsOf(landing, /^xp/).length;

    await rawCancel(landing.port, unknown.readInt32BE(0), session.secret);
    await waitUntil('the drop to be counted', async () =>
      metricValue(await landing.gateway.metrics.scrape(), 'gatehouse_peer_cancel_requests_total', { peer: '7', outcome: 'unknown_peer' }) === 1,
    );
    expect(await settledWithin(session.query, 500)).toBe('pending');
    expect(journalsOf(landing, /^xp/).length).toBe(forwardsBefore);

    // The real key, through HAProxy to whichever instance comes next, still cancels it.
    await rawCancel(lb.port, session.processID, session.secret);
    await expect(session.query).rejects.toMatchObject({ code: '57014' });
  });
});

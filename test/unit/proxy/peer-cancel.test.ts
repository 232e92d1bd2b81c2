// Where a cancel goes when its key names another gatehouse instance (PgBouncer's peering), and how the forward
// reaches the peer: real sockets (TCP and a Unix socket directory) standing in for the peer, which read the 16-byte
// CancelRequest and close, as gatehouse and PostgreSQL do.
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { unixSocketPath, type PeerConfig } from '../../../src/config/index.js';
import { JournalBook } from '../../../src/journal/journal.js';
import { Metrics } from '../../../src/observability/metrics.js';
import { CANCEL_REQUEST_CODE } from '../../../src/protocol/index.js';
import { cancelKeyOwner, issueCancelKey } from '../../../src/proxy/cancel-key.js';
import { PeerCancels, routeToPeer } from '../../../src/proxy/peer-cancel.js';
import { ManualTimers } from '../../model/harness/manual-timers.js';
import { waitUntil } from '../../fixtures/wait.js';

const peer = (peer_id: number, pool_size = 20): PeerConfig => ({ peer_id, host: '10.0.0.9', port: 6432, pool_size });

describe('routeToPeer', () => {
  const peers = [peer(1), peer(2), peer(3)];
  it.each([
    ['peering off: every key is this instance\'s', 0, { peerId: 2, ttl: 3 }, { kind: 'own' }],
    ['the own id, whatever the TTL', 1, { peerId: 1, ttl: 0 }, { kind: 'own' }],
    ['another peer with TTL left: forwarded to it', 1, { peerId: 2, ttl: 1 }, { kind: 'forward', peer: peer(2) }],
    ['another peer with TTL 0: dropped', 1, { peerId: 2, ttl: 0 }, { kind: 'drop', reason: 'ttl_expired' }],
    ['a peer id not in peers: dropped', 1, { peerId: 9, ttl: 3 }, { kind: 'drop', reason: 'unknown_peer' }],
  ])('%s', (_, selfId, owner, route) => {
    expect(routeToPeer(selfId, peers, owner)).toEqual(route);
  });
});

/** A peer that records each CancelRequest it reads; `hold` keeps connections open until `release()`. */
async function fakePeer(listen: { port: 0 } | { path: string }, hold = false) {
  const received: Buffer[] = [];
  const held: net.Socket[] = [];
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted++;
    let data = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      if (data.length < 16) return;
      received.push(data);
      if (hold) held.push(socket);
      else socket.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(listen, resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    received,
    get accepted() {
      return accepted;
    },
    release: () => held.splice(0).forEach((s) => s.end()),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function peerCancels(peers: PeerConfig[], timers?: ManualTimers) {
  const journals = new JournalBook(100);
  const metrics = new Metrics();
  const cancels = new PeerCancels({ selfId: 1, peers: () => peers, logger: pino({ level: 'silent' }), journals, metrics, timers });
  const outcomes = async () => (await metrics.peerCancelRequests.get()).values.map((v) => `${v.labels.peer}:${v.labels.outcome}=${v.value}`).sort();
  return { cancels, journals, outcomes };
}

const dir = mkdtempSync(join(tmpdir(), 'gh-peer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('PeerCancels', () => {
  it('forwards a key of peer 2 to it with one TTL hop used, journaled as a cancel-request with input.peer', async () => {
    const target = await fakePeer({ port: 0 });
    const { cancels, journals, outcomes } = peerCancels([{ peer_id: 2, host: '127.0.0.1', port: target.port, pool_size: 20 }]);
    const key = issueCancelKey({ peerId: 2, worker: 0 });
    expect(cancels.handle(key.processId, key.secretKey, cancelKeyOwner(key.processId, key.secretKey))).toBe(true);
    await waitUntil('the forward to end', () => journals.find('xp1')?.endedAt != null);

    const [packet] = target.received;
    expect(packet.readInt32BE(0)).toBe(16);
    expect(packet.readInt32BE(4)).toBe(CANCEL_REQUEST_CODE);
    expect(packet.readInt32BE(8)).toBe(key.processId);
    const forwarded = packet.subarray(12);
    expect(cancelKeyOwner(key.processId, forwarded)).toEqual({ peerId: 2, worker: 0, ttl: 2 });
    expect(forwarded.readUInt32BE(0) >>> 2).toBe(key.secretKey.readUInt32BE(0) >>> 2);
    const record = journals.find('xp1')!;
    expect(record.input).toEqual({ mode: 'disable', negotiation: 'postgres', sessionTls: false, peer: 2 });
    expect(record.final?.value).toBe('sent');
    expect(await outcomes()).toEqual(['2:sent=1']);
    await target.close();
  });

  it('reaches a peer whose host is a Unix socket directory', async () => {
    const target = await fakePeer({ path: unixSocketPath(dir, 7001) });
    const { cancels, journals } = peerCancels([{ peer_id: 3, host: dir, port: 7001, pool_size: 20 }]);
    const key = issueCancelKey({ peerId: 3, worker: 0 });
    cancels.handle(key.processId, key.secretKey, cancelKeyOwner(key.processId, key.secretKey));
    await waitUntil('the forward to end', () => journals.find('xp1')?.endedAt != null);
    expect(journals.find('xp1')!.final?.value).toBe('sent');
    expect(target.received).toHaveLength(1);
    await target.close();
  });

  it('leaves its own keys to the registry and drops spent or unknown ones without a connection', async () => {
    const { cancels, journals, outcomes } = peerCancels([peer(2)]);
    const own = issueCancelKey({ peerId: 1, worker: 0 });
    expect(cancels.handle(own.processId, own.secretKey, cancelKeyOwner(own.processId, own.secretKey))).toBe(false);
    expect(cancels.handle(1, Buffer.alloc(4), { peerId: 2, worker: 0, ttl: 0 })).toBe(true);
    expect(cancels.handle(1, Buffer.alloc(4), { peerId: 5, worker: 0, ttl: 3 })).toBe(true);
    expect(journals.liveRecords()).toEqual([]);
    expect(await outcomes()).toEqual(['2:ttl_expired=1', '5:unknown_peer=1']);
  });

  it('keeps at most pool_size forwards in flight to a peer; the next one starts when one ends', async () => {
    const target = await fakePeer({ port: 0 }, true);
    const { cancels, journals, outcomes } = peerCancels([{ peer_id: 2, host: '127.0.0.1', port: target.port, pool_size: 1 }]);
    const key = issueCancelKey({ peerId: 2, worker: 0 });
    const owner = cancelKeyOwner(key.processId, key.secretKey);
    cancels.handle(key.processId, key.secretKey, owner);
    cancels.handle(key.processId, key.secretKey, owner);
    await waitUntil('the first forward to be read', () => target.received.length === 1);
    // Time enough for a second connection to arrive, were it not held back.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(target.accepted).toBe(1);
    expect(journals.find('xp2')).toBeUndefined();
    target.release();
    await waitUntil('the second forward to be read', () => target.received.length === 2);
    target.release();
    await waitUntil('both forwards to end', () => journals.find('xp2')?.endedAt != null);
    expect(await outcomes()).toEqual(['2:sent=2']);
    await target.close();
  });

  it('gives up a forward that found no free slot in time', async () => {
    const target = await fakePeer({ port: 0 }, true);
    const timers = new ManualTimers();
    const { cancels, journals, outcomes } = peerCancels([{ peer_id: 2, host: '127.0.0.1', port: target.port, pool_size: 1 }], timers);
    const key = issueCancelKey({ peerId: 2, worker: 0 });
    const owner = cancelKeyOwner(key.processId, key.secretKey);
    cancels.handle(key.processId, key.secretKey, owner);
    cancels.handle(key.processId, key.secretKey, owner);
    await waitUntil('the first forward to be read', () => target.received.length === 1);
    expect(timers.armed).toBe(2);
    // The first forward's own timeout and the second's wait for a slot expire together.
    timers.fireAll();
    await waitUntil('the first forward to end', () => journals.find('xp1')?.endedAt != null);
    expect(journals.find('xp1')!.final?.value).toBe('failed');
    expect(journals.find('xp2')).toBeUndefined();
    expect(await outcomes()).toEqual(['2:timeout=1', '2:wait_timeout=1']);
    target.release();
    await target.close();
  });
});

/**
 * One realistic conversation (simple query; Parse/Bind/Describe/Execute/Sync; Parse+Flush then
 * Sync; COPY FROM STDIN; a function call; a failed transaction; a Terminate) relayed with the
 * client's stream and the server's answers cut at every byte offset, in both pool modes, with and
 * without the synchronous idle-server fast path. Whatever the cuts, each side must receive exactly
 * the bytes of the uncut run (the server never the Terminate), and servers must go back to the pool
 * at the same moments with the same action.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { be, fe } from './support/pg-messages.js';
import { cutAt, runRelay, type Chooser, type HarnessResult, type Mode, type Release } from './support/relay-harness.js';

const conversation: Buffer[][] = [
  [fe.query('select 1')],
  [fe.parse('select 2'), fe.bind(), fe.describePortal(), fe.execute(), fe.sync()],
  [fe.parse('select 3'), fe.flush()],
  [fe.bind(), fe.execute(), fe.sync()],
  [fe.query('copy t from stdin')],
  [fe.copyData('1\tone\n'), fe.copyData('2\ttwo\n'), fe.copyDone()],
  [fe.functionCall()],
  [fe.query('begin')],
  [fe.query('select error')],
  [fe.query('rollback')],
  [fe.query('notice')],
  [fe.terminate()],
];
const turns = conversation.map((messages) => ({ bytes: Buffer.concat(messages), wait: true }));
const clientStream = Buffer.concat(turns.map((t) => t.bytes));
const terminateAt = clientStream.length - 5;
const withoutTerminate = clientStream.subarray(0, terminateAt);

/** Server releases per mode in the uncut run: the login server at once, then one per transaction. */
const expectedReleases: Record<Mode, string[]> = {
  transaction: Array(8).fill('reuse'),
  session: ['reset'],
};

const actions = (r: Release[]) => r.map((x) => x.action);

async function run(mode: Mode, fastAttach: boolean, chooser: Chooser, early = false): Promise<HarnessResult> {
  return runRelay({ mode, fastAttach, turns, chooser, early });
}

/** Everything a user could notice about a run, compared as one value so a difference shows at once. */
const observed = (r: HarnessResult) => ({
  violations: r.violations,
  ends: r.ends,
  releases: actions(r.releases),
  forwarded: r.forwarded.toString('latin1'),
  received: r.clientReceived.toString('latin1'),
});

describe.each([
  ['session', true],
  ['session', false],
  ['transaction', true],
  ['transaction', false],
] as [Mode, boolean][])('relay, %s pooling (idle-server fast path: %s)', (mode, fastAttach) => {
  let reference: ReturnType<typeof observed>;
  beforeAll(async () => {
    reference = observed(await run(mode, fastAttach, cutAt()));
  });

  it('relays the uncut conversation unchanged, without the Terminate, releasing servers only between transactions', async () => {
    const r = await run(mode, fastAttach, cutAt());
    expect(r.violations).toEqual([]);
    expect(r.ends).toEqual([{ kind: 'client-closed' }]);
    expect(r.forwarded.equals(withoutTerminate)).toBe(true);
    expect(r.clientReceived.equals(r.expectedAtClient)).toBe(true);
    // The answers a client of PostgreSQL would get, in order (spot checks on the server stream).
    const received = r.clientReceived;
    expect(received.subarray(received.length - 6).equals(be.readyForQuery('I'))).toBe(true);
    expect(received.includes(be.copyInResponse())).toBe(true);
    expect(received.includes(be.functionCallResponse())).toBe(true);
    expect(actions(r.releases)).toEqual(expectedReleases[mode]);
    expect(observed(r)).toEqual(reference);
  });

  it('sends the client the same bytes and releases servers at the same moments, wherever the server’s answers are cut', async () => {
    const total = reference.received.length;
    for (let cut = 1; cut < total; cut++) {
      const r = await run(mode, fastAttach, cutAt([], [cut]));
      const o = observed(r);
      if (JSON.stringify(o) !== JSON.stringify(reference)) expect({ cut, ...o }).toEqual({ cut, ...reference });
    }
  });

  it('forwards the same bytes and releases servers at the same moments, wherever the client’s stream is cut before its Terminate', async () => {
    for (let cut = 1; cut <= terminateAt; cut++) {
      const o = observed(await run(mode, fastAttach, cutAt([cut])));
      if (JSON.stringify(o) !== JSON.stringify(reference)) expect({ cut, ...o }).toEqual({ cut, ...reference });
    }
  });

  it('never reuses or resets a server that saw part of a Terminate cut in two', async () => {
    for (let cut = terminateAt + 1; cut < clientStream.length; cut++) {
      const r = await run(mode, fastAttach, cutAt([cut]));
      expect(r.violations, `cut at ${cut}`).toEqual([]);
      expect(r.ends).toEqual([{ kind: 'client-closed' }]);
      expect(r.clientReceived.toString('latin1')).toBe(reference.received);
      const seenPart = r.forwarded.length > terminateAt;
      if (seenPart) {
        // The server got the Terminate's first bytes: it cannot be given to anyone else.
        expect(r.forwarded.equals(clientStream.subarray(0, cut))).toBe(true);
        const last = r.releases[r.releases.length - 1];
        expect(last.action, `cut at ${cut}`).toBe('close');
        expect(actions(r.releases.slice(0, -1))).toEqual(mode === 'session' ? [] : reference.releases);
      } else {
        // A relay that held the partial header back (nothing of the Terminate reached a server).
        expect(observed(r)).toEqual(reference);
      }
    }
  });

  it('gives the same result when both streams are cut at the same offset, and when every byte is its own chunk', async () => {
    for (let cut = 1; cut <= terminateAt; cut++) {
      const o = observed(await run(mode, fastAttach, cutAt([cut], [cut])));
      if (JSON.stringify(o) !== JSON.stringify(reference)) expect({ cut, ...o }).toEqual({ cut, ...reference });
    }
    // One byte per chunk both ways: the Terminate is split too, so compare all but the end.
    const r = await run(mode, fastAttach, cutAt([], [], { bytewise: true }));
    expect(r.violations).toEqual([]);
    expect(r.clientReceived.toString('latin1')).toBe(reference.received);
    expect(r.forwarded.subarray(0, terminateAt).equals(withoutTerminate)).toBe(true);
    expect(r.forwarded.length).toBeLessThan(clientStream.length);
    if (r.forwarded.length > terminateAt) expect(r.releases[r.releases.length - 1].action).toBe('close');
  });

  it('treats bytes that arrived with the login like any other, wherever they are cut', async () => {
    const r = await run(mode, fastAttach, cutAt(), true);
    expect(observed(r)).toEqual(reference);
    for (let cut = 1; cut < turns[0].bytes.length + turns[1].bytes.length; cut++) {
      const o = observed(await run(mode, fastAttach, cutAt([cut], [cut]), true));
      if (JSON.stringify(o) !== JSON.stringify(reference)) expect({ cut, ...o }).toEqual({ cut, ...reference });
    }
  });
});

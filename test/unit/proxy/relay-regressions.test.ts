/**
 * Three relay bugs the harness found (in src/proxy/relay.ts as of 4f2e4c4), fixed since; each test
 * names the input, what a user would have seen, and the cause.
 *
 * 1. A ReadyForQuery that settled every Query/Sync/FunctionCall cleared "busy" even when the client
 *    had sent Parse, Bind, Execute… after its last sync point: the server held them, and transaction
 *    pooling handed it to the next client, whose Sync then reached a server that never saw its Parse.
 * 2. `terminateAt = end - 5` assumed a 5-byte Terminate: one whose length word claims a body put part
 *    of itself on a server that was then reused.
 * 3. (Cost.) A Terminate cut in two took a server from the pool only to send it the Terminate's first
 *    bytes and close it. Now no byte of a Terminate is ever forwarded.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { script } from './support/client-scripts.js';
import { fe, message } from './support/pg-messages.js';
import { CLIENT_FIRST, cutAt, randomChooser, runRelay, seeded, type HarnessResult, type Mode, type Turn } from './support/relay-harness.js';

const wait = (...messages: Buffer[]): Turn => ({ bytes: Buffer.concat(messages), wait: true });
const pipelined = (...messages: Buffer[]): Turn => ({ bytes: Buffer.concat(messages), wait: false });
const releases = (r: HarnessResult) => r.releases.map((x) => `${x.server} ${x.action}`);

describe.each([true, false])('1. messages pipelined behind an unanswered sync point (transaction pooling, fast path: %s)', (fastAttach) => {
  it('a server is not handed to another client while Parse/Bind/Execute sent behind an unanswered query wait for their Sync', async () => {
    // Client: Query, then Parse/Bind/Execute before the query's answer, then (after the answer) Sync.
    const r = await runRelay({
      mode: 'transaction',
      fastAttach,
      turns: [pipelined(fe.query('select 1')), pipelined(fe.parse('select 2'), fe.bind(), fe.execute()), wait(fe.sync())],
      chooser: cutAt([], [], { order: CLIENT_FIRST }),
    });
    expect(r.violations).toEqual([]);
    expect(releases(r)).toEqual(['s1 reuse', 's1 reuse']);
  });

  it('a pipelined batch whose Sync arrives in a later chunk keeps its server (libpq pipeline mode, PgJDBC batches)', async () => {
    const batch = Buffer.concat([fe.parse('select 1'), fe.bind(), fe.execute(), fe.sync()]);
    const second = Buffer.concat([fe.parse('select 2'), fe.bind(), fe.execute()]);
    const r = await runRelay({
      mode: 'transaction',
      fastAttach,
      turns: [pipelined(batch, second), wait(fe.sync())],
      chooser: cutAt(),
    });
    expect(r.violations).toEqual([]);
    expect(releases(r)).toEqual(['s1 reuse', 's1 reuse']);
  });

  it('random scripts that pipeline Parse-first turns keep the pooling invariant', async () => {
    await fc.assert(
      fc.asyncProperty(script({ pipelineExtended: true }), fc.nat(), async (s, d) => {
        const r = await runRelay({ mode: 'transaction', fastAttach, turns: s.turns, leave: s.leave, chooser: randomChooser(seeded(d), { backpressure: 150, notify: 60 }) });
        expect(r.violations).toEqual([]);
        expect(r.clientReceived.equals(r.expectedAtClient)).toBe(true);
      }),
      { numRuns: 300, skipAllAfterTimeLimit: 20_000 },
    );
  });
});

describe('1. (session pooling)', () => {
  it('a session client that leaves with an unsynced Parse behind an answered query costs its server instead of a reset', async () => {
    const r = await runRelay({
      mode: 'session',
      fastAttach: true,
      turns: [pipelined(fe.query('select 1')), pipelined(fe.parse('select 2'), fe.flush())],
      leave: 'close',
      chooser: cutAt([], [], { order: CLIENT_FIRST }),
    });
    expect(r.violations).toEqual([]);
    expect(releases(r)).toEqual(['s1 close']);
  });
});

describe.each(['session', 'transaction'] as Mode[])('2. a Terminate whose length word claims a body (%s pooling)', (mode) => {
  it('no byte of a Terminate reaches a server that is then reused, when the Terminate arrives whole', async () => {
    const terminate = message('X', Buffer.from([0]));
    const r = await runRelay({ mode, fastAttach: true, turns: [wait(fe.query('select 1')), wait(terminate)], chooser: cutAt() });
    expect(r.violations).toEqual([]);
    expect(r.forwarded.equals(fe.query('select 1'))).toBe(true);
  });

  it('no byte of a Terminate reaches a server that is then reused, when the Terminate is cut in two', async () => {
    const terminate = message('X', Buffer.alloc(100, 0x21));
    const q = fe.query('select 1');
    const r = await runRelay({ mode, fastAttach: true, turns: [wait(q), wait(terminate)], chooser: cutAt([q.length + 55]) });
    expect(r.violations).toEqual([]);
    if (r.forwarded.length > q.length) expect(r.releases.at(-1)!.action).toBe('close');
  });
});

describe('3. cost: a Terminate cut in two (transaction pooling)', () => {
  it.each([true, false])('a client that quits with a Terminate cut in two does not take a server from the pool (fast path: %s)', async (fastAttach) => {
    const q = fe.query('select 1');
    const r = await runRelay({ mode: 'transaction', fastAttach, turns: [wait(q), wait(fe.terminate())], chooser: cutAt([q.length + 2]) });
    expect(r.violations).toEqual([]);
    expect(releases(r)).toEqual(['s1 reuse', 's1 reuse']);
  });
});

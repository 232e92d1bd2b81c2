/**
 * Property tests of the relay: random client scripts (see support/client-scripts.ts), answered by
 * scripted backends, with random chunking both ways, random interleaving of client writes and
 * server answers, random backpressure, notifications right behind ReadyForQuery, and (in some
 * properties) failed acquires, clients that vanish and servers that crash. The harness checks after
 * every step that a server goes back to the pool only when it could serve another client, that it is
 * released once, and that the client sees only its attached server's bytes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { script, type Script } from './support/client-scripts.js';
import { randomChooser, runRelay, seeded, type HarnessResult, type Mode } from './support/relay-harness.js';

/** The schedule's seed: the script shrinks to its essence, the schedule is replayed from the seed. */
const seed = fc.nat();
const modes: [Mode, boolean][] = [
  ['transaction', true],
  ['transaction', false],
  ['session', true],
  ['session', false],
];

function describeRun(s: Script, r: HarnessResult): string {
  return JSON.stringify({
    turns: s.turns.map((t) => `${t.wait ? '' : '(pipelined) '}${t.bytes.toString('latin1').replace(/[^\x20-\x7e]/g, '.')}`),
    leave: s.leave,
    releases: r.releases,
    ends: r.ends,
    violations: r.violations,
  });
}

/** What must hold in every run, failures or not. */
function checkRun(s: Script, r: HarnessResult): void {
  const why = () => describeRun(s, r);
  expect(r.violations, why()).toEqual([]);
  // The client's bytes reach the servers in order, with nothing lost, repeated or invented.
  expect(r.clientDelivered.subarray(0, r.forwarded.length).equals(r.forwarded), why()).toBe(true);
  // The client receives exactly what its attached server sent while attached, in order.
  expect(r.clientReceived.equals(r.expectedAtClient), why()).toBe(true);
  expect(r.ends.length, why()).toBeLessThanOrEqual(1);
}

/** Backpressure is honoured: after a write meets a full buffer, the relay stops reading the other side until 'drain'. */
function checkBackpressure(mode: Mode, s: Script, r: HarnessResult): void {
  const counts = { client: r.clientWritesWhileOwed, server: r.serverWritesWhileOwed, attachments: r.attachments };
  if (mode === 'session') expect(counts, describeRun(s, r)).toMatchObject({ client: 0, server: 0 });
  else {
    // Transaction pooling forgets a full buffer when it lets a server go: a newly attached server may
    // send one chunk before the relay learns the client is full again, and a server taken back while its
    // last 'drain' is owed gets one write. Bounded by the attachments, never unbounded buffering.
    expect(counts.client, describeRun(s, r)).toBeLessThanOrEqual(counts.attachments);
    expect(counts.server, describeRun(s, r)).toBeLessThanOrEqual(counts.attachments);
  }
}

describe.each(modes)('relay properties, %s pooling (idle-server fast path: %s)', (mode, fastAttach) => {
  it('a server goes back to the pool only between whole messages, with every Query/Sync/FunctionCall answered and status I; the client sees every byte its server sent', async () => {
    await fc.assert(
      fc.asyncProperty(script({ pipelineExtended: false }), seed, fc.boolean(), async (s, d, early) => {
        const r = await runRelay({ mode, fastAttach, turns: s.turns, leave: s.leave, early, chooser: randomChooser(seeded(d), { backpressure: 150, notify: 60 }) });
        checkRun(s, r);
        checkBackpressure(mode, s, r);
        // No failure was injected: everything before the client left reached a server.
        const sent = r.clientDelivered.length - (s.leave === 'terminate' ? 5 : 0);
        if (s.leave === 'terminate') {
          expect(r.ends, describeRun(s, r)).toEqual([{ kind: 'client-closed' }]);
          expect(r.forwarded.length, describeRun(s, r)).toBeGreaterThanOrEqual(sent);
          expect(r.forwarded.length, describeRun(s, r)).toBeLessThan(r.clientDelivered.length);
        } else {
          expect(r.forwarded.length, describeRun(s, r)).toBe(sent);
          expect(r.ends, describeRun(s, r)).toEqual(s.leave === 'close' ? [{ kind: 'client-closed' }] : []);
        }
      }),
      // Shrinking is capped at 20 s (the seed and path in the report replay it further).
      { numRuns: 400, skipAllAfterTimeLimit: 20_000 },
    );
  });

  it('the same holds when acquires fail, clients vanish mid-stream and servers crash: no server is released twice or reused dirty', async () => {
    await fc.assert(
      fc.asyncProperty(script({ pipelineExtended: false }), seed, async (s, d) => {
        const r = await runRelay({
          mode,
          fastAttach,
          turns: s.turns,
          leave: s.leave,
          failures: true,
          chooser: randomChooser(seeded(d), { backpressure: 150, notify: 60, acquireFailure: 80, failure: 15 }),
        });
        checkRun(s, r);
        if (r.ends[0]?.kind === 'server-lost' || r.ends[0]?.kind === 'no-server') {
          // Nothing the client sent after the failure reached any server.
          expect(r.backends.filter((b) => b.state === 'held')).toEqual([]);
        }
      }),
      // Shrinking is capped at 20 s (the seed and path in the report replay it further).
      { numRuns: 400, skipAllAfterTimeLimit: 20_000 },
    );
  });
});

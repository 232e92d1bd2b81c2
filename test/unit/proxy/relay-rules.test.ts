/**
 * The relay's pooling rules, one behaviour per test, each run with exactly the schedule that
 * matters (what the client has sent, what the server has answered, where the chunks are cut) in
 * the in-process harness. Each rule is one a user would notice when broken: another client getting
 * half of this client's conversation, a session leaking into the next client, a lost message.
 */
import { describe, expect, it } from 'vitest';
import { be, fe, frames, message } from './support/pg-messages.js';
import { CLIENT_FIRST, cutAt, runRelay, type CutOptions, type HarnessOptions, type HarnessResult, type Mode, type Turn } from './support/relay-harness.js';

const wait = (...messages: Buffer[]): Turn => ({ bytes: Buffer.concat(messages), wait: true });
const pipelined = (...messages: Buffer[]): Turn => ({ bytes: Buffer.concat(messages), wait: false });

async function run(mode: Mode, turns: Turn[], cut: { client?: number[]; server?: number[] } & CutOptions = {}, more: Partial<HarnessOptions> = {}): Promise<HarnessResult> {
  return runRelay({ mode, fastAttach: true, turns, chooser: cutAt(cut.client, cut.server, cut), ...more });
}

const releases = (r: HarnessResult) => r.releases.map((x) => `${x.server} ${x.action}`);

describe.each([true, false])('transaction pooling (idle-server fast path: %s)', (fastAttach) => {
  const tx = (turns: Turn[], cut: Parameters<typeof run>[2] = {}, more: Partial<HarnessOptions> = {}) => run('transaction', turns, cut, { fastAttach, ...more });

  it('a server is not handed to another client while a Parse/Flush exchange is unanswered', async () => {
    for (const first of [[fe.parse('select 1'), fe.flush()], [fe.parse('select 1'), fe.describePortal(), fe.flush()]]) {
      const r = await tx([wait(...first), wait(fe.bind(), fe.execute(), fe.sync())]);
      expect(r.violations).toEqual([]);
      // The login server goes back at once; the next one only after the Sync is answered.
      expect(releases(r)).toEqual(['s1 reuse', 's1 reuse']);
      expect(r.backends[0].received.length).toBeGreaterThan(1);
    }
  });

  it('a server stays with the client through COPY FROM STDIN until the copy is answered', async () => {
    const r = await tx([wait(fe.query('copy t from stdin')), wait(fe.copyData('1\n')), wait(fe.copyData('2\n'), fe.copyDone())]);
    expect(r.violations).toEqual([]);
    expect(releases(r)).toEqual(['s1 reuse', 's1 reuse']);
  });

  it('a server stays with the client through an open transaction, even one that failed', async () => {
    const r = await tx([wait(fe.query('begin')), wait(fe.query('select error')), wait(fe.query('select 1')), wait(fe.query('rollback'))]);
    expect(r.violations).toEqual([]);
    expect(releases(r)).toEqual(['s1 reuse', 's1 reuse']);
  });

  // The first answer (FunctionCallResponse or a query's rows, then ReadyForQuery) arrives alone.
  const fnAnswer = be.functionCallResponse().length + 6;
  const queryAnswer = be.rowDescription().length + be.dataRow('select 1').length + be.commandComplete('SELECT 1').length + 6;
  for (const [name, turns, cut] of [
    ['two pipelined function calls keep the server until the second is answered', [pipelined(fe.functionCall()), pipelined(fe.functionCall())], fnAnswer],
    ['a query pipelined behind a function call keeps the server until both are answered', [pipelined(fe.functionCall()), pipelined(fe.query('select 1'))], fnAnswer],
    ['a function call pipelined behind a query keeps the server until both are answered', [pipelined(fe.query('select 1')), pipelined(fe.functionCall())], queryAnswer],
  ] as [string, Turn[], number][]) {
    it(name, async () => {
      const r = await tx(turns, { server: [cut], order: CLIENT_FIRST }, { leave: 'stop' });
      expect(r.violations).toEqual([]);
      expect(releases(r)).toEqual(['s1 reuse', 's1 reuse']);
      expect(r.backends[0].received.length).toBe(2);
    });
  }

  it('a notification right behind ReadyForQuery reaches the client whole before the server is released', async () => {
    const answer = be.rowDescription().length + be.dataRow('select 1').length + be.commandComplete('SELECT 1').length + 6;
    for (const into of [1, 3, 5, 8]) {
      const r = await tx([wait(fe.query('select 1')), wait(fe.query('select 2'))], { server: [answer + into], notify: true });
      expect(r.violations, `cut ${into} bytes into the notification`).toEqual([]);
      // The client's stream holds only whole messages, the notification among them.
      const types = frames(r.clientReceived).map((f) => String.fromCharCode(f.type));
      expect(types.slice(0, 5)).toEqual(['T', 'D', 'C', 'Z', 'A']);
    }
  });

  it('bytes a server sends after it went back to the pool never reach the client', async () => {
    const answer = be.rowDescription().length + be.dataRow('select 1').length + be.commandComplete('SELECT 1').length + 6;
    // Cut exactly after ReadyForQuery: the server is released, then speaks (the pool closes it).
    const r = await tx([wait(fe.query('select 1')), wait(fe.query('select 2'))], { server: [answer], notify: true });
    expect(r.violations).toEqual([]);
    expect(r.clientReceived.subarray(0, answer + 1).at(-1)).toBe(0x54); // the next answer's RowDescription, no 'A'
    expect(r.clientReceived.equals(r.expectedAtClient)).toBe(true);
    expect(r.backends[0].state).toBe('closed');
  });

  it('a server is not released while the client’s next query has half arrived', async () => {
    const q1 = fe.query('select 1');
    const r = await tx([pipelined(q1), pipelined(fe.query('select 2'))], {
      client: [q1.length + 3],
      // Q1 in; Q2's first 3 bytes in; then Q1's answer.
      script: ['next-turn', 'client-data', ...(fastAttach ? [] : (['resolve-acquire'] as const)), 'next-turn', 'client-data', 'server-data'],
      order: CLIENT_FIRST,
    });
    expect(r.violations).toEqual([]);
    expect(r.forwarded.equals(Buffer.concat([q1, fe.query('select 2')]))).toBe(true);
  });

  it('a client that leaves in the middle of a transaction costs the server: it is closed, never reused', async () => {
    for (const leave of ['close', 'stop'] as const) {
      const r = await tx([wait(fe.query('begin'))], {}, { leave });
      expect(r.violations).toEqual([]);
      expect(releases(r)).toEqual(['s1 reuse', 's1 close']);
    }
  });

  it('a client that leaves while its query is unanswered costs the server', async () => {
    const r = await tx([wait(fe.query('select 1'))], { script: ['next-turn', 'client-data', ...(fastAttach ? [] : (['resolve-acquire'] as const)), 'client-close'] }, { failures: true });
    expect(r.violations).toEqual([]);
    expect(r.ends).toEqual([{ kind: 'client-closed' }]);
    expect(releases(r)).toEqual(['s1 reuse', 's1 close']);
  });

  it('a server that saw the start of a Terminate is closed, never reused', async () => {
    const q = fe.query('select 1');
    for (const into of [1, 2, 3, 4]) {
      const r = await tx([wait(q), wait(fe.terminate())], { client: [q.length + into] });
      expect(r.violations).toEqual([]);
      expect(r.ends).toEqual([{ kind: 'client-closed' }]);
      if (r.forwarded.length > q.length) expect(r.releases.at(-1)!.action).toBe('close');
      expect(r.releases.filter((x) => x.action === 'reuse')).toHaveLength(2);
    }
  });
});

describe('session pooling', () => {
  it('a session server goes back reset for the next client, never reused as it is', async () => {
    for (const leave of ['terminate', 'close', 'stop'] as const) {
      const turns = [wait(fe.query('set app')), wait(fe.query('select 1')), ...(leave === 'terminate' ? [wait(fe.terminate())] : [])];
      const r = await run('session', turns, {}, { leave });
      expect(r.violations).toEqual([]);
      expect(releases(r)).toEqual(['s1 reset']);
    }
  });

  it('a session client that leaves in the middle of a transaction costs the server', async () => {
    for (const leave of ['close', 'stop'] as const) {
      const r = await run('session', [wait(fe.query('begin')), wait(fe.query('select 1'))], {}, { leave });
      expect(r.violations).toEqual([]);
      expect(releases(r)).toEqual(['s1 close']);
    }
  });

  it('a session server never sees any part of a Terminate cut in two, and is reset for the next client', async () => {
    const q = fe.query('select 1');
    for (const into of [1, 2, 3, 4]) {
      const r = await run('session', [wait(q), wait(fe.terminate())], { client: [q.length + into] });
      expect(r.violations).toEqual([]);
      expect(r.forwarded.equals(q)).toBe(true);
      expect(releases(r)).toEqual(['s1 reset']);
    }
  });

  it('a session server is reset after a pipelined conversation only once every answer has been read', async () => {
    const turns = [pipelined(fe.query('select 1')), pipelined(fe.functionCall()), pipelined(fe.functionCall()), pipelined(fe.parse('select 2'), fe.bind(), fe.execute(), fe.sync()), pipelined(fe.query('select 3'))];
    const reference = await run('session', [...turns, wait(fe.terminate())], { order: CLIENT_FIRST });
    expect(reference.violations).toEqual([]);
    expect(releases(reference)).toEqual(['s1 reset']);
  });
});

describe.each([
  ['session', true],
  ['transaction', true],
  ['transaction', false],
] as [Mode, boolean][])('a pipelined conversation, %s pooling (fast path: %s)', (mode, fastAttach) => {
  const turns = [
    pipelined(fe.query('select 1')),
    pipelined(fe.functionCall()),
    pipelined(fe.functionCall()),
    pipelined(fe.parse('select 2'), fe.bind(), fe.describePortal(), fe.execute(), fe.sync()),
    pipelined(fe.query('begin')),
    pipelined(fe.query('select 3')),
    pipelined(fe.query('commit')),
    pipelined(fe.functionCall()),
    wait(fe.terminate()),
  ];
  it('the server goes back once, after the last answer, wherever the answers are cut', async () => {
    const go = (server: number[]) => runRelay({ mode, fastAttach, turns, chooser: cutAt([], server, { order: CLIENT_FIRST }) });
    const reference = await go([]);
    expect(reference.violations).toEqual([]);
    expect(releases(reference)).toEqual(mode === 'session' ? ['s1 reset'] : ['s1 reuse', 's1 reuse']);
    for (let cut = 1; cut < reference.clientReceived.length; cut++) {
      const r = await go([cut]);
      if (r.violations.length || releases(r).join() !== releases(reference).join() || !r.clientReceived.equals(reference.clientReceived)) {
        expect({ cut, violations: r.violations, releases: releases(r) }).toEqual({ cut, violations: [], releases: releases(reference) });
      }
    }
  });
});

describe('impossible message lengths', () => {
  it('a client that sends an impossible message length is cut off, and its server closed', async () => {
    for (const mode of ['session', 'transaction'] as Mode[]) {
      const bad = Buffer.from([0x51, 0, 0, 0, 2]);
      const r = await run(mode, [wait(fe.query('begin')), wait(bad)]);
      expect(r.violations).toEqual([]);
      expect(r.ends).toMatchObject([{ kind: 'client-violation' }]);
      expect(r.releases.at(-1)!.action).toBe('close');
      expect(r.forwarded.equals(fe.query('begin'))).toBe(true);
    }
  });

  it('a message header with a length of 0x80000000 from the client is refused, not read as a huge body', async () => {
    const bad = Buffer.from([0x51, 0x80, 0, 0, 0]);
    for (let cut = 1; cut < 5; cut++) {
      const r = await run('session', [wait(fe.sync()), wait(bad)], { client: [5 + cut] });
      expect(r.ends).toMatchObject([{ kind: 'client-violation' }]);
      expect(releases(r)).toEqual(['s1 close']);
    }
  });

  it('still forwards an ordinary message whose type byte is unknown (the server decides)', async () => {
    const r = await run('session', [wait(message('y', 'abc')), wait(fe.query('select 1')), wait(fe.terminate())]);
    expect(r.forwarded.subarray(0, 8).equals(message('y', 'abc'))).toBe(true);
    expect(r.ends).toEqual([{ kind: 'client-closed' }]);
  });
});

describe('backpressure', () => {
  // Drains come last: the relay itself must stop reading the other side while a buffer is full.
  const drainsLast: CutOptions['order'] = ['resolve-acquire', 'server-data', 'client-data', 'next-turn', 'stray-data', 'drain-server', 'drain-client', 'client-close', 'server-crash'];

  it.each(['session', 'transaction'] as Mode[])('a client that reads slowly holds its server back until it drains (%s pooling)', async (mode) => {
    const turns = [wait(fe.query('select big')), wait(fe.query('select 1'))];
    const reference = await run(mode, turns);
    const r = await run(mode, turns, { server: [10, 20, 30, 40, 15_000], full: { client: [0, 2] }, order: drainsLast });
    expect(r.violations).toEqual([]);
    expect(r.clientWritesWhileOwed).toBe(0);
    expect(r.clientReceived.equals(reference.clientReceived)).toBe(true);
    expect(releases(r)).toEqual(releases(reference));
  });

  it.each(['session', 'transaction'] as Mode[])('a server that reads slowly holds its client back until it drains (%s pooling)', async (mode) => {
    const turns = [wait(fe.query('select 1')), wait(fe.copyData('x'.repeat(100)), fe.copyData('y'.repeat(100)), fe.sync())];
    const reference = await run(mode, turns);
    const r = await run(mode, turns, { client: [3, 20, 60, 130, 150, 200], full: { server: [0, 2] }, order: drainsLast });
    expect(r.violations).toEqual([]);
    expect(r.serverWritesWhileOwed).toBe(0);
    expect(r.forwarded.equals(reference.forwarded)).toBe(true);
    expect(releases(r)).toEqual(releases(reference));
  });
});

describe('a broken server', () => {
  it.each(['session', 'transaction'] as Mode[])('a server that sends an impossible message length is closed, never reused or reset (%s pooling)', async (mode) => {
    const r = await run(mode, [wait(fe.query('select 1 then garbage')), wait(fe.query('select 2'))]);
    expect(r.violations).toEqual([]);
    expect(r.ends).toMatchObject([{ kind: 'server-lost' }]);
    expect(r.releases.at(-1)!.action).toBe('close');
    // Nothing of the chunk that held the bad header reached the client.
    expect(r.clientReceived.includes(Buffer.from([0x5a, 0, 0, 0, 1]))).toBe(false);
  });
});

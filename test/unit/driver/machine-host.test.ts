/** The machine host folds events as an actor would: in order, commands after the state, errors contained. */
import { describe, expect, it } from 'vitest';
import { assign, emit, setup } from 'xstate';
import { hostMachine } from '../../../src/driver/machine-host.js';
import { JournalBook } from '../../../src/journal/journal.js';

type Ev = { type: 'go' } | { type: 'next' } | { type: 'boom' } | { type: 'stop' };
type Cmd = { type: 'say'; what: string };

const machine = setup({
  types: { events: {} as Ev, emitted: {} as Cmd, context: {} as { steps: number } },
  guards: {
    explodes: () => {
      throw new Error('guard exploded');
    },
  },
}).createMachine({
  id: 'toy',
  context: { steps: 0 },
  initial: 'idle',
  entry: emit({ type: 'say', what: 'hello' }),
  states: {
    idle: {
      on: {
        go: { target: 'going', actions: [assign({ steps: ({ context }) => context.steps + 1 }), emit({ type: 'say', what: 'went' }), emit({ type: 'say', what: 'twice' })] },
        boom: { guard: 'explodes', target: 'done' },
      },
    },
    going: { on: { next: { target: 'idle', actions: emit({ type: 'say', what: 'back' }) }, stop: 'done' } },
    done: { type: 'final' },
  },
});

function start(onCommand: (c: Cmd, run: ReturnType<typeof hostMachine<typeof machine>>) => void = () => {}) {
  const book = new JournalBook(10);
  const journal = book.open('t1', 'toy', 1, {});
  const errors: unknown[] = [];
  const seen: string[] = [];
  let run!: ReturnType<typeof hostMachine<typeof machine>>;
  run = hostMachine(machine, undefined as never, journal, (c) => {
    seen.push(`${c.what}@${JSON.stringify(run?.getSnapshot().value ?? null)}`);
    onCommand(c, run);
  }, (e) => errors.push(e));
  return { run, journal, errors, seen };
}

describe('machine host', () => {
  it('carries out the entry commands at start and each step’s commands in order, after its state is in place', () => {
    const { run, seen } = start();
    run.send({ type: 'go' });
    expect(seen).toEqual(['hello@null', 'went@"going"', 'twice@"going"']);
    expect(run.getSnapshot().context.steps).toBe(1);
  });

  it('an event a command’s handler sends waits until the step’s other commands are done, and is journaled in order', () => {
    const { run, seen, journal } = start((c, r) => {
      if (c.what === 'went') r.send({ type: 'next' });
    });
    run.send({ type: 'go' });
    expect(seen).toEqual(['hello@null', 'went@"going"', 'twice@"going"', 'back@"idle"']);
    expect(journal.record.entries.map((e) => e.event.type)).toEqual(['go', 'next']);
  });

  it('a guard that throws stops the machine, reports the error once and journals nothing after it', () => {
    const { run, errors, journal } = start();
    run.send({ type: 'boom' });
    run.send({ type: 'go' });
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toMatch(/guard exploded/);
    expect(run.getSnapshot().status).toBe('error');
    expect(journal.record.entries.map((e) => e.event.type)).toEqual(['boom']);
  });

  it('a final state completes observers and later events are ignored', () => {
    const { run, journal } = start();
    const told: string[] = [];
    run.subscribe({ next: (s) => told.push(String(s.value)), complete: () => told.push('complete') });
    run.send({ type: 'go' });
    run.send({ type: 'stop' });
    run.send({ type: 'go' });
    expect(told).toEqual(['going', 'done', 'complete']);
    expect(journal.record.entries).toHaveLength(2);
  });

  it('an inspector observer is told of the run, each event and each snapshot, as the Stately inspector expects', () => {
    const book = new JournalBook(10);
    const types: string[] = [];
    const run = hostMachine(machine, undefined as never, book.open('t2', 'toy', 1, {}), () => {}, () => {}, { next: (e: { type: string }) => types.push(e.type) });
    run.send({ type: 'go' });
    expect(types).toEqual(['@xstate.actor', '@xstate.snapshot', '@xstate.event', '@xstate.snapshot']);
    expect(run.logic).toBe(machine);
  });
});

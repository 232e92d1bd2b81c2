/**
 * Runs one generated path against a live driver: for every step, cause the event's real-world
 * reason, wait (with a timeout) until the driver reported exactly that event,
 * compare state and context with the model, then check the effect a user would notice. At the end,
 * fold the driver's journal through the pure machine and compare with the live machine, and the
 * transitions it took with those the model predicts for the path.
 */
import { expect } from 'vitest';
import type { AnyMachineSnapshot, AnyStateMachine, EventObject } from 'xstate';
import type { MachineRun } from '../../../src/driver/machine-host.js';
import type { JournalEntry } from '../../../src/journal/journal.js';
import { foldJournal, pathTransitions } from './coverage.js';
import { valueToDotted, type ModelPath, type ModelStep } from './model-paths.js';

export const STEP_TIMEOUT_MS = 3000;

/** Resolves with the first snapshot of `run` (the current one included) that satisfies `predicate`; rejects after `timeoutMs`, or if the machine stops first. */
export function untilSnapshot<S>(run: { getSnapshot(): S; subscribe: MachineRun<AnyStateMachine>['subscribe'] }, predicate: (snapshot: S) => boolean, timeoutMs: number): Promise<S> {
  return new Promise((resolve, reject) => {
    if (predicate(run.getSnapshot())) return resolve(run.getSnapshot());
    const timer = setTimeout(() => done(new Error(`no such snapshot within ${timeoutMs} ms`)), timeoutMs);
    const subscription = run.subscribe({
      next: (snapshot) => {
        if (predicate(snapshot as S)) done(null, snapshot as S);
      },
      error: (err) => done(err instanceof Error ? err : new Error(String(err))),
      complete: () => done(new Error('the machine stopped before such a snapshot')),
    });
    function done(err: Error | null, snapshot?: S): void {
      clearTimeout(timer);
      subscription.unsubscribe();
      if (err) reject(err);
      else resolve(snapshot!);
    }
  });
}

export interface PathWorld<E extends EventObject> {
  /** The driver's live machine. */
  readonly actor: MachineRun<AnyStateMachine>;
  /** The driver's journal, as recorded so far. */
  entries(): JournalEntry[];
  /** Do what makes the driver report `step.event` (write bytes, close a socket, fire the clock...). */
  cause(step: ModelStep<E>, index: number): Promise<void> | void;
  /** Check what the user of the connection notices after `step` (bytes, closed sockets, promise outcome...). */
  effect(step: ModelStep<E>, index: number, previous: AnyMachineSnapshot): Promise<void> | void;
}

export interface MachineView<E extends EventObject> {
  machine: AnyStateMachine;
  input: unknown;
  /** The context without what the model cannot know (free-text messages, certificate fingerprints). */
  comparableContext(context: unknown): unknown;
  /** The part of an event a guard or the context reads: what the driver must report exactly as sampled. */
  facts(event: E): unknown;
}

function expectState(actual: AnyMachineSnapshot, expected: AnyMachineSnapshot, view: MachineView<EventObject>, where: string): void {
  expect(valueToDotted(actual.value), `${where}: state`).toBe(valueToDotted(expected.value));
  expect(actual.status, `${where}: status`).toBe(expected.status);
  expect(view.comparableContext(actual.context), `${where}: context`).toEqual(view.comparableContext(expected.context));
}

export async function runPath<E extends EventObject>(
  path: ModelPath<E>,
  world: PathWorld<E>,
  view: MachineView<E>,
): Promise<void> {
  const generic = view as unknown as MachineView<EventObject>;
  expectState(world.actor.getSnapshot() as AnyMachineSnapshot, path.steps[0].state, generic, 'initial state');
  for (let i = 1; i < path.steps.length; i++) {
    const step = path.steps[i];
    const where = `step ${i} (${step.event.type})`;
    const before = world.entries().length;
    await world.cause(step, i);
    try {
      await untilSnapshot(world.actor, () => world.entries().length > before, STEP_TIMEOUT_MS);
    } catch {
      const now = world.actor.getSnapshot() as AnyMachineSnapshot;
      throw new Error(`${where}: the driver reported no event within ${STEP_TIMEOUT_MS} ms (state ${valueToDotted(now.value)}, ${now.status})`);
    }
    const reported = world.entries().slice(before).map((e) => e.event);
    expect(reported.map((e) => e.type), `${where}: events the driver reported`).toEqual([step.event.type]);
    expect(view.facts(reported[0] as E), `${where}: facts the driver reported`).toEqual(view.facts(step.event));
    expectState(world.actor.getSnapshot() as AnyMachineSnapshot, step.state, generic, `after ${where}`);
    await world.effect(step, i, path.steps[i - 1].state);
  }
  const live = world.actor.getSnapshot() as AnyMachineSnapshot;
  const journal = world.entries();
  expect(journal.map((e) => e.seq), 'journal sequence numbers').toEqual(journal.map((_, i) => i + 1));
  const replay = foldJournal(view.machine, view.input, journal.map((e) => e.event));
  expect(replay.folded, 'journal entries folded before a final state').toBe(journal.length);
  expect(replay.snapshot.value, 'replayed state').toEqual(live.value);
  expect(replay.snapshot.status, 'replayed status').toBe(live.status);
  expect(replay.snapshot.context, 'replayed context').toEqual(live.context);
  // The coverage gate counts the transitions the model predicts for each path (CoverageRecorder.recordPaths);
  // this is where the real driver is held to them.
  expect(replay.taken, 'transitions the driver took (its journal folded)').toEqual(pathTransitions(view.machine, view.input, path));
}

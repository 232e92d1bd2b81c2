/**
 * The one way drivers run a machine: create the actor with an error observer (an unobserved actor
 * error would become an uncaught exception and kill the process), route emitted commands to the
 * driver, and journal every event before the actor sees it.
 */
import { createActor, type Actor, type AnyStateMachine, type EventFromLogic, type InputFrom, type EmittedFrom } from 'xstate';
import type { ConnectionJournal } from '../journal/journal.js';

export interface ActorHost<M extends AnyStateMachine> {
  actor: Actor<M>;
  send(event: EventFromLogic<M>): void;
}

export function hostActor<M extends AnyStateMachine>(
  machine: M,
  input: InputFrom<M>,
  journal: ConnectionJournal,
  onCommand: (command: EmittedFrom<M>) => void,
  onError: (error: unknown) => void,
  /** Stately inspector observer; absent (the default) means no inspection cost at all. */
  inspect?: unknown,
): ActorHost<M> {
  const actor = createActor(machine, (inspect ? { input, inspect } : { input }) as never) as Actor<M>;
  actor.subscribe({ error: onError });
  actor.on('*', onCommand as never);
  actor.start();
  return {
    actor,
    send(event) {
      if ((actor.getSnapshot() as { status: string }).status !== 'active') return;
      journal.append(event as never);
      actor.send(event);
    },
  };
}

/** What a journal records of the live actor at the end, for replay checks. */
export function finalState(snapshot: { value: unknown; context: unknown }): { value: unknown; context: unknown } {
  return { value: snapshot.value, context: snapshot.context };
}

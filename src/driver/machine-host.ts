/**
 * The one way drivers run a machine: the machine's own transition function folds each event into the next
 * snapshot, as a replay of the journal does (src/journal/replay.ts), with no XState actor behind it. An actor
 * costs ~4.6 kB per live connection (mailbox, system, a score of closures) for services gatehouse does not use:
 * no children, no delays, no messages between actors. A live connection here holds its snapshot and this object,
 * ~1 kB in all (bench/machine-host-cost.mjs; bench/results/issue-12-memory.md).
 *
 * The semantics are an actor's:
 * - every event is journaled before it is folded, and events are folded one at a time in the order they were
 *   sent: one sent while another is being folded (by a command's handler) waits for its turn;
 * - the commands a step emitted are carried out in order once its snapshot is in place, so a handler that looks
 *   at the machine sees the state that decided the command;
 * - after a final state, or an error, events are neither journaled nor folded;
 * - an error thrown by a guard or by a command's handler stops the machine and goes to `onError`, never up the
 *   sender's stack (a client's bytes must never take the process down).
 * Observers see each snapshot (`next`), then `complete` at a final state, or `error`: what xstate's `waitFor`
 * and an inspector need. With an `inspect` observer (the Stately inspector), the host reports itself, each event
 * and each snapshot as an actor would; without one, inspection costs nothing.
 */
import { createActor, type AnyActorScope, type AnyStateMachine, type EmittedFrom, type EventFromLogic, type InputFrom, type SnapshotFrom } from 'xstate';
import type { ConnectionJournal } from '../journal/journal.js';

/** What observers of a run are told; a subset of xstate's Observer. */
export interface RunObserver<S> {
  next?(snapshot: S): void;
  error?(error: unknown): void;
  complete?(): void;
}

export interface MachineRun<M extends AnyStateMachine> {
  /** Unique within the process: what an inspector names the run by. */
  readonly sessionId: string;
  /** The machine's id. */
  readonly id: string;
  /** The machine, for an inspector that draws it. */
  readonly logic: M;
  getSnapshot(): SnapshotFrom<M>;
  subscribe(observer: RunObserver<SnapshotFrom<M>>): { unsubscribe(): void };
  /** Journal the event, then fold it (ignored once the machine has stopped). */
  send(event: EventFromLogic<M>): void;
}

type Inspect = (event: Record<string, unknown>) => void;

/** An action the transition asked to be carried out; only emitted commands have effects here. */
interface ExecutableAction {
  type: string;
  params?: unknown;
}

/**
 * One scope per machine, shared by all its runs. Nothing but the machine's own pure guards and actions runs inside
 * a transition, and `collected` is emptied right after each one, before any command's handler (which may fold
 * another run of the same machine, as KILL does) runs: so `collected` always belongs to the step in progress.
 */
interface SharedScope {
  scope: AnyActorScope;
  collected: ExecutableAction[];
}

const scopes = new WeakMap<AnyStateMachine, SharedScope>();
let nextSession = 0;

function scopeOf(machine: AnyStateMachine): SharedScope {
  let shared = scopes.get(machine);
  if (shared) return shared;
  // An actor that is never started stands as the scope's `self` (none of gatehouse's machines address it).
  const self = createActor(machine);
  const collected: ExecutableAction[] = [];
  const scope: AnyActorScope = {
    self,
    id: machine.id,
    sessionId: '',
    logger: () => {},
    defer: () => {},
    emit: () => {},
    system: self.system,
    stopChild: () => {},
    actionExecutor: (action) => {
      collected.push(action as ExecutableAction);
    },
  };
  shared = { scope, collected };
  scopes.set(machine, shared);
  return shared;
}

class FoldedRun<M extends AnyStateMachine> implements MachineRun<M> {
  readonly sessionId = `gh.${++nextSession}`;
  readonly id: string;
  private snapshot: SnapshotFrom<M>;
  private stopped = false;
  private folding = false;
  private readonly queue: Array<EventFromLogic<M>> = [];
  private observers: Array<RunObserver<SnapshotFrom<M>>> | null = null;
  private readonly shared: SharedScope;

  constructor(
    readonly logic: M,
    input: InputFrom<M>,
    private readonly journal: ConnectionJournal,
    private readonly onCommand: (command: EmittedFrom<M>) => void,
    private readonly onError: (error: unknown) => void,
    private readonly inspect: Inspect | undefined,
  ) {
    this.id = logic.id;
    this.shared = scopeOf(logic);
    this.folding = true;
    let actions: ExecutableAction[];
    try {
      this.snapshot = logic.getInitialSnapshot(this.shared.scope, input) as SnapshotFrom<M>;
    } finally {
      actions = this.shared.collected.splice(0);
    }
    inspect?.({ type: '@xstate.actor', actorRef: this, rootId: this.sessionId });
    this.settle({ type: 'xstate.init', input }, actions);
    // Events the initial commands' handlers sent were queued: fold them now.
    this.drain();
  }

  getSnapshot(): SnapshotFrom<M> {
    return this.snapshot;
  }

  subscribe(observer: RunObserver<SnapshotFrom<M>>): { unsubscribe(): void } {
    (this.observers ??= []).push(observer);
    return {
      unsubscribe: () => {
        if (this.observers) this.observers = this.observers.filter((o) => o !== observer);
      },
    };
  }

  send(event: EventFromLogic<M>): void {
    if (this.stopped) return;
    this.journal.append(event as never);
    this.queue.push(event);
    if (!this.folding) this.drain();
  }

  /** Fold queued events until none is left or the machine stops; `folding` is set while it runs. */
  private drain(): void {
    this.folding = true;
    while (this.queue.length > 0 && !this.stopped) {
      const event = this.queue.shift()!;
      this.inspect?.({ type: '@xstate.event', actorRef: this, event, rootId: this.sessionId });
      try {
        this.snapshot = this.logic.transition(this.snapshot, event, this.shared.scope) as SnapshotFrom<M>;
      } catch (err) {
        this.shared.collected.length = 0;
        this.fail(err);
        break;
      }
      this.settle(event, this.shared.collected.splice(0));
    }
    this.queue.length = 0;
    this.folding = false;
  }

  /** The step's snapshot is in place: carry out its commands, tell observers, stop at a final state. */
  private settle(event: unknown, actions: ExecutableAction[]): void {
    try {
      for (const action of actions) {
        if (action.type === 'xstate.emit') this.onCommand((action.params as { event: EmittedFrom<M> }).event);
      }
    } catch (err) {
      return this.fail(err);
    }
    const snapshot = this.snapshot;
    this.inspect?.({ type: '@xstate.snapshot', actorRef: this, event, snapshot, rootId: this.sessionId });
    for (const observer of this.observers ?? []) observer.next?.(snapshot);
    if ((snapshot as { status: string }).status === 'done') {
      this.stopped = true;
      for (const observer of this.observers ?? []) observer.complete?.();
    }
  }

  private fail(error: unknown): void {
    this.stopped = true;
    this.snapshot = { ...(this.snapshot as object), status: 'error', error } as SnapshotFrom<M>;
    for (const observer of this.observers ?? []) observer.error?.(error);
    this.onError(error);
  }
}

export function hostMachine<M extends AnyStateMachine>(
  machine: M,
  input: InputFrom<M>,
  journal: ConnectionJournal,
  onCommand: (command: EmittedFrom<M>) => void,
  onError: (error: unknown) => void,
  /** Stately inspector observer; absent (the default) means no inspection cost at all. */
  inspect?: unknown,
): MachineRun<M> {
  return new FoldedRun(machine, input, journal, onCommand, onError, inspectorOf(inspect));
}

/** xstate takes an inspection callback or an observer; so does this host. */
function inspectorOf(inspect: unknown): Inspect | undefined {
  if (typeof inspect === 'function') return inspect as Inspect;
  const next = (inspect as { next?: Inspect } | undefined)?.next;
  return next ? next.bind(inspect) : undefined;
}

/** What a journal records of the live machine at the end, for replay checks. */
export function finalState(snapshot: { value: unknown; context: unknown }): { value: unknown; context: unknown } {
  return { value: snapshot.value, context: snapshot.context };
}

/**
 * Generated paths: xstate/graph's TestModel walks a machine under one input ("mode") with payload
 * samples, and each shortest path becomes a test run against a real driver.
 */
import { transition, type AnyMachineSnapshot, type AnyStateMachine, type EventObject, type StateValue } from 'xstate';
import { createTestModel } from 'xstate/graph';

/**
 * A state/event pair the machine accepts but the real driver can never report in that state: the
 * model still walks the event everywhere else, and the coverage gate proves the transition itself
 * is exercised. Each entry says why, so a driver change that makes it reachable is easy to spot.
 */
export interface Undrivable {
  /** Dotted state path, matched with snapshot.matches(). */
  state: string;
  event: string;
  /** Only in these contexts (default: always). */
  when?: (context: never) => boolean;
  /** Only for events with this payload (default: any). */
  payload?: (event: never) => boolean;
  why: string;
}

export interface ModelStep<E extends EventObject> {
  event: E;
  /** The state the machine is in after `event` (for step 0, the initial state after xstate.init). */
  state: AnyMachineSnapshot;
}

export interface ModelPath<E extends EventObject> {
  name: string;
  steps: Array<ModelStep<E>>;
}

/** `a.b.c` → `{ a: { b: 'c' } }` */
export function dottedToValue(dotted: string): StateValue {
  const parts = dotted.split('.');
  let value: StateValue = parts[parts.length - 1];
  for (let i = parts.length - 2; i >= 0; i--) value = { [parts[i]]: value };
  return value;
}

/** `{ a: { b: 'c' } }` → `a.b.c` (machines here have no parallel states). */
export function valueToDotted(value: StateValue): string {
  if (typeof value === 'string') return value;
  const [key, inner] = Object.entries(value)[0] as [string, StateValue];
  return `${key}.${valueToDotted(inner)}`;
}

export function leafName(value: StateValue): string {
  return valueToDotted(value).split('.').pop()!;
}

export function isUndrivable(list: readonly Undrivable[], snapshot: AnyMachineSnapshot, event: EventObject): boolean {
  return list.some(
    (u) =>
      u.event === event.type &&
      snapshot.matches(dottedToValue(u.state)) &&
      (u.when?.(snapshot.context as never) ?? true) &&
      (u.payload?.(event as never) ?? true),
  );
}

export function generatePaths<E extends EventObject>(
  machine: AnyStateMachine,
  input: unknown,
  samples: (context: never) => E[],
  undrivable: readonly Undrivable[],
  label: (event: E) => string,
): Array<ModelPath<E>> {
  const model = createTestModel(machine, {
    input,
    events: (snapshot: AnyMachineSnapshot) => samples(snapshot.context as never),
    // Only events the current state handles (others are no-ops, not transitions), never past a final
    // state (pure transition() does not stop there), and only what the driver can really report.
    filterEvents: (snapshot: AnyMachineSnapshot, event: EventObject) =>
      snapshot.status === 'active' && snapshot.can(event) && !isUndrivable(undrivable, snapshot, event),
  } as never);
  const names = new Map<string, number>();
  return model.getShortestPaths().map((path) => {
    const steps = path.steps as unknown as Array<ModelStep<E>>;
    let name = nameOf(steps, label);
    const seen = names.get(name) ?? 0;
    names.set(name, seen + 1);
    if (seen > 0) name = `${name} #${seen + 1}`;
    return { name, steps };
  });
}

/** A readable test name: the events in order, then the state reached (and why it failed). */
export function nameOf<E extends EventObject>(steps: Array<ModelStep<E>>, label: (event: E) => string): string {
  const end = steps[steps.length - 1].state;
  const failure = (end.context as { failure?: { reason: string } | null }).failure;
  return `${steps.slice(1).map((s) => label(s.event)).join(' → ') || 'start'} ⇒ ${leafName(end.value)}${failure ? ` (${failure.reason})` : ''}`;
}

/**
 * `path` followed by `events`, with the states the pure machine computes for them. Shortest paths
 * reach each model state once, so payloads that lead to the same state (an MD5 versus a SCRAM
 * request) are walked only by such extensions; each event must be one the state accepts.
 */
export function extendPath<E extends EventObject>(
  machine: AnyStateMachine,
  path: ModelPath<E>,
  events: E[],
  label: (event: E) => string,
): ModelPath<E> {
  const steps = [...path.steps];
  let state = steps[steps.length - 1].state;
  for (const event of events) {
    if (state.status !== 'active' || !state.can(event)) {
      throw new Error(`scenario event ${event.type} is not accepted in ${valueToDotted(state.value)} after: ${path.name}`);
    }
    [state] = transition(machine, state as never, event as never) as unknown as [AnyMachineSnapshot];
    steps.push({ event, state });
  }
  return { name: nameOf(steps, label), steps };
}

/** The next step at or after `from` whose event type is one of `types`. */
export function nextStepOf<E extends EventObject>(path: ModelPath<E>, from: number, types: readonly string[]): ModelStep<E> | undefined {
  return path.steps.slice(from).find((s) => types.includes(s.event.type));
}

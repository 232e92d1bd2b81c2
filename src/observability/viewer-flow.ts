/**
 * The flow of one connection: its journal folded event by event with the pure transition functions
 * (as replay does), keeping for every journal row the transition the machine took — which state
 * node owned it, where it went, the guard that chose it and the guards tried before it — and, for
 * the step into `failed`, what refused the connection. The viewer draws its handshake flow from this.
 */
import { getNextTransitions, initialTransition, transition, type AnyMachineSnapshot, type AnyStateMachine, type AnyStateNode } from 'xstate';
import { machineRegistry, type MachineName } from '../../machines/index.js';
import { describeGuard, diagramNodeId, transitionLabel } from '../diagrams/mermaid.js';
import type { ConnectionRecord } from '../journal/journal.js';
import { stateName } from '../journal/replay.js';

export interface Failure {
  reason: string;
  sqlstate?: string;
  message: string;
}

export interface FlowTransition {
  /** Diagram id of the state node that defines the transition (the edge's `data-from`). */
  source: string;
  /** Diagram ids of its targets (the edges' `data-to`); the source itself for a targetless transition. */
  targets: string[];
  /** The edge's label in the machine diagram: `event [guard] / actions`. */
  label: string;
  /** The guard that chose this branch, or null when the transition has none. */
  guard: string | null;
  /** Guards of earlier candidates for the same event that were false, in the order they were tried. */
  passedOver: string[];
}

export interface FlowStep {
  /** The journal row's number. */
  seq: number;
  at: number;
  event: string;
  /** State before and after, as dotted paths (stateName). */
  from: string;
  to: string;
  /** Null: the machine had no enabled transition for the event and ignored it. */
  transition: FlowTransition | null;
}

export interface Refusal {
  seq: number;
  event: string;
  /** The guard of the transition into `failed`; null when the event itself is the verdict (auth.failed). */
  guard: string | null;
  failure: Failure | null;
}

export interface ConnectionFlow {
  id: string;
  machine: string;
  /** The state the machine starts in, before any journal row. */
  initial: string;
  steps: FlowStep[];
  /** Journal rows that arrived after the machine had finished: a live actor ignores them too. */
  afterFinal: number[];
  refusal: Refusal | null;
  /** The state the journal folds to and its status ('active' or 'done'). */
  state: string;
  status: string;
}

function failureOf(snapshot: AnyMachineSnapshot): Failure | null {
  return (snapshot.context as { failure?: Failure | null }).failure ?? null;
}

/** The transition `event` takes from `snapshot`, with the guarded candidates xstate tried and rejected before it. */
function takenTransition(machine: AnyStateMachine, snapshot: AnyMachineSnapshot, event: { type: string }): FlowTransition | null {
  const taken = machine.getTransitionData(snapshot as never, event as never)?.[0];
  if (!taken) return null;
  const candidates = getNextTransitions(snapshot).filter((t) => t.eventType === event.type);
  const position = candidates.indexOf(taken);
  const source = taken.source as AnyStateNode;
  return {
    source: diagramNodeId(source.path),
    targets: ((taken.target as AnyStateNode[] | undefined) ?? [source]).map((t) => diagramNodeId(t.path)),
    label: transitionLabel(event.type, taken),
    guard: describeGuard(taken.guard),
    passedOver: candidates
      .slice(0, Math.max(position, 0))
      .map((t) => describeGuard(t.guard))
      .filter((g): g is string => g !== null),
  };
}

export function connectionFlow(record: Pick<ConnectionRecord, 'id' | 'machine' | 'input' | 'entries'>): ConnectionFlow {
  const entry = machineRegistry[record.machine as MachineName];
  if (!entry) throw new Error(`connection ${record.id}: unknown machine "${record.machine}"`);
  const machine = entry.machine as AnyStateMachine;
  let [snapshot] = initialTransition(machine, record.input as never);
  const initial = stateName(snapshot);
  const steps: FlowStep[] = [];
  const afterFinal: number[] = [];
  let refusal: Refusal | null = null;
  for (const { seq, at, event } of record.entries) {
    if (snapshot.status !== 'active') {
      afterFinal.push(seq);
      continue;
    }
    const from = stateName(snapshot);
    const taken = takenTransition(machine, snapshot, event);
    [snapshot] = transition(machine, snapshot, event as never);
    steps.push({ seq, at, event: event.type, from, to: stateName(snapshot), transition: taken });
    if (taken && taken.targets.includes('failed')) refusal = { seq, event: event.type, guard: taken.guard, failure: failureOf(snapshot) };
  }
  return { id: record.id, machine: record.machine, initial, steps, afterFinal, refusal, state: stateName(snapshot), status: snapshot.status };
}

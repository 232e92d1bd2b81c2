/**
 * Rebuilds connections from a JSONL journal with the pure transition fold (no actor, no effects),
 * stopping at the first final state, and explains each step: the state it led to and the guarded
 * transition that decided it.
 */
import { readFileSync } from 'node:fs';
import { initialTransition, transition, type AnyMachineSnapshot, type AnyStateMachine } from 'xstate';
import { machineRegistry, type MachineName } from '../../machines/index.js';
import { describeGuard } from '../diagrams/mermaid.js';
import type { ConnectionRecord, JournalBook } from './journal.js';

export interface JournaledConnection {
  id: string;
  machine: string;
  machineVersion: number;
  input: unknown;
  events: Array<{ seq: number; at: number; event: { type: string } }>;
}

export interface ReplayStep {
  seq: number;
  event: string;
  /** Facts of the event that explain a decision, where it has some (which pg_hba rule matched). */
  detail: string | null;
  /** The guard of the transition taken, when it had one. */
  guard: string | null;
  state: string;
}

export interface ReplayResult {
  connection: JournaledConnection;
  steps: ReplayStep[];
  /** Events after the machine had finished (a live actor ignores them too). */
  ignored: number;
  snapshot: AnyMachineSnapshot;
  warnings: string[];
}

export function readJournalFile(file: string): JournaledConnection[] {
  const connections = new Map<string, JournaledConnection>();
  const lines = readFileSync(file, 'utf8').split('\n');
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new Error(`${file}: line ${i + 1}: not JSON`);
    }
    const id = String(parsed.id);
    if (parsed.kind === 'connection') {
      connections.set(id, {
        id,
        machine: String(parsed.machine),
        machineVersion: Number(parsed.machineVersion),
        input: parsed.input,
        events: [],
      });
    } else if (parsed.kind === 'event') {
      const conn = connections.get(id);
      if (!conn) throw new Error(`${file}: line ${i + 1}: event for connection ${id} before its "connection" line`);
      conn.events.push({ seq: Number(parsed.seq), at: Number(parsed.at), event: parsed.event as { type: string } });
    }
  });
  return [...connections.values()];
}

export function stateName(snapshot: AnyMachineSnapshot): string {
  const flatten = (value: unknown): string =>
    typeof value === 'string'
      ? value
      : Object.entries(value as Record<string, unknown>)
          .map(([k, v]) => `${k}.${flatten(v)}`)
          .join(',');
  return flatten(snapshot.value);
}

export function replayConnection(connection: JournaledConnection): ReplayResult {
  const entry = machineRegistry[connection.machine as MachineName];
  if (!entry) throw new Error(`connection ${connection.id}: unknown machine "${connection.machine}"`);
  const machine = entry.machine as AnyStateMachine;
  const warnings =
    entry.version === connection.machineVersion
      ? []
      : [`recorded with ${connection.machine} v${connection.machineVersion}, replayed with v${entry.version}`];
  let [snapshot] = initialTransition(machine, connection.input as never);
  const steps: ReplayStep[] = [];
  let ignored = 0;
  for (const { seq, event } of connection.events) {
    if (snapshot.status !== 'active') {
      ignored++;
      continue;
    }
    const taken = machine.getTransitionData(snapshot as never, event as never)?.[0];
    [snapshot] = transition(machine, snapshot, event as never);
    steps.push({ seq, event: event.type, detail: eventDetail(event), guard: taken ? describeGuard(taken.guard) : null, state: stateName(snapshot) });
  }
  return { connection, steps, ignored, snapshot, warnings };
}

/** The pg_hba verdict a startup was decided on: the rule that matched (where, and what it says), or none. */
function eventDetail(event: { type: string }): string | null {
  const hba = (event as { hba?: { kind: string; source?: string; line?: number; text?: string } }).hba;
  if (!hba || hba.kind === 'unconfigured') return null;
  if (hba.kind === 'no-match') return 'pg_hba: no rule matched';
  return `pg_hba ${hba.source}:${hba.line}: ${hba.text}`;
}

/** Human-readable account of a replay, as `gatehouse replay` prints it. */
export function formatReplay(result: ReplayResult): string {
  const { connection, steps, snapshot } = result;
  const out = [`connection ${connection.id} (${connection.machine} v${connection.machineVersion}) input ${JSON.stringify(connection.input)}`];
  for (const w of result.warnings) out.push(`  warning: ${w}`);
  out.push(`  start → ${stateName(initialTransition(machineRegistry[connection.machine as MachineName].machine as AnyStateMachine, connection.input as never)[0])}`);
  for (const s of steps) out.push(`  #${s.seq} ${s.event}${s.detail ? ` (${s.detail})` : ''}${s.guard ? ` [${s.guard}]` : ''} → ${s.state}`);
  const failure = (snapshot.context as { failure?: { reason: string; sqlstate?: string; message: string } | null }).failure;
  out.push(`  final: ${stateName(snapshot)} (${snapshot.status})${failure ? ` — ${failure.reason}${failure.sqlstate ? ` ${failure.sqlstate}` : ''}: ${failure.message}` : ''}`);
  if (result.ignored > 0) out.push(`  ${result.ignored} event(s) after the final state ignored`);
  return out.join('\n');
}

/** The snapshot a journal folds to: the pure transition fold, stopping at the first final state. */
export function foldRecord(record: Pick<ConnectionRecord, 'machine' | 'input' | 'entries'>): AnyMachineSnapshot {
  const machine = machineRegistry[record.machine as MachineName].machine as AnyStateMachine;
  let [snapshot] = initialTransition(machine, record.input as never);
  for (const { event } of record.entries) {
    if (snapshot.status !== 'active') break;
    [snapshot] = transition(machine, snapshot, event as never);
  }
  return snapshot;
}

/**
 * Connections whose journal does not replay to the state the live actor ended in (the event-sourcing
 * promise); each entry names the connection and both states. Journals cut short by the
 * per-connection bound are skipped.
 */
export function replayMismatches(book: JournalBook): string[] {
  const problems: string[] = [];
  for (const record of book.endedRecords()) {
    if (!record.final || record.dropped > 0) continue;
    const replayed = foldRecord(record);
    const live = JSON.stringify(record.final);
    const folded = JSON.stringify({ value: replayed.value, context: replayed.context });
    if (live !== folded) problems.push(`${record.id} (${record.machine}): live ${live} but replay gives ${folded}`);
  }
  return problems;
}

/**
 * What the viewer shows of a connection, computed from its journal alone (the pure fold, on
 * request): no actor is touched and nothing is added to the hot path.
 */
import { diagramNodeId } from '../diagrams/mermaid.js';
import type { ConnectionRecord } from '../journal/journal.js';
import { foldRecord, stateName } from '../journal/replay.js';

export interface ConnectionView {
  id: string;
  machine: string;
  live: boolean;
  startedAt: number;
  endedAt: number | null;
  status: string;
  /** Active state ids, outermost first, as the diagrams name them (path joined by "_"). */
  activeStates: string[];
  state: string;
  failure: { reason: string; sqlstate?: string; message: string } | null;
  events: number;
}

function activePaths(value: unknown, prefix: string[] = []): string[][] {
  if (typeof value === 'string') return [[...prefix, value]];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => [[...prefix, k], ...activePaths(v, [...prefix, k])]);
}

export function viewConnection(record: ConnectionRecord): ConnectionView {
  const snapshot = foldRecord(record);
  const paths = activePaths(snapshot.value);
  return {
    id: record.id,
    machine: record.machine,
    live: record.endedAt === null,
    startedAt: record.startedAt,
    endedAt: record.endedAt,
    status: snapshot.status,
    activeStates: [...new Set(paths.map(diagramNodeId))],
    state: stateName(snapshot),
    failure: (snapshot.context as { failure?: ConnectionView['failure'] }).failure ?? null,
    events: record.entries.length,
  };
}

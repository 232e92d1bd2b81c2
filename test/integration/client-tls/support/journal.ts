// Reading gatehouse's per-connection journals: which client connections appeared since a point in
// time, and the events the client driver fed to their client-session machines.
import type { ConnectionRecord } from '../../../../src/journal/journal.js';
import type { RunningGatehouse } from '../../../fixtures/gatehouse.js';

function clientRecords(gh: RunningGatehouse): ConnectionRecord[] {
  const { journals } = gh.gateway;
  return [...journals.endedRecords(), ...journals.liveRecords()].filter((r) => r.machine === 'client-session');
}

/** Ids of the client connections journaled so far (a mark for connectionsSince). */
export function journalMark(gh: RunningGatehouse): Set<string> {
  return new Set(clientRecords(gh).map((r) => r.id));
}

/** Client connections journaled after `mark` was taken. */
export function connectionsSince(gh: RunningGatehouse, mark: Set<string>): ConnectionRecord[] {
  return clientRecords(gh).filter((r) => !mark.has(r.id));
}

/** The events of `record` of one type, in order. */
export function eventsOfType(record: ConnectionRecord, type: string): Array<Record<string, unknown>> {
  return record.entries.filter((e) => e.event.type === type).map((e) => e.event);
}

/**
 * Per-connection event journal: every event a driver feeds to a machine is appended here first,
 * so the connection can be replayed to the same state. Secrets never reach it: drivers build
 * events from facts (a user name, a certificate fingerprint), never from passwords or proofs.
 */
import { EventEmitter } from 'node:events';

export interface JournalEntry {
  seq: number;
  at: number;
  machine: string;
  machineVersion: number;
  event: { type: string; [key: string]: unknown };
}

export interface ConnectionRecord {
  id: string;
  machine: string;
  machineVersion: number;
  input: unknown;
  startedAt: number;
  endedAt: number | null;
  entries: JournalEntry[];
  /** Entries dropped because the connection exceeded the per-connection bound. */
  dropped: number;
  /** The live actor's state when the connection ended: what a replay of `entries` must reproduce. */
  final: { value: unknown; context: unknown } | null;
}

/** Upper bound of entries kept per connection; a handshake needs a few dozen at most. */
const MAX_ENTRIES_PER_CONNECTION = 512;

export class ConnectionJournal {
  readonly record: ConnectionRecord;
  private seq = 0;

  constructor(
    private readonly book: JournalBook,
    id: string,
    machine: string,
    machineVersion: number,
    input: unknown,
  ) {
    this.record = { id, machine, machineVersion, input, startedAt: Date.now(), endedAt: null, entries: [], dropped: 0, final: null };
  }

  append(event: JournalEntry['event']): JournalEntry {
    const entry: JournalEntry = {
      seq: ++this.seq,
      at: Date.now(),
      machine: this.record.machine,
      machineVersion: this.record.machineVersion,
      event,
    };
    if (this.record.entries.length < MAX_ENTRIES_PER_CONNECTION) this.record.entries.push(entry);
    else this.record.dropped++;
    this.book.emit('entry', this.record, entry);
    return entry;
  }

  end(final: { value: unknown; context: unknown }): void {
    if (this.record.endedAt !== null) return;
    this.record.endedAt = Date.now();
    this.record.final = final;
    this.book.retire(this.record);
  }
}

/**
 * All journals of the process: live connections plus a bounded ring of ended ones
 * (general.journal_size connections).
 */
export class JournalBook extends EventEmitter {
  private readonly live = new Map<string, ConnectionRecord>();
  private readonly ended: ConnectionRecord[] = [];

  constructor(private readonly keepEnded: number) {
    super();
  }

  open(id: string, machine: string, machineVersion: number, input: unknown): ConnectionJournal {
    const journal = new ConnectionJournal(this, id, machine, machineVersion, input);
    this.live.set(id, journal.record);
    this.emit('open', journal.record);
    return journal;
  }

  retire(record: ConnectionRecord): void {
    this.live.delete(record.id);
    if (this.keepEnded <= 0) return;
    this.ended.push(record);
    if (this.ended.length > this.keepEnded) this.ended.shift();
    this.emit('ended', record);
  }

  liveRecords(): ConnectionRecord[] {
    return [...this.live.values()];
  }

  endedRecords(): ConnectionRecord[] {
    return [...this.ended];
  }

  find(id: string): ConnectionRecord | undefined {
    return this.live.get(id) ?? this.ended.find((r) => r.id === id);
  }
}

/**
 * general.journal_file: every journal entry appended as one JSON line, without blocking the event
 * loop and without unbounded buffering: when the disk falls behind by more than `maxBufferedBytes`,
 * lines are dropped and counted, and clients never wait for the disk.
 *
 * Line kinds: {"kind":"connection", id, machine, machineVersion, input, startedAt} when a journal
 * opens, then {"kind":"event", id, seq, at, machine, machineVersion, event} per event.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Counter } from 'prom-client';
import type { ConnectionRecord, JournalBook, JournalEntry } from './journal.js';

export class JsonlJournalSink {
  private readonly stream: WriteStream;
  private failed = false;

  constructor(
    private readonly book: JournalBook,
    file: string,
    private readonly dropped: Counter<string>,
    private readonly onError: (err: Error) => void,
    private readonly maxBufferedBytes = 4 * 1024 * 1024,
  ) {
    this.stream = createWriteStream(file, { flags: 'a' });
    this.stream.on('error', (err) => {
      this.failed = true;
      this.onError(err);
    });
    book.on('open', this.onOpen);
    book.on('entry', this.onEntry);
  }

  private readonly onOpen = (record: ConnectionRecord) => {
    const { id, machine, machineVersion, input, startedAt } = record;
    this.write({ kind: 'connection', id, machine, machineVersion, input, startedAt });
  };

  private readonly onEntry = (record: ConnectionRecord, entry: JournalEntry) => {
    this.write({ kind: 'event', id: record.id, ...entry });
  };

  private write(line: object): void {
    if (this.failed || this.stream.writableLength > this.maxBufferedBytes) {
      this.dropped.inc();
      return;
    }
    this.stream.write(`${JSON.stringify(line)}\n`);
  }

  close(): Promise<void> {
    this.book.off('open', this.onOpen);
    this.book.off('entry', this.onEntry);
    return new Promise((resolve) => this.stream.end(() => resolve()));
  }
}

/** Journals replay to the live actor's state; replay explains a refusal; the JSONL file round-trips. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { CLIENT_SESSION_VERSION, clientSessionMachine, type ClientEvent } from '../../../machines/index.js';
import { finalState } from '../../../src/driver/machine-host.js';
import { JournalBook } from '../../../src/journal/journal.js';
import { JsonlJournalSink } from '../../../src/journal/jsonl-sink.js';
import { formatReplay, readJournalFile, replayConnection, replayMismatches } from '../../../src/journal/replay.js';
import { Metrics } from '../../../src/observability/metrics.js';

const input = { tlsMode: 'require' as const, tlsAvailable: true, overCapacity: false, certIdentity: 'none' as const, transport: 'tcp' as const, hbaCertRules: false };
const plainUnderRequire: ClientEvent[] = [
  { type: 'client.startup', user: 'alice', database: 'app', databaseKnown: true, password: 'plain', address: '127.0.0.1', hba: { kind: 'unconfigured' }, adminConsole: null },
];

function record(book: JournalBook, id: string, events: ClientEvent[]) {
  const journal = book.open(id, 'client-session', CLIENT_SESSION_VERSION, input);
  const actor = createActor(clientSessionMachine, { input }).start();
  for (const event of events) {
    journal.append(event);
    actor.send(event);
  }
  journal.end(finalState(actor.getSnapshot()));
  return journal.record;
}

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('journal replay', () => {
  it('a journal replays to the state its live actor ended in', () => {
    const book = new JournalBook(10);
    record(book, 'c1', plainUnderRequire);
    expect(replayMismatches(book)).toEqual([]);
  });

  it('reports a journal that does not replay to the live state', () => {
    const book = new JournalBook(10);
    const rec = record(book, 'c1', plainUnderRequire);
    rec.entries.pop(); // an event lost: the fold now stops in awaiting-startup
    expect(replayMismatches(book)).toEqual([expect.stringContaining('c1 (client-session): live')]);
  });

  it('gatehouse replay explains from a journal_file why require refused a plain client', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gh-replay-'));
    dirs.push(dir);
    const file = path.join(dir, 'journal.jsonl');
    const book = new JournalBook(10);
    const sink = new JsonlJournalSink(book, file, new Metrics().journalDropped, (err) => {
      throw err;
    });
    record(book, 'c7', plainUnderRequire);
    await sink.close();
    const [connection] = readJournalFile(file);
    const text = formatReplay(replayConnection(connection));
    expect(text).toContain('#1 client.startup [isPlainButTlsRequired] → failed');
    expect(text).toContain('final: failed (done) — tls_required 28000: TLS is required by tls_mode');
  });

  it('gatehouse replay names the pg_hba rule that refused a client, and says when none matched', () => {
    const book = new JournalBook(10);
    const tls: ClientEvent = { type: 'tls.slotGranted' };
    const startup = (hba: Extract<ClientEvent, { type: 'client.startup' }>['hba']): ClientEvent[] => [
      { type: 'client.sslRequest', trailingBytes: 0 },
      tls,
      { type: 'tls.established', protocol: 'TLSv1.3', cipher: 'x', alpnProtocol: null, authorized: false, authorizationError: null, peerCertificate: null },
      { type: 'client.startup', user: 'alice', database: 'app', databaseKnown: true, password: 'plain', address: '10.1.2.3', hba, adminConsole: null },
    ];
    const rejected = record(book, 'c1', startup({ kind: 'match', source: '/etc/gatehouse/pg_hba.conf', line: 3, text: 'hostssl all all 10.0.0.0/8 reject', method: 'reject' }));
    const text = formatReplay(replayConnection({ id: 'c1', machine: 'client-session', machineVersion: CLIENT_SESSION_VERSION, input, events: rejected.entries }));
    expect(text).toContain('#4 client.startup (pg_hba /etc/gatehouse/pg_hba.conf:3: hostssl all all 10.0.0.0/8 reject) [isHbaReject] → failed');
    expect(text).toContain('final: failed (done) — hba 28000: pg_hba.conf rejects connection for host "10.1.2.3", user "alice", database "app", SSL encryption');
    const unmatched = record(book, 'c2', startup({ kind: 'no-match' }));
    const other = formatReplay(replayConnection({ id: 'c2', machine: 'client-session', machineVersion: CLIENT_SESSION_VERSION, input, events: unmatched.entries }));
    expect(other).toContain('#4 client.startup (pg_hba: no rule matched) [isRejectedByHba] → failed');
    expect(other).toContain('no pg_hba.conf entry for host "10.1.2.3", user "alice", database "app", SSL encryption');
  });

  it('journal_file drops and counts lines instead of buffering without bound', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gh-replay-'));
    dirs.push(dir);
    const metrics = new Metrics();
    const book = new JournalBook(10);
    const sink = new JsonlJournalSink(book, path.join(dir, 'j.jsonl'), metrics.journalDropped, () => {}, 64);
    for (let i = 0; i < 20; i++) record(book, `c${i}`, plainUnderRequire);
    await sink.close();
    const dropped = (await metrics.journalDropped.get()).values[0]?.value ?? 0;
    expect(dropped).toBeGreaterThan(0);
  });
});

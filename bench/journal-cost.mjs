#!/usr/bin/env node
// Cost of event journaling: a full client handshake (SSLRequest → TLS → startup → auth → server → close)
// driven through the client-session machine, with journaling off, in memory, and in memory + JSONL file.
// Reports handshakes/s, events/s and journal bytes per connection, as ratios against journaling off.
// Usage: npm run build && node bench/journal-cost.mjs [--seconds 3]
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createActor } from 'xstate';
import { clientSessionMachine } from '../dist/machines/client-session.js';
import { JournalBook } from '../dist/src/journal/journal.js';
import { JsonlJournalSink } from '../dist/src/journal/jsonl-sink.js';
import { Metrics } from '../dist/src/observability/metrics.js';

const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 3;
const input = { tlsMode: 'require', tlsAvailable: true, overCapacity: false, certIdentity: 'none' };
const peer = { commonName: null, subject: '', issuer: '', serialNumber: '', fingerprint256: '', validFrom: '', validTo: '' };
const EVENTS = [
  { type: 'client.sslRequest', trailingBytes: 0 },
  { type: 'tls.slotGranted' },
  { type: 'tls.established', protocol: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256', alpnProtocol: 'postgresql', authorized: false, authorizationError: null, peerCertificate: null },
  { type: 'client.startup', user: 'app', database: 'app', databaseKnown: true },
  { type: 'auth.succeeded' },
  { type: 'pool.acquired', serverId: 's1' },
  { type: 'socket.closed' },
];
void peer;

function run(label, makeJournal) {
  let connections = 0;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  while (performance.now() < deadline) {
    for (let i = 0; i < 200; i++) {
      const journal = makeJournal?.(`c${connections}`);
      const actor = createActor(clientSessionMachine, { input });
      actor.subscribe({ error: () => {} });
      actor.on('*', () => {});
      actor.start();
      for (const event of EVENTS) {
        journal?.append(event);
        actor.send(event);
      }
      journal?.end();
      connections++;
    }
  }
  const elapsed = (performance.now() - started) / 1000;
  return { label, connectionsPerSecond: connections / elapsed, eventsPerSecond: (connections * EVENTS.length) / elapsed };
}

const dir = mkdtempSync(path.join(tmpdir(), 'gh-journal-bench-'));
try {
  run('warm-up', null);
  const off = run('journaling off', null);
  const book = new JournalBook(1000);
  const memory = run('in-memory journal (journal_size 1000)', (id) => book.open(id, 'client-session', 2, input));
  const bytesPerConnection = JSON.stringify(book.endedRecords().at(-1)).length;
  const fileBook = new JournalBook(1000);
  const file = path.join(dir, 'journal.jsonl');
  const sink = new JsonlJournalSink(fileBook, file, new Metrics().journalDropped, () => {});
  const withFile = run('in-memory + journal_file (JSONL)', (id) => fileBook.open(id, 'client-session', 2, input));
  await sink.close();
  const fileBytes = statSync(file).size;
  const fileConnections = Math.round((withFile.connectionsPerSecond * seconds));
  console.log(`| configuration | handshakes/s | events/s | ratio vs off |`);
  console.log(`| --- | --- | --- | --- |`);
  for (const r of [off, memory, withFile]) {
    console.log(`| ${r.label} | ${r.connectionsPerSecond.toFixed(0)} | ${r.eventsPerSecond.toFixed(0)} | ${(r.eventsPerSecond / off.eventsPerSecond).toFixed(2)} |`);
  }
  console.log(`\njournal size per connection (${EVENTS.length} events): ${bytesPerConnection} bytes in memory (JSON), ~${Math.round(fileBytes / Math.max(1, fileConnections))} bytes in journal_file`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

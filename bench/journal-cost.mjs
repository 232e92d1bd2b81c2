#!/usr/bin/env node
// Cost of event journaling: a full client handshake (SSLRequest → TLS → startup → auth → server → close)
// driven through the client-session machine, with journaling off, in memory, and in memory + JSONL file.
// Reports handshakes/s, events/s and journal bytes per connection, as ratios against journaling off.
// Usage: npm run build && node bench/journal-cost.mjs [--seconds 3]
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createActor } from 'xstate';
import { CLIENT_SESSION_VERSION, clientSessionMachine } from '../dist/machines/client-session.js';
import { JournalBook } from '../dist/src/journal/journal.js';
import { JsonlJournalSink } from '../dist/src/journal/jsonl-sink.js';
import { Metrics } from '../dist/src/observability/metrics.js';

const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 3;
const input = { tlsMode: 'require', tlsAvailable: true, overCapacity: false, certIdentity: 'none' };
const EVENTS = [
  { type: 'client.sslRequest', trailingBytes: 0 },
  { type: 'tls.slotGranted' },
  { type: 'tls.established', protocol: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256', alpnProtocol: 'postgresql', authorized: false, authorizationError: null, peerCertificate: null },
  { type: 'client.startup', user: 'app', database: 'app', databaseKnown: true },
  { type: 'auth.succeeded' },
  { type: 'pool.acquired', serverId: 's1' },
  { type: 'socket.closed' },
];

// Yields to the event loop between batches, as a serving process does, so journal_file can flush.
async function run(label, makeJournal) {
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
      journal?.end({ value: actor.getSnapshot().value, context: actor.getSnapshot().context });
      connections++;
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  const elapsed = (performance.now() - started) / 1000;
  return { label, connectionsPerSecond: connections / elapsed, eventsPerSecond: (connections * EVENTS.length) / elapsed };
}

const dir = mkdtempSync(path.join(tmpdir(), 'gh-journal-bench-'));
try {
  await run('warm-up', null);
  const book = new JournalBook(1000);
  const fileBook = new JournalBook(1000);
  const file = path.join(dir, 'journal.jsonl');
  const metrics = new Metrics();
  const sink = new JsonlJournalSink(fileBook, file, metrics.journalDropped, () => {});
  const configurations = [
    ['journaling off', null],
    ['in-memory journal (journal_size 1000)', (id) => book.open(id, 'client-session', CLIENT_SESSION_VERSION, input)],
    ['in-memory + journal_file (JSONL)', (id) => fileBook.open(id, 'client-session', CLIENT_SESSION_VERSION, input)],
  ];
  // Interleaved rounds, medians: the order of runs must not favour one configuration.
  const samples = new Map(configurations.map(([label]) => [label, []]));
  for (let round = 0; round < 3; round++) {
    for (const [label, make] of configurations) samples.get(label).push(await run(label, make));
  }
  const median = (rs) => [...rs].sort((a, b) => a.eventsPerSecond - b.eventsPerSecond)[1];
  const [off, memory, withFile] = configurations.map(([label]) => median(samples.get(label)));
  const bytesPerConnection = JSON.stringify(book.endedRecords().at(-1)).length;
  await sink.close();
  const fileBytes = statSync(file).size;
  const dropped = (await metrics.journalDropped.get()).values[0]?.value ?? 0;
  const lines = (await import('node:fs')).readFileSync(file, 'utf8').split('\n').filter(Boolean);
  const fileConnections = lines.filter((l) => l.startsWith('{"kind":"connection"')).length;
  console.log(`| configuration | handshakes/s | events/s | ratio vs off |`);
  console.log(`| --- | --- | --- | --- |`);
  for (const r of [off, memory, withFile]) {
    console.log(`| ${r.label} | ${r.connectionsPerSecond.toFixed(0)} | ${r.eventsPerSecond.toFixed(0)} | ${(r.eventsPerSecond / off.eventsPerSecond).toFixed(2)} |`);
  }
  console.log(`\njournal size per connection (${EVENTS.length} events): ${bytesPerConnection} bytes in memory (as JSON), ${Math.round(fileBytes / fileConnections)} bytes in journal_file`);
  console.log(`journal_file: ${lines.length} lines written (${fileBytes} bytes), ${dropped} dropped because the disk fell behind (never blocking)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

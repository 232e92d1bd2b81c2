// A cancel through a TLS backend hop (server_tls_mode verify-full against the embedded PostgreSQL 18)
// is a journaled machine like every connection: psql interrupts a pg_sleep, gatehouse forwards the
// CancelRequest over TLS, and `gatehouse replay` on general.journal_file tells, step by step, how
// the cancel got there and that it was sent.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_DATABASE, startTestCluster, type Cluster } from '../../fixtures/clusters.js';
import { ensureBuilt, runCli } from '../../fixtures/cli.js';
import { metricValue, poolFor, startGatehouse, type RunningGatehouse } from '../../fixtures/gatehouse.js';
import { createPki, type Pki } from '../../fixtures/pki.js';
import { gatehouseConninfo, psqlResult, spawnPsql } from '../../fixtures/psql.js';
import { waitUntil } from '../../fixtures/wait.js';

describe('a cancel through a verify-full backend hop, replayed from journal_file', () => {
  let pki: Pki;
  let cluster: Cluster;
  let gh: RunningGatehouse;
  let dir: string;
  let journalFile: string;

  beforeAll(async () => {
    await ensureBuilt();
    pki = await createPki('cancel journal');
    // Only hostssl lines: an unencrypted backend connection cannot log in at all.
    cluster = await startTestCluster('embedded18', pki);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-cancel-journal-'));
    journalFile = path.join(dir, 'journal.jsonl');
    gh = await startGatehouse({
      general: { tls_mode: 'disable', journal_file: journalFile },
      pools: { [APP_DATABASE]: poolFor(cluster, pki, { server_database: APP_DATABASE, server_tls_mode: 'verify-full' }) },
    });
  });

  afterAll(async () => {
    await gh?.stop();
    await cluster?.stop();
    await pki?.remove();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('psql gets 57014, and `gatehouse replay` prints the cancel: SSLRequest, TLS, verified certificate, sent', async () => {
    const marker = 'SELECT pg_sleep(30) -- cancel journal';
    const child = spawnPsql(gatehouseConninfo(gh, { sslmode: 'disable' }), ['-At', '-v', 'VERBOSITY=verbose', '-c', marker]);
    const result = psqlResult(child, 40_000);
    let backendPid = 0;
    await waitUntil('pg_sleep to run on the backend', async () => {
      const rows = await cluster.query(`SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query = '${marker}'`);
      backendPid = Number(rows[0]?.[0] ?? 0);
      return backendPid > 0;
    });
    child.kill('SIGINT');
    const { code, stderr } = await result;
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/ERROR: {2}57014: canceling statement due to user request/);

    // The cancel's journal has ended (the backend closed after reading the CancelRequest).
    await waitUntil('the cancel-request journal to end', () => (gh.gateway.journals.find('x1')?.endedAt ?? null) !== null);
    const metrics = await gh.gateway.metrics.scrape();
    expect(metricValue(metrics, 'gatehouse_cancel_requests_total', { pool: APP_DATABASE, outcome: 'sent' })).toBe(1);
    expect(metricValue(metrics, 'pg_doorman_server_tls_handshake_errors_total', { pool: APP_DATABASE })).toBe(0);
    // Stopping flushes journal_file (and checks that every journal, the cancel's included, replays to its live state).
    await gh.stop();

    const replay = await runCli(['replay', journalFile, '--connection', 'x1']);
    expect(replay.stderr).toBe('');
    expect(replay.code).toBe(0);
    expect(replay.stdout.trimEnd().split('\n')).toEqual([
      'connection x1 (cancel-request v2) input {"mode":"verify-full","negotiation":"postgres","sessionTls":true}',
      '  start → requesting.connecting',
      '  #1 socket.connected [usesTls] → requesting.ssl-requested',
      '  #2 backend.sslReply [isCleanTlsAcceptance] → requesting.tls-handshaking',
      '  #3 tls.established → requesting.sending',
      '  #4 socket.closed [isOrderlyClose] → sent',
      '  final: sent (done)',
    ]);
    // Nothing of the cancel key went into the file: not the backend's process id (the first half of
    // its BackendKeyData), in no field of any of the cancel's lines (one "connection" line, four events).
    const lines = (await fs.readFile(journalFile, 'utf8')).split('\n').filter((l) => l.includes('"x1"'));
    expect(lines.map((l) => (JSON.parse(l) as { kind: string }).kind)).toEqual(['connection', 'event', 'event', 'event', 'event']);
    const values = (v: unknown): unknown[] => (v !== null && typeof v === 'object' ? Object.values(v).flatMap(values) : [v]);
    expect(lines.flatMap((l) => values(JSON.parse(l)))).not.toContain(backendPid);
  });
});

// bench/summarize-memory.mjs — the Markdown summary of `bench/run.sh --scenario memory`, from RESULTS_DIR/memory.csv
// (bench/summarize.mjs calls summarizeMemory when a results folder has it). Failed holds are counted but left out
// of the medians; ratios are ratios of medians against the PgBouncer with the same pool mode.
import path from 'node:path';
import { byTarget, envBlock, fmt, maxOf, median, modeOf, num, ratio, readCsv } from './stats.mjs';

/** A new client must log in and get SELECT 1 answered within this while the others are held (issue 12). */
const NEW_CLIENT_TARGET_MS = 1000;

export function summarizeMemory(dir) {
  const rows = readCsv(path.join(dir, 'memory.csv'));
  const targets = [...new Set(rows.map((r) => r.target))].sort(byTarget);
  const stats = targets.map((target) => {
    const all = rows.filter((r) => r.target === target);
    const ok = all.filter((r) => r.exit === '0');
    const col = (name) => ok.map((r) => num(r[name]));
    return {
      target,
      runs: all.length,
      failed: all.length - ok.length,
      clients: median(col('held')),
      kb: median(col('kb_per_client')),
      rssHeldMb: median(col('rss_held_kb').map((kb) => (kb === null ? null : kb / 1024))),
      loginUs: median(col('login_us_per_client')),
      openS: median(col('open_s')),
      probe: median(col('probe_ms_median')),
      probeMax: maxOf(col('probe_ms_max')),
      others: median(col('others_cpu_pct')),
      errors: [...new Set(all.map((r) => r.errors).filter((e) => e))],
    };
  });
  const bouncerOf = (s) => {
    const bouncers = stats.filter((b) => b.target.startsWith('pgbouncer'));
    return bouncers.find((b) => modeOf(b.target) === modeOf(s.target)) ?? bouncers[0] ?? null;
  };

  const out = [...envBlock(path.join(dir, 'env.txt'))];
  out.push(
    '| target | runs | clients held | proxy RSS kB per client median | proxy RSS MB with them held | login CPU µs per client median | time to hold them all s | new client connect + SELECT 1 ms median (max) | kB per client vs PgBouncer | login CPU vs PgBouncer | others\' CPU % median |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const s of stats) {
    const b = bouncerOf(s);
    const runsCell = s.failed > 0 ? `${s.runs} (${s.failed} failed)` : `${s.runs}`;
    out.push(
      `| ${s.target} | ${runsCell} | ${fmt(s.clients, 0)} | ${fmt(s.kb, 1)} | ${fmt(s.rssHeldMb, 0)} | ${fmt(s.loginUs, 0)} | ${fmt(s.openS, 1)} |` +
        ` ${fmt(s.probe, 1)} (${fmt(s.probeMax, 1)}) | ${ratio(s.kb, b?.kb)} | ${ratio(s.loginUs, b?.loginUs)} | ${fmt(s.others, 0)} |`,
    );
  }
  out.push(
    '',
    "proxy RSS kB per client: (RSS of the proxy's process tree with the clients held, MEMORY_SETTLE s after the last " +
      'login − its RSS just before) ÷ clients held. Login CPU: utime+stime of the same tree while the clients logged ' +
      'in (TCP, TLS handshake, SCRAM, one SELECT 1) ÷ clients. New client: 10 sessions opened one after the other ' +
      `while the clients are held, each timed from TCP connect to the ReadyForQuery after its SELECT 1; target < ${NEW_CLIENT_TARGET_MS} ms. ` +
      'Direct PostgreSQL is not measured: it forks one backend per client.',
    '',
  );
  for (const s of stats) {
    if (s.probeMax === null) continue;
    const verdict = s.probeMax < NEW_CLIENT_TARGET_MS ? 'meets' : 'misses';
    out.push(`- ${s.target}: the slowest new client took ${fmt(s.probeMax, 1)} ms with ${fmt(s.clients, 0)} held: ${verdict} the < ${NEW_CLIENT_TARGET_MS} ms target`);
  }
  for (const s of stats.filter((x) => x.errors.length > 0)) out.push(`- ${s.target} errors: ${s.errors.join('; ')}`);
  return `${out.join('\n')}\n`;
}

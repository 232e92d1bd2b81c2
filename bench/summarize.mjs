#!/usr/bin/env node
// bench/summarize.mjs RESULTS_DIR — the Markdown summary of one bench/run.sh run, from RESULTS_DIR/runs.csv (or,
// for --scenario memory, RESULTS_DIR/memory.csv: bench/summarize-memory.mjs) and RESULTS_DIR/env.txt. Failed runs
// are counted but left out of the medians. Ratios are ratios of medians, and compare runs with the same pgbench
// protocol (-M); with several protocols, targets are named TARGET/PROTOCOL.
import fs from 'node:fs';
import path from 'node:path';
import { byTarget, envBlock, fmt, maxOf, median, modeOf, num, range, ratio, readCsv } from './stats.mjs';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: node bench/summarize.mjs RESULTS_DIR\n');
  process.exit(2);
}
if (!fs.existsSync(path.join(dir, 'runs.csv')) && fs.existsSync(path.join(dir, 'memory.csv'))) {
  const { summarizeMemory } = await import('./summarize-memory.mjs');
  process.stdout.write(summarizeMemory(dir));
  process.exit(0);
}

function summarizeTarget({ target, protocol, label }, rows) {
  const ok = rows.filter((r) => r.exit === '0' && r.tps !== '' && (r.failed === '' || r.failed === '0'));
  const tps = ok.map((r) => num(r.tps));
  const proxyUs = median(ok.map((r) => num(r.proxy_us_per_xact)));
  const pgUs = median(ok.map((r) => num(r.pg_us_per_xact)));
  return {
    target,
    protocol,
    label,
    rows,
    runs: rows.length,
    failed: rows.length - ok.length,
    tps: median(tps),
    tpsRange: range(tps, 0),
    latency: median(ok.map((r) => num(r.lat_ms))),
    conn: median(ok.map((r) => num(r.conn_ms))),
    proxyUs,
    pgUs,
    // What the servers' side spends per transaction: PostgreSQL's process tree plus the proxy's (none when direct).
    serverUs: pgUs === null ? null : pgUs + (target === 'direct' ? 0 : (proxyUs ?? NaN)),
    others: median(ok.map((r) => num(r.others_cpu_pct))),
    othersMax: maxOf(ok.map((r) => num(r.others_cpu_pct))),
  };
}

// runs.csv from before --protocol has no protocol column: those runs used pgbench's default, simple.
const runs = readCsv(path.join(dir, 'runs.csv')).map((r) => ({ ...r, protocol: r.protocol || 'simple' }));
const scenario = runs[0]?.scenario ?? 'select';
const PROTOCOL_ORDER = ['simple', 'extended', 'prepared'];
const protocols = [...new Set(runs.map((r) => r.protocol))].sort((a, b) => PROTOCOL_ORDER.indexOf(a) - PROTOCOL_ORDER.indexOf(b));
const several = protocols.length > 1;
const targets = [...new Set(runs.map((r) => r.target))].sort(byTarget);
const stats = protocols.flatMap((protocol) =>
  targets
    .filter((target) => runs.some((r) => r.target === target && r.protocol === protocol))
    .map((target) =>
      summarizeTarget(
        { target, protocol, label: several ? `${target}/${protocol}` : target },
        runs.filter((r) => r.target === target && r.protocol === protocol),
      ),
    ),
);
const directOf = (s) => stats.find((d) => d.target === 'direct' && d.protocol === s.protocol);
/** The PgBouncer a target is compared with: same protocol, the same pool mode when it ran, else the first. */
function bouncerOf(s) {
  const bouncers = stats.filter((b) => b.target.startsWith('pgbouncer') && b.protocol === s.protocol);
  return bouncers.find((b) => modeOf(b.target) === modeOf(s.target)) ?? bouncers[0] ?? null;
}

const out = [...envBlock(path.join(dir, 'env.txt'))];
const connect = scenario === 'connect';
out.push(
  ...(several ? [] : [`pgbench protocol (-M): ${protocols[0]}`, '']),
  `| target | runs | TPS median | TPS min–max | latency ms median |${connect ? ' connect ms median |' : ''} proxy CPU µs/xact median | PostgreSQL CPU µs/xact median | TPS vs direct | proxy+PostgreSQL CPU/xact vs direct | TPS vs PgBouncer | proxy CPU/xact vs PgBouncer | others' CPU % median (max) |`,
  `|---|---|---|---|---|${connect ? '---|' : ''}---|---|---|---|---|---|---|`,
);
for (const s of stats) {
  const runsCell = s.failed > 0 ? `${s.runs} (${s.failed} failed)` : `${s.runs}`;
  const direct = directOf(s);
  const bouncer = bouncerOf(s);
  const proxy = s.target !== 'direct';
  out.push(
    `| ${s.label} | ${runsCell} | ${fmt(s.tps, 0)} | ${s.tpsRange} | ${fmt(s.latency, 3)} |${connect ? ` ${fmt(s.conn, 3)} |` : ''}` +
      ` ${proxy ? fmt(s.proxyUs, 1) : 'n/a'} | ${fmt(s.pgUs, 1)} | ${ratio(s.tps, direct?.tps)} | ${ratio(s.serverUs, direct?.serverUs)} |` +
      ` ${ratio(s.tps, bouncer?.tps)} | ${proxy ? ratio(s.proxyUs, bouncer?.proxyUs) : 'n/a'} | ${fmt(s.others, 0)} (${fmt(s.othersMax, 0)}) |`,
  );
}

out.push(
  '',
  "proxy CPU: utime+stime of the proxy's whole process tree (worker processes included) during the run ÷ " +
    "transactions; PostgreSQL CPU: the same for the postmaster's tree (backends, exited ones included)." +
    (connect ? ' With -C every transaction is a new connection: these are CPU per connection.' : '') +
    ' proxy+PostgreSQL CPU/xact vs direct: what the server side spends per transaction through the proxy ÷ what ' +
    "PostgreSQL alone spends direct. TPS and proxy CPU vs PgBouncer: against the PgBouncer with the same pool mode " +
    "(else the first one run). others' CPU: share of the machine used by processes this run did not start (noise " +
    'from a shared machine; loopback softirq time counts here too).' +
    (several ? ' Ratios compare runs with the same protocol.' : ''),
);

// pgbench 15 aborts a client on any error but a serialization or deadlock failure, and only prints the error of
// a failed PQprepare (-M prepared): runs.csv counts both from its output (columns aborted, errors).
const withErrors = stats.filter((s) => s.rows.some((r) => num(r.errors) > 0 || num(r.aborted) > 0));
if (withErrors.length > 0) {
  out.push('', "errors in pgbench's output (all runs of the target, failed ones included):", '');
  for (const s of withErrors) {
    const sum = (col) => s.rows.reduce((n, r) => n + (num(r[col]) ?? 0), 0);
    const messages = new Map();
    for (const r of s.rows) {
      const file = path.join(dir, r.raw ?? '');
      if (!r.raw || !fs.existsSync(file)) continue;
      for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
        const at = line.indexOf('ERROR:');
        if (at < 0) continue;
        const message = line.slice(at).replace(/\s+/g, ' ');
        messages.set(message, (messages.get(message) ?? 0) + 1);
      }
    }
    const listed = [...messages].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([m, n]) => `${n}× \`${m}\``).join('; ');
    const xacts = s.rows.map((r) => num(r.xacts)).filter((x) => x !== null);
    const done = xacts.length > 0 ? `, ${Math.min(...xacts)}–${Math.max(...xacts)} transactions per run` : '';
    out.push(`- ${s.label}: ${sum('aborted')} client(s) aborted, ${sum('errors')} error line(s) in ${s.rows.length} run(s)${done}${listed ? `: ${listed}` : ''}`);
  }
}

const gatehouses = stats.filter((s) => s.target.startsWith('gatehouse'));
const bouncers = stats.filter((s) => s.target.startsWith('pgbouncer'));
if (gatehouses.length > 0 && bouncers.length > 0) {
  out.push('', 'gatehouse vs PgBouncer (ratios of medians; TPS > 1× and latency/CPU < 1× favour gatehouse):', '');
  for (const g of gatehouses) {
    for (const b of bouncers.filter((x) => x.protocol === g.protocol)) {
      const same = modeOf(g.target) === modeOf(b.target) ? '' : ' (different pool modes)';
      out.push(
        `- ${g.label} ÷ ${b.label}${same}: TPS ${ratio(g.tps, b.tps)}, latency ${ratio(g.latency, b.latency)}, ` +
          `proxy CPU per transaction ${ratio(g.proxyUs, b.proxyUs)}`,
      );
    }
  }
}
const scaled = gatehouses.filter((s) => /-w\d+$/.test(s.target));
if (scaled.length > 0) {
  out.push('', 'gatehouse per general.worker_threads (run.sh --workers; ratios against the fewest workers, same protocol):', '');
  for (const protocol of protocols) {
    const rows = scaled.filter((s) => s.protocol === protocol);
    const first = rows[0];
    for (const s of rows) {
      out.push(
        `- ${s.label}: TPS ${fmt(s.tps, 0)} (${ratio(s.tps, first.tps)}), proxy CPU ${fmt(s.proxyUs, 1)} µs/xact ` +
          `(${ratio(s.proxyUs, first.proxyUs)}), latency ${fmt(s.latency, 3)} ms`,
      );
    }
  }
}
const current = gatehouses.filter((s) => !s.target.includes('@'));
const baselines = gatehouses.filter((s) => s.target.includes('@'));
if (current.length > 0 && baselines.length > 0) {
  out.push('', 'this build vs the baseline build (run.sh --baseline; CPU < 1× favours this build):', '');
  for (const g of current) {
    for (const b of baselines.filter((x) => x.protocol === g.protocol)) {
      out.push(`- ${g.label} ÷ ${b.label}: TPS ${ratio(g.tps, b.tps)}, latency ${ratio(g.latency, b.latency)}, proxy CPU per transaction ${ratio(g.proxyUs, b.proxyUs)}`);
    }
  }
}
if (several) {
  out.push('', `each protocol vs ${protocols[0]}, per target (ratios of medians; CPU per transaction < 1× is cheaper):`, '');
  for (const s of stats.filter((x) => x.protocol !== protocols[0])) {
    const base = stats.find((x) => x.target === s.target && x.protocol === protocols[0]);
    if (!base) continue;
    const cpu = s.target === 'direct' ? '' : `, proxy CPU per transaction ${ratio(s.proxyUs, base.proxyUs)}`;
    out.push(`- ${s.label} ÷ ${base.label}: TPS ${ratio(s.tps, base.tps)}, latency ${ratio(s.latency, base.latency)}${cpu}`);
  }
}
process.stdout.write(`${out.join('\n')}\n`);

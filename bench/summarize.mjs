#!/usr/bin/env node
// bench/summarize.mjs RESULTS_DIR — the Markdown summary of one bench/run.sh run, from RESULTS_DIR/runs.csv and
// RESULTS_DIR/env.txt. Failed runs are counted but left out of the medians. Ratios are ratios of medians.
import fs from 'node:fs';
import path from 'node:path';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: node bench/summarize.mjs RESULTS_DIR\n');
  process.exit(2);
}

function readRuns(file) {
  const [header, ...lines] = fs.readFileSync(file, 'utf8').trim().split('\n');
  const names = header.split(',');
  return lines.map((line) => Object.fromEntries(line.split(',').map((value, i) => [names[i], value])));
}

const num = (text) => (text === undefined || text === '' ? null : Number(text));

function median(values) {
  const xs = values.filter((x) => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const mid = Math.floor(xs.length / 2);
  return xs.length % 2 === 1 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
}

const fmt = (x, digits) => (x === null ? '–' : x.toFixed(digits));
const ratio = (a, b) => (a === null || b === null || b === 0 ? '–' : `${(a / b).toFixed(2)}×`);

function range(values, digits) {
  const xs = values.filter((x) => x !== null);
  return xs.length === 0 ? '–' : `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;
}

function summarizeTarget(target, rows) {
  const ok = rows.filter((r) => r.exit === '0' && r.tps !== '' && (r.failed === '' || r.failed === '0'));
  const tps = ok.map((r) => num(r.tps));
  return {
    target,
    runs: rows.length,
    failed: rows.length - ok.length,
    tps: median(tps),
    tpsRange: range(tps, 0),
    latency: median(ok.map((r) => num(r.lat_ms))),
    conn: median(ok.map((r) => num(r.conn_ms))),
    proxyUs: median(ok.map((r) => num(r.proxy_us_per_xact))),
    others: median(ok.map((r) => num(r.others_cpu_pct))),
    othersMax: ok.map((r) => num(r.others_cpu_pct)).reduce((m, x) => (x === null ? m : Math.max(m ?? x, x)), null),
  };
}

const runs = readRuns(path.join(dir, 'runs.csv'));
const scenario = runs[0]?.scenario ?? 'select';
function rank(target) {
  if (target === 'direct') return 0;
  return target.startsWith('gatehouse') ? 1 : 2;
}
const order = [...new Set(runs.map((r) => r.target))].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
const stats = order.map((t) => summarizeTarget(t, runs.filter((r) => r.target === t)));
const direct = stats.find((s) => s.target === 'direct');

const out = [];
const envFile = path.join(dir, 'env.txt');
if (fs.existsSync(envFile)) out.push('```', fs.readFileSync(envFile, 'utf8').trim(), '```', '');
const connect = scenario === 'connect';
out.push(
  `| target | runs | TPS median | TPS min–max | latency ms median |${connect ? ' connect ms median |' : ''} proxy CPU µs/xact median | TPS vs direct | others' CPU % median (max) |`,
  `|---|---|---|---|---|${connect ? '---|' : ''}---|---|---|`,
);
for (const s of stats) {
  const runsCell = s.failed > 0 ? `${s.runs} (${s.failed} failed)` : `${s.runs}`;
  out.push(
    `| ${s.target} | ${runsCell} | ${fmt(s.tps, 0)} | ${s.tpsRange} | ${fmt(s.latency, 3)} |${connect ? ` ${fmt(s.conn, 3)} |` : ''}` +
      ` ${s.target === 'direct' ? 'n/a' : fmt(s.proxyUs, 1)} | ${ratio(s.tps, direct?.tps ?? null)} | ${fmt(s.others, 0)} (${fmt(s.othersMax, 0)}) |`,
  );
}

out.push(
  '',
  "proxy CPU: the proxy process's utime+stime during the run ÷ transactions. others' CPU: share of the machine used " +
    'by processes this run did not start (noise from a shared machine; loopback softirq time counts here too).',
);

const gatehouses = stats.filter((s) => s.target.startsWith('gatehouse'));
const bouncers = stats.filter((s) => s.target.startsWith('pgbouncer'));
if (gatehouses.length > 0 && bouncers.length > 0) {
  out.push('', 'gatehouse vs PgBouncer (ratios of medians; TPS > 1× and latency/CPU < 1× favour gatehouse):', '');
  for (const g of gatehouses) {
    for (const b of bouncers) {
      const same = g.target.split('-')[1] === b.target.split('-')[1] ? '' : ' (different pool modes)';
      out.push(
        `- ${g.target} ÷ ${b.target}${same}: TPS ${ratio(g.tps, b.tps)}, latency ${ratio(g.latency, b.latency)}, ` +
          `proxy CPU per transaction ${ratio(g.proxyUs, b.proxyUs)}`,
      );
    }
  }
}
const current = gatehouses.filter((s) => !s.target.includes('@'));
const baselines = gatehouses.filter((s) => s.target.includes('@'));
if (current.length > 0 && baselines.length > 0) {
  out.push('', 'this build vs the baseline build (run.sh --baseline; CPU < 1× favours this build):', '');
  for (const g of current) {
    for (const b of baselines) {
      out.push(`- ${g.target} ÷ ${b.target}: TPS ${ratio(g.tps, b.tps)}, latency ${ratio(g.latency, b.latency)}, proxy CPU per transaction ${ratio(g.proxyUs, b.proxyUs)}`);
    }
  }
}
process.stdout.write(`${out.join('\n')}\n`);

#!/usr/bin/env node
// bench/soak-report.mjs — the verdict of a bench/soak.sh run: least-squares slopes per hour over the second half
// (from the middle or a minute after PostgreSQL came back, whichever is later), an ASCII chart per series, the
// throughput and the error counts as Markdown on stdout, chart.svg in the run's folder; exit status 1 when a
// threshold below is crossed.
//
//   node bench/soak-report.mjs DIR      (DIR holds samples.csv, events.csv, load-summary.json, gatehouse.log, env.txt)
import fs from 'node:fs';
import path from 'node:path';

/** Thresholds; bench/README.md says why these numbers. */
const MAX_RSS_MB_PER_H = 10;
const MAX_HEAP_MB_PER_H = 10;
const MAX_FD_EXCESS_RISE = 2;
const MAX_LOOP_P99_MS_PER_H = 50;
const AFTER_RESTART_S = 60;
const FLOOR_BUCKET_S = 60;

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: node bench/soak-report.mjs DIR\n');
  process.exit(2);
}
const readCsv = (file) => {
  const [head, ...lines] = fs.readFileSync(path.join(dir, file), 'utf8').trim().split('\n');
  const cols = head.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i], v === '' ? NaN : Number.isNaN(Number(v)) ? v : Number(v)])));
};
const samples = readCsv('samples.csv');
for (const s of samples) s.rss_minus_heap_mb = s.rss_mb - s.heap_total_mb;
const events = readCsv('events.csv');
const load = JSON.parse(fs.readFileSync(path.join(dir, 'load-summary.json'), 'utf8'));
const envText = fs.readFileSync(path.join(dir, 'env.txt'), 'utf8').trim();
if (samples.length < 4) {
  process.stdout.write('Too few samples for a verdict.\n');
  process.exit(1);
}

// The sampled span: the load driver's own end (its workers finishing their round) is not part of it.
const duration = samples.at(-1).t_s;
const restartEnd = events.find((e) => e.event === 'restart-end')?.t_s;
const restartBegin = events.find((e) => e.event === 'restart-begin')?.t_s;
// A short run (a check of the harness) keeps half of what follows the restart.
const afterRestart = restartEnd !== undefined ? Math.min(AFTER_RESTART_S, (duration - restartEnd) / 2) : 0;
const windowStart = Math.max(duration / 2, restartEnd !== undefined ? restartEnd + afterRestart : 0);
const inWindow = samples.filter((s) => s.t_s >= windowStart);

/** Least squares: slope per hour of (t_s, y) pairs with finite y. */
function slopePerHour(points) {
  const p = points.filter(([, y]) => Number.isFinite(y));
  if (p.length < 3) return NaN;
  const mx = p.reduce((a, [x]) => a + x, 0) / p.length;
  const my = p.reduce((a, [, y]) => a + y, 0) / p.length;
  let num = 0;
  let den = 0;
  for (const [x, y] of p) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? NaN : (3600 * num) / den;
}
const series = (rows, key) => rows.map((s) => [s.t_s, s[key]]);
/** The minimum per FLOOR_BUCKET_S: what is left after the garbage collector's sawtooth. */
function floor(rows, key) {
  const buckets = new Map();
  for (const s of rows) {
    if (!Number.isFinite(s[key])) continue;
    const b = Math.floor(s.t_s / FLOOR_BUCKET_S);
    const cur = buckets.get(b);
    if (!cur || s[key] < cur[1]) buckets.set(b, [b * FLOOR_BUCKET_S + FLOOR_BUCKET_S / 2, s[key]]);
  }
  return [...buckets.values()];
}
const min = (rows, key) => Math.min(...rows.map((s) => s[key]).filter(Number.isFinite));
const max = (rows, key) => Math.max(...rows.map((s) => s[key]).filter(Number.isFinite));
const median = (values) => {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  return v.length ? v[Math.floor(v.length / 2)] : NaN;
};
const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

// --- verdicts ----------------------------------------------------------------------------------------------------------
const fifth = Math.max(1, Math.floor(inWindow.length / 5));
const fdFirst = min(inWindow.slice(0, fifth), 'fd_excess');
const fdLast = min(inWindow.slice(-fifth), 'fd_excess');
const rows = [
  ['RSS', 'MB', slopePerHour(series(inWindow, 'rss_mb')), slopePerHour(floor(inWindow, 'rss_mb')), `floor ≤ ${MAX_RSS_MB_PER_H} MB/h`,
    slopePerHour(floor(inWindow, 'rss_mb')) <= MAX_RSS_MB_PER_H],
  ['heap used', 'MB', slopePerHour(series(inWindow, 'heap_used_mb')), slopePerHour(floor(inWindow, 'heap_used_mb')),
    `floor ≤ ${MAX_HEAP_MB_PER_H} MB/h`, slopePerHour(floor(inWindow, 'heap_used_mb')) <= MAX_HEAP_MB_PER_H],
  // Shown, not judged: they tell V8 reserving more heap (heap total) from native memory (RSS − heap total).
  ['V8 heap total', 'MB', slopePerHour(series(inWindow, 'heap_total_mb')), slopePerHour(floor(inWindow, 'heap_total_mb')), 'shown', true],
  ['RSS − heap total', 'MB', slopePerHour(series(inWindow, 'rss_minus_heap_mb')), slopePerHour(floor(inWindow, 'rss_minus_heap_mb')), 'shown', true],
  ['open fds', 'fds', slopePerHour(series(inWindow, 'fds')), slopePerHour(floor(inWindow, 'fds')), 'see next row', true],
  ['fds − clients − servers', 'fds', slopePerHour(series(inWindow, 'fd_excess')), slopePerHour(floor(inWindow, 'fd_excess')),
    `minimum of last fifth − first fifth ≤ ${MAX_FD_EXCESS_RISE} (was ${f(fdLast - fdFirst, 0)})`, fdLast - fdFirst <= MAX_FD_EXCESS_RISE],
  ['event-loop delay p99', 'ms', slopePerHour(series(inWindow, 'loop_p99_ms')), slopePerHour(floor(inWindow, 'loop_p99_ms')),
    `all ≤ ${MAX_LOOP_P99_MS_PER_H} ms/h`, slopePerHour(series(inWindow, 'loop_p99_ms')) <= MAX_LOOP_P99_MS_PER_H],
];
const restartWindow = (t) => restartBegin !== undefined && t >= restartBegin && t <= (restartEnd ?? Infinity) + 30;
const stalls = samples.filter((s, i) => i > 0 && s.qps === 0 && !restartWindow(s.t_s));
const logLines = fs.existsSync(path.join(dir, 'gatehouse.log'))
  ? fs.readFileSync(path.join(dir, 'gatehouse.log'), 'utf8').split('\n').filter(Boolean)
  : [];
const logLevels = { warn: 0, error: 0, fatal: 0 };
const logMessages = new Map();
for (const line of logLines) {
  let entry;
  try {
    entry = JSON.parse(line);
  } catch {
    continue;
  }
  const level = entry.level >= 60 ? 'fatal' : entry.level >= 50 ? 'error' : entry.level >= 40 ? 'warn' : null;
  if (!level) continue;
  logLevels[level]++;
  const key = `${level}: ${String(entry.msg).replace(/\d+/g, 'N')}`;
  logMessages.set(key, (logMessages.get(key) ?? 0) + 1);
}
const failures = [];
for (const [name, , , , rule, ok] of rows) if (!ok) failures.push(`${name}: ${rule}`);
if (load.errors.unexpected > 0) failures.push(`${load.errors.unexpected} unexpected error(s)`);
if (stalls.length > 0) failures.push(`${stalls.length} interval(s) without a completed query outside the restart`);
if (logLevels.fatal > 0) failures.push(`${logLevels.fatal} fatal line(s) in gatehouse's log`);
const windowMinutes = (duration - windowStart) / 60;

// --- ASCII charts -------------------------------------------------------------------------------------------------------
const WIDTH = 72;
const HEIGHT = 8;
function asciiChart(key, label) {
  const cols = Array.from({ length: WIDTH }, () => []);
  for (const s of samples) if (Number.isFinite(s[key])) cols[Math.min(WIDTH - 1, Math.floor((s.t_s / duration) * WIDTH))].push(s[key]);
  const means = cols.map((c) => (c.length ? c.reduce((a, b) => a + b, 0) / c.length : NaN));
  const lo = Math.min(...means.filter(Number.isFinite));
  const hi = Math.max(...means.filter(Number.isFinite));
  const lines = [];
  for (let r = HEIGHT - 1; r >= 0; r--) {
    let line = '';
    for (const m of means) {
      const level = hi === lo ? 0 : Math.round(((m - lo) / (hi - lo)) * (HEIGHT - 1));
      line += Number.isFinite(m) && level === r ? '*' : ' ';
    }
    const axis = r === HEIGHT - 1 ? f(hi, 1) : r === 0 ? f(lo, 1) : '';
    lines.push(`${axis.padStart(9)} |${line}`);
  }
  let marks = '';
  for (let c = 0; c < WIDTH; c++) {
    const t0 = (c / WIDTH) * duration;
    const t1 = ((c + 1) / WIDTH) * duration;
    marks += restartBegin !== undefined && restartBegin >= t0 && restartBegin < t1 ? 'R' : windowStart >= t0 && windowStart < t1 ? '^' : '-';
  }
  lines.push(`${''.padStart(9)} +${marks}`);
  return `${label} (mean per column; R: PostgreSQL restart, ^: start of the analysed window)\n${lines.join('\n')}`;
}

// --- SVG ---------------------------------------------------------------------------------------------------------------------
function svgChart(panels) {
  const W = 640;
  const H = 110;
  const pad = 40;
  const parts = [];
  panels.forEach(([key, label], i) => {
    const y0 = i * (H + 30) + 20;
    const pts = samples.filter((s) => Number.isFinite(s[key]));
    const lo = min(pts, key);
    const hi = max(pts, key);
    const x = (t) => pad + ((W - 2 * pad) * t) / duration;
    const y = (v) => y0 + H - (hi === lo ? 0 : ((v - lo) / (hi - lo)) * H);
    parts.push(`<text x="${pad}" y="${y0 - 5}" font-size="12">${label}: ${f(lo)} – ${f(hi)}</text>`);
    parts.push(`<rect x="${pad}" y="${y0}" width="${W - 2 * pad}" height="${H}" fill="none" stroke="#ccc"/>`);
    parts.push(`<polyline fill="none" stroke="#1f77b4" stroke-width="1" points="${pts.map((s) => `${x(s.t_s).toFixed(1)},${y(s[key]).toFixed(1)}`).join(' ')}"/>`);
    for (const [t, color] of [[restartBegin, '#d62728'], [windowStart, '#2ca02c']]) {
      if (t !== undefined) parts.push(`<line x1="${x(t)}" x2="${x(t)}" y1="${y0}" y2="${y0 + H}" stroke="${color}" stroke-dasharray="3,3"/>`);
    }
  });
  const height = panels.length * (H + 30) + 20;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`;
}
const PANELS = [
  ['rss_mb', 'RSS MB'],
  ['heap_used_mb', 'heap used MB'],
  ['fds', 'open fds'],
  ['loop_p99_ms', 'event-loop delay p99 ms'],
  ['qps', 'queries/s'],
];
fs.writeFileSync(path.join(dir, 'chart.svg'), svgChart(PANELS));

// --- Markdown -------------------------------------------------------------------------------------------------------------
const qpsAll = samples.slice(1).map((s) => s.qps);
const out = [];
out.push(`## Soak: ${failures.length === 0 ? 'PASSED' : 'FAILED'}`, '');
out.push('```', envText, '```', '');
out.push(`${f(duration / 60)} min, ${samples.length} samples; slopes over the last ${f(windowMinutes)} min ` +
  `(from ${f(windowStart, 0)} s: the second half${restartEnd !== undefined ? `, ≥ ${f(afterRestart, 0)} s after PostgreSQL came back at ${restartEnd} s` : ''}).`, '');
out.push('| series | start of window | end of window | slope /h (all samples) | slope /h (per-minute minimum) | rule | ok |', '|---|---|---|---|---|---|---|');
const keyOf = { RSS: 'rss_mb', 'heap used': 'heap_used_mb', 'V8 heap total': 'heap_total_mb', 'RSS − heap total': 'rss_minus_heap_mb', 'open fds': 'fds', 'fds − clients − servers': 'fd_excess', 'event-loop delay p99': 'loop_p99_ms' };
for (const [name, unit, all, fl, rule, ok] of rows) {
  const k = keyOf[name];
  out.push(`| ${name} (${unit}) | ${f(inWindow[0]?.[k])} | ${f(inWindow.at(-1)?.[k])} | ${f(all, 2)} | ${f(fl, 2)} | ${rule} | ${rule === 'shown' ? '—' : ok ? 'yes' : '**no**'} |`);
}
out.push('');
out.push(`- Whole run: RSS ${f(min(samples, 'rss_mb'))}–${f(max(samples, 'rss_mb'))} MB, heap used ${f(min(samples, 'heap_used_mb'))}–${f(max(samples, 'heap_used_mb'))} MB, ` +
  `fds ${f(min(samples, 'fds'), 0)}–${f(max(samples, 'fds'), 0)}, event-loop p99 median ${f(median(samples.map((s) => s.loop_p99_ms)))} ms (max ${f(max(samples, 'loop_p99_ms'))} ms; ` +
  `prom-client's nodejs_eventloop_lag_p99 median ${f(median(samples.map((s) => s.node_lag_p99_ms)))} ms), gatehouse CPU median ${f(median(samples.map((s) => s.cpu_pct)), 0)} %, load average median ${f(median(samples.map((s) => s.load1)))} (max ${f(max(samples, 'load1'))}).`);
out.push(`- Throughput: ${load.counts.queries} statements, median ${f(median(qpsAll), 0)}/s (min ${f(Math.min(...qpsAll), 0)}, max ${f(Math.max(...qpsAll), 0)}); ` +
  `${load.counts.copiesOk} COPY rounds (${f(load.counts.copyBytes / 2 ** 20, 0)} MB in and out), ${load.counts.cancelsOk} cancels honoured, ` +
  `${load.counts.stormsOk} storms (${load.counts.stormClientsOk} storm clients served), ${load.counts.adminOk} admin console rounds, ` +
  `${events.filter((e) => e.event === 'sighup').length} SIGHUPs, PostgreSQL restart ${restartBegin !== undefined ? `at ${restartBegin}–${restartEnd} s` : 'not done'}.`);
out.push(`- Errors: ${load.errors.expected} expected (around the restart), ${load.errors.unexpected} unexpected; ` +
  `${stalls.length} sampling interval(s) outside the restart without a completed statement.`);
for (const [cls, kinds] of [['expected', load.errors.expectedByKind], ['unexpected', load.errors.unexpectedByKind]]) {
  for (const [kind, n] of Object.entries(kinds).sort((a, b) => b[1] - a[1]).slice(0, 12)) out.push(`  - ${cls}: ${n} × \`${kind}\``);
}
out.push(`- gatehouse's log: ${logLevels.warn} warn, ${logLevels.error} error, ${logLevels.fatal} fatal lines`);
for (const [msg, n] of [...logMessages].sort((a, b) => b[1] - a[1]).slice(0, 10)) out.push(`  - ${n} × \`${msg}\``);
out.push('');
if (failures.length) out.push('**Failed:**', ...failures.map((x) => `- ${x}`), '');
if (windowMinutes < 10) out.push(`(The analysed window is ${f(windowMinutes)} min: too short for slopes per hour to mean much.)`, '');
out.push('```');
for (const [key, label] of PANELS) out.push(asciiChart(key, label), '');
out.push('```', '', 'chart.svg: the same series over time (red: PostgreSQL restart; green: start of the analysed window).');
process.stdout.write(`${out.join('\n')}\n`);
process.exit(failures.length === 0 ? 0 : 1);

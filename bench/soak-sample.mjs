// bench/soak-sample.mjs — one sample of gatehouse's health for bench/soak-load.mjs: RSS and open file descriptors
// from /proc/PID, heap, event-loop delay, clients and server connections from its /metrics.
import fs from 'node:fs/promises';

export const SAMPLE_COLUMNS = [
  't_s', 'rss_mb', 'heap_used_mb', 'heap_total_mb', 'fds', 'fd_sockets', 'clients', 'servers', 'fd_excess',
  'loop_p99_ms', 'loop_max_le_ms', 'node_lag_p99_ms', 'cpu_pct', 'load1', 'queries', 'qps', 'copy_mb',
  'expected_errors', 'unexpected_errors', 'in_restart',
];

/** PROMETHEUS text → Map of `name{labels}` → number (comments skipped). */
function parseMetrics(text) {
  const values = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    values.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return values;
}

/** Sum of every series of NAME (all label sets). */
function sumOf(values, name) {
  let total = 0;
  for (const [key, v] of values) if (key === name || key.startsWith(`${name}{`)) total += v;
  return total;
}

/** The histogram's cumulative buckets: [[le seconds, count], …] in ascending le, +Inf last. */
function buckets(values, name) {
  const out = [];
  for (const [key, v] of values) {
    const m = key.startsWith(`${name}_bucket{`) && /le="([^"]+)"/.exec(key);
    if (m) out.push([m[1] === '+Inf' ? Infinity : Number(m[1]), v]);
  }
  return out.sort((a, b) => a[0] - b[0]);
}

/** Quantile Q of the observations between two scrapes, interpolated inside its bucket as Prometheus's
 *  histogram_quantile does; the largest bucket bound that received anything is returned too (seconds). */
export function intervalQuantile(before, after, q) {
  const delta = after.map(([le, c], i) => [le, c - (before[i]?.[1] ?? 0)]);
  const total = delta.at(-1)?.[1] ?? 0;
  if (total <= 0) return { quantile: NaN, maxLe: NaN };
  let maxLe = 0;
  for (let i = 0; i < delta.length; i++) if (delta[i][1] > (delta[i - 1]?.[1] ?? 0)) maxLe = delta[i][0];
  const rank = q * total;
  for (let i = 0; i < delta.length; i++) {
    if (delta[i][1] < rank) continue;
    const [le, c] = delta[i];
    const [prevLe, prevC] = i > 0 ? delta[i - 1] : [0, 0];
    if (le === Infinity) return { quantile: prevLe, maxLe };
    return { quantile: prevLe + ((le - prevLe) * (rank - prevC)) / Math.max(1, c - prevC), maxLe };
  }
  return { quantile: NaN, maxLe };
}

async function procFacts(pid) {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? NaN);
  const entries = await fs.readdir(`/proc/${pid}/fd`);
  let sockets = 0;
  for (const fd of entries) {
    const target = await fs.readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    if (target.startsWith('socket:')) sockets++;
  }
  const stat = (await fs.readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ');
  const ticks = Number(stat[11]) + Number(stat[12]);
  const load1 = Number((await fs.readFile('/proc/loadavg', 'utf8')).split(' ')[0]);
  return { rssMb: rssKb / 1024, fds: entries.length, sockets, ticks, load1 };
}

/** A sampler bound to one gatehouse: each call to next() returns one row (an object keyed by SAMPLE_COLUMNS
 *  minus the load driver's own counters, which the caller fills in). */
export function gatehouseSampler({ pid, metricsUrl, clkTck = 100 }) {
  let previous = null;
  return async function next() {
    const proc = await procFacts(pid);
    const response = await fetch(metricsUrl, { signal: AbortSignal.timeout(4000) });
    if (!response.ok) throw new Error(`${metricsUrl}: HTTP ${response.status}`);
    const values = parseMetrics(await response.text());
    const loop = buckets(values, 'gatehouse_event_loop_delay_seconds');
    const now = performance.now();
    const { quantile, maxLe } = previous ? intervalQuantile(previous.loop, loop, 0.99) : { quantile: NaN, maxLe: NaN };
    const cpuPct = previous ? (100 * (proc.ticks - previous.ticks)) / clkTck / ((now - previous.at) / 1000) : NaN;
    previous = { loop, ticks: proc.ticks, at: now };
    const clients = sumOf(values, 'gatehouse_clients');
    const servers = sumOf(values, 'pg_doorman_server_tls_connections');
    return {
      rss_mb: proc.rssMb,
      heap_used_mb: sumOf(values, 'nodejs_heap_size_used_bytes') / 2 ** 20,
      heap_total_mb: sumOf(values, 'nodejs_heap_size_total_bytes') / 2 ** 20,
      fds: proc.fds,
      fd_sockets: proc.sockets,
      clients,
      servers,
      // Descriptors beyond one per client and one per server connection: listeners, the web server, epoll, files.
      fd_excess: proc.fds - clients - servers,
      loop_p99_ms: quantile * 1000,
      loop_max_le_ms: maxLe * 1000,
      node_lag_p99_ms: sumOf(values, 'nodejs_eventloop_lag_p99_seconds') * 1000,
      cpu_pct: cpuPct,
      load1: proc.load1,
    };
  };
}

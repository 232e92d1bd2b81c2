// bench/stats.mjs — what bench/summarize.mjs and bench/summarize-memory.mjs share: reading a results CSV, medians,
// ratios and number formatting.
import fs from 'node:fs';

/** The rows of a CSV that bench/run.sh wrote (no quoting: its fields never hold commas), as objects by header. */
export function readCsv(file) {
  const [header, ...lines] = fs.readFileSync(file, 'utf8').trim().split('\n');
  const names = header.split(',');
  return lines.map((line) => Object.fromEntries(line.split(',').map((value, i) => [names[i], value])));
}

export const num = (text) => (text === undefined || text === '' ? null : Number(text));

export function median(values) {
  const xs = values.filter((x) => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const mid = Math.floor(xs.length / 2);
  return xs.length % 2 === 1 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
}

export const fmt = (x, digits) => (x === null || x === undefined ? '–' : x.toFixed(digits));
export const ratio = (a, b) => (a === null || a === undefined || b === null || b === undefined || b === 0 ? '–' : `${(a / b).toFixed(2)}×`);

export function range(values, digits) {
  const xs = values.filter((x) => x !== null);
  return xs.length === 0 ? '–' : `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;
}

export const maxOf = (values) => values.reduce((m, x) => (x === null ? m : Math.max(m ?? x, x)), null);

/** The pool mode in a target name: gatehouse-transaction-w2, gatehouse@base-session, pgbouncer-session. */
export const modeOf = (target) => target.split('-')[1] ?? '';

/** Orders targets: direct, then gatehouse builds, then PgBouncer; by name within each. */
export function byTarget(a, b) {
  const rank = (t) => (t === 'direct' ? 0 : t.startsWith('gatehouse') ? 1 : 2);
  return rank(a) - rank(b) || a.localeCompare(b, 'en', { numeric: true });
}

/** The env.txt of a results folder as a fenced block, or nothing. */
export function envBlock(file) {
  return fs.existsSync(file) ? ['```', fs.readFileSync(file, 'utf8').trim(), '```', ''] : [];
}

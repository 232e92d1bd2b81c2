/**
 * Prometheus text exposition written at scrape time, for the families gatehouse computes from its own counters
 * (pool traffic, duration buckets): each family's HELP and TYPE once, then its samples. The counters behind them
 * are plain numbers the relay adds to; nothing here runs between scrapes.
 */
import type { Aggregator } from 'prom-client';
import type { DurationHistogram } from './duration-histogram.js';

export type FamilyType = 'gauge' | 'counter' | 'histogram';
export type Labels = Readonly<Record<string, string>>;

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const escapeHelp = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

function labelText(labels: Labels): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(labels)) parts.push(`${k}="${escapeLabel(v)}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function numberText(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** A family as prom-client's getMetricsAsJSON() gives it, so that AggregatorRegistry.aggregate() can combine workers'. */
export interface FamilyJson {
  name: string;
  help: string;
  type: FamilyType;
  aggregator: Aggregator;
  values: Array<{ metricName: string; labels: Labels; value: number }>;
}

/**
 * How the supervisor combines one family across workers: a sum (counts, bytes, buckets), except settings every
 * worker reports alike ('first') and worst cases ('max').
 */
const AGGREGATORS: Readonly<Record<string, Aggregator>> = {
  pg_doorman_pool_size: 'first',
  pg_doorman_build_info: 'first',
  pg_doorman_users_configured: 'first',
  pg_doorman_log_level: 'first',
  pg_doorman_pools_paused: 'max',
  pg_doorman_pools_maxwait_microseconds: 'max',
  pg_doorman_pools_oldest_active_age_ms: 'max',
  pg_doorman_pools_avg_wait_time: 'average',
  pg_doorman_pools_queries_percentile: 'max',
  pg_doorman_pools_transactions_percentile: 'max',
};

export class Exposition {
  private readonly families: FamilyJson[] = [];

  /** Start a family; its samples follow. */
  family(name: string, type: FamilyType, help: string): this {
    this.families.push({ name, help, type, aggregator: AGGREGATORS[name] ?? 'sum', values: [] });
    return this;
  }

  sample(name: string, labels: Labels, value: number): this {
    this.families.at(-1)!.values.push({ metricName: name, labels, value });
    return this;
  }

  /** A histogram's series in seconds: cumulative buckets (`le`), `_sum` and `_count`. */
  histogram(name: string, labels: Labels, h: DurationHistogram): this {
    const cumulative = h.cumulative();
    h.bucketsSeconds.forEach((bound, i) => this.sample(`${name}_bucket`, { ...labels, le: String(bound) }, cumulative[i]));
    this.sample(`${name}_bucket`, { ...labels, le: '+Inf' }, cumulative[cumulative.length - 1]);
    this.sample(`${name}_sum`, labels, h.sumMicros / 1e6);
    return this.sample(`${name}_count`, labels, h.count);
  }

  json(): FamilyJson[] {
    return this.families;
  }

  text(): string {
    const lines: string[] = [];
    for (const f of this.families) {
      lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
      for (const v of f.values) lines.push(`${v.metricName}${labelText(v.labels)} ${numberText(v.value)}`);
    }
    return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
  }
}

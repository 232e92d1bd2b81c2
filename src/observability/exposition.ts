/**
 * Prometheus text exposition written at scrape time, for the families gatehouse computes from its own counters
 * (pool traffic, duration buckets): each family's HELP and TYPE once, then its samples. The counters behind them
 * are plain numbers the relay adds to; nothing here runs between scrapes.
 */
import type { DurationHistogram } from './duration-histogram.js';

export type FamilyType = 'gauge' | 'counter' | 'histogram';
export type Labels = Readonly<Record<string, string>>;

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const escapeHelp = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

function labelText(labels: Labels, extra?: string): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(labels)) parts.push(`${k}="${escapeLabel(v)}"`);
  if (extra) parts.push(extra);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function numberText(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

export class Exposition {
  private readonly lines: string[] = [];

  /** Start a family; its samples follow. */
  family(name: string, type: FamilyType, help: string): this {
    this.lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
    return this;
  }

  sample(name: string, labels: Labels, value: number): this {
    this.lines.push(`${name}${labelText(labels)} ${numberText(value)}`);
    return this;
  }

  /** A histogram's series in seconds: cumulative buckets (`le`), `_sum` and `_count`. */
  histogram(name: string, labels: Labels, h: DurationHistogram): this {
    const cumulative = h.cumulative();
    h.bucketsSeconds.forEach((bound, i) => this.lines.push(`${name}_bucket${labelText(labels, `le="${bound}"`)} ${cumulative[i]}`));
    this.lines.push(`${name}_bucket${labelText(labels, 'le="+Inf"')} ${cumulative[cumulative.length - 1]}`);
    this.lines.push(`${name}_sum${labelText(labels)} ${h.sumMicros / 1e6}`);
    this.lines.push(`${name}_count${labelText(labels)} ${h.count}`);
    return this;
  }

  text(): string {
    return this.lines.length === 0 ? '' : `${this.lines.join('\n')}\n`;
  }
}

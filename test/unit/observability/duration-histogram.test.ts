import { describe, expect, it } from 'vitest';
import { DurationHistogram, QUERY_BUCKETS, SAMPLE_RING } from '../../../src/observability/duration-histogram.js';
import { Exposition } from '../../../src/observability/exposition.js';

describe('duration histogram', () => {
  it('counts a duration equal to a bound in that bound\'s bucket (Prometheus le is inclusive), cumulatively', () => {
    const h = new DurationHistogram(QUERY_BUCKETS);
    for (const micros of [100, 500, 501, 5_000, 4_000_000, 9_000_000]) h.observe(micros);
    // le 0.0005 s = 500 µs: 100 and 500; le 0.005: + 501 and 5000; le 0.05, 0.5: same; le 5: + 4 s; +Inf: + 9 s.
    expect(h.cumulative()).toEqual([2, 4, 4, 4, 5, 6]);
    expect(h.count).toBe(6);
    expect(h.sumMicros).toBe(100 + 500 + 501 + 5_000 + 4_000_000 + 9_000_000);
  });

  it('gives nearest-rank percentiles of the recent samples, and forgets samples older than the ring', () => {
    const h = new DurationHistogram(QUERY_BUCKETS);
    expect(h.percentile(0.99)).toBe(0);
    for (let i = 1; i <= 100; i++) h.observe(i);
    expect([h.percentile(0.5), h.percentile(0.95), h.percentile(0.99), h.percentile(1)]).toEqual([50, 95, 99, 100]);
    for (let i = 0; i < SAMPLE_RING; i++) h.observe(7);
    expect(h.percentile(0.99)).toBe(7);
    expect(h.count).toBe(100 + SAMPLE_RING);
  });

  it('is written as _bucket lines with le labels, _sum in seconds and _count', () => {
    const h = new DurationHistogram([0.001, 0.01]);
    h.observe(2_000);
    const text = new Exposition().family('x_seconds', 'histogram', 'help').histogram('x_seconds', { user: 'u"1' }, h).text();
    expect(text.split('\n')).toEqual([
      '# HELP x_seconds help',
      '# TYPE x_seconds histogram',
      'x_seconds_bucket{user="u\\"1",le="0.001"} 0',
      'x_seconds_bucket{user="u\\"1",le="0.01"} 1',
      'x_seconds_bucket{user="u\\"1",le="+Inf"} 1',
      'x_seconds_sum{user="u\\"1"} 0.002',
      'x_seconds_count{user="u\\"1"} 1',
      '',
    ]);
  });
});

// The event-loop watch: a loop blocked for longer than a stall is measured in the histogram and logged at warn.
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { EventLoopWatch, STALL_MS } from '../../../src/observability/event-loop.js';

const block = (ms: number) => {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // a synchronous stretch, as a CPU-bound bug would make one
  }
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('event-loop watch', () => {
  let watch: EventLoopWatch | null = null;
  afterEach(() => watch?.stop());

  it('a 400 ms stall lands in the >= 0.25 s buckets of gatehouse_event_loop_delay_seconds and is logged once at warn', async () => {
    const registry = new Registry();
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    watch = new EventLoopWatch(registry, logger);
    watch.start();
    await sleep(250);
    block(400);
    await sleep(250);
    const metric = (await registry.getSingleMetric('gatehouse_event_loop_delay_seconds')!.get()).values as Array<{ metricName?: string; labels: Record<string, unknown>; value: number }>;
    const bucket = (le: number) => metric.find((v) => v.metricName?.endsWith('_bucket') && v.labels.le === le)!.value;
    const count = metric.find((v) => v.metricName?.endsWith('_count'))!.value;
    expect(count).toBeGreaterThanOrEqual(4);
    // The tick due during the stall was late by most of it (the machine may add stalls of its own, never remove one).
    expect(count - bucket(0.25)).toBeGreaterThanOrEqual(1);
    const warnings = lines.filter((l) => l.msg === 'event loop stalled: every connection waited this long');
    expect(warnings.length).toBeGreaterThanOrEqual(1);
    expect(Math.max(...warnings.map((w) => Number(w.delay_ms)))).toBeGreaterThanOrEqual(Math.max(STALL_MS, 300));
  });
});

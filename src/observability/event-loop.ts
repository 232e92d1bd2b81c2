/**
 * Event-loop health: how late a 100 ms tick fires is the delay every connection feels at that moment.
 * Each tick's lateness goes into gatehouse_event_loop_delay_seconds; one of STALL_MS or more is logged
 * at warn (at most once per second, with the worst delay since the last warning).
 */
import type { Logger } from 'pino';
import { Histogram, type Registry } from 'prom-client';

const TICK_MS = 100;
/** A stall a client notices: a quarter of a second without the loop answering anyone. */
export const STALL_MS = 250;
const WARN_EVERY_MS = 1000;

export class EventLoopWatch {
  private readonly delay: Histogram;
  private timer: NodeJS.Timeout | null = null;
  private expected = 0;
  private lastWarning = Number.NEGATIVE_INFINITY;
  private worstUnreported = 0;

  constructor(
    registry: Registry,
    private readonly logger: Logger,
  ) {
    this.delay = new Histogram({
      name: 'gatehouse_event_loop_delay_seconds',
      help: `How late a ${TICK_MS} ms timer fired: the delay every connection had at that moment (a stall of ${STALL_MS} ms or more is also logged at warn).`,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    });
  }

  start(): void {
    if (this.timer) return;
    this.expected = performance.now() + TICK_MS;
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  private tick(): void {
    const now = performance.now();
    const late = Math.max(0, now - this.expected);
    this.expected = now + TICK_MS;
    this.delay.observe(late / 1000);
    if (late < STALL_MS) return;
    this.worstUnreported = Math.max(this.worstUnreported, late);
    if (now - this.lastWarning < WARN_EVERY_MS) return;
    this.lastWarning = now;
    this.logger.warn({ delay_ms: Math.round(this.worstUnreported) }, 'event loop stalled: every connection waited this long');
    this.worstUnreported = 0;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

/**
 * tls_rate_limit_per_second: a token bucket that delays TLS handshakes beyond the rate. A waiting
 * client is never rejected while it is within its deadline; the queue is bounded, and a client that
 * cannot get a slot in time is told so (the caller closes it and counts it).
 */
export class HandshakeLimiter {
  private tokens: number;
  private last = performance.now();
  private readonly queue: Array<{ deadline: number; resolve: (granted: boolean) => void }> = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly ratePerSecond: number,
    private readonly maxQueue = Math.max(64, ratePerSecond * 10),
  ) {
    this.tokens = Math.max(1, ratePerSecond);
  }

  get enabled(): boolean {
    return this.ratePerSecond > 0;
  }

  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Resolves true when the handshake may start, false when no slot could be had before `deadline`
   * (performance.now() ms). A client that leaves (`signal` aborts) gives its place up at once, so
   * clients that hang up after SSLRequest cannot fill the queue and lock others out.
   */
  acquire(deadline: number, signal?: AbortSignal): Promise<boolean> | true {
    if (!this.enabled) return true;
    this.refill();
    if (this.queue.length === 0 && this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    if (this.queue.length >= this.maxQueue) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter = { deadline, resolve };
      this.queue.push(waiter);
      signal?.addEventListener(
        'abort',
        () => {
          const i = this.queue.indexOf(waiter);
          if (i >= 0) this.queue.splice(i, 1);
          resolve(false);
        },
        { once: true },
      );
      this.schedule();
    });
  }

  private refill(): void {
    const now = performance.now();
    const burst = Math.max(1, this.ratePerSecond);
    this.tokens = Math.min(burst, this.tokens + ((now - this.last) / 1000) * this.ratePerSecond);
    this.last = now;
  }

  private schedule(): void {
    if (this.timer) return;
    const wait = Math.max(1, Math.ceil(((1 - this.tokens) / this.ratePerSecond) * 1000));
    this.timer = setTimeout(() => {
      this.timer = null;
      this.drain();
    }, wait);
    this.timer.unref();
  }

  private drain(): void {
    this.refill();
    const now = performance.now();
    while (this.queue.length > 0) {
      const head = this.queue[0];
      if (head.deadline <= now) {
        this.queue.shift();
        head.resolve(false);
        continue;
      }
      if (this.tokens < 1) break;
      this.tokens -= 1;
      this.queue.shift();
      head.resolve(true);
    }
    if (this.queue.length > 0) this.schedule();
  }
}

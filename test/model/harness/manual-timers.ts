/**
 * A manual clock for the drivers' injectable timers: nothing expires until the test says so, which
 * makes `timer.expired` an ordinary step of a generated path instead of a wait.
 */
import type { Timers } from '../../../src/driver/timers.js';

interface ManualTimer {
  fn: () => void;
  ms: number;
  cleared: boolean;
  fired: boolean;
}

export class ManualTimers implements Timers {
  private readonly timers: ManualTimer[] = [];

  set(fn: () => void, ms: number): unknown {
    const timer: ManualTimer = { fn, ms, cleared: false, fired: false };
    this.timers.push(timer);
    return timer;
  }

  clear(handle: unknown): void {
    const timer = handle as ManualTimer | undefined;
    if (timer) timer.cleared = true;
  }

  /** Timers set and neither cleared nor fired. */
  get armed(): number {
    return this.timers.filter((t) => !t.cleared && !t.fired).length;
  }

  /** Expire every armed timer, synchronously, in the order they were set. */
  fireAll(): void {
    const armed = this.timers.filter((t) => !t.cleared && !t.fired);
    if (armed.length === 0) throw new Error('no armed timer to expire: the driver cleared or never set it');
    for (const timer of armed) {
      timer.fired = true;
      timer.fn();
    }
  }
}

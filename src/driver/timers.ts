/**
 * Drivers own every timer and turn expiry into a `timer.expired` event. Tests substitute a
 * manual clock so that timeouts are steps of a generated path, not waits.
 */
export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const realTimers: Timers = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

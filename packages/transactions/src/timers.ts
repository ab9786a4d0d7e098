/**
 * RFC 3261 §17 timer values (Table 4, Appendix A) and the default system scheduler.
 */
import type { Scheduler, TransactionTimers } from "./types.js";

/** RFC 3261 Appendix A defaults: T1 500 ms, T2 4 s, T4 5 s. */
export const DEFAULT_TIMERS: TransactionTimers = Object.freeze({ T1: 500, T2: 4000, T4: 5000 });

/**
 * Timer D: RFC 3261 §17.1.1.2: "set to fire in 32 seconds for unreliable transports" — Table 4 says
 * "> 32s for UDP". With a larger-than-default T1 we keep D >= 64*T1 so a late non-2xx retransmission
 * is still absorbed.
 */
export const TIMER_D_MIN_MS = 32_000;

/** Merges overrides with the defaults and rejects nonsense (a zero or negative T1 would spin). */
export function resolveTimers(overrides?: Partial<TransactionTimers>): TransactionTimers {
  const t: TransactionTimers = { ...DEFAULT_TIMERS, ...overrides };
  for (const name of ["T1", "T2", "T4"] as const) {
    const v = t[name];
    if (!Number.isFinite(v) || v <= 0) throw new RangeError(`transaction timer ${name} must be a positive number of ms, got ${v}`);
  }
  if (t.T2 < t.T1) throw new RangeError(`transaction timer T2 (${t.T2}) must not be smaller than T1 (${t.T1})`);
  return Object.freeze(t);
}

/** Node's timers and a monotonic clock. */
export const systemScheduler: Scheduler = Object.freeze({
  setTimeout: (fn: () => void, ms: number): unknown => setTimeout(fn, ms),
  clearTimeout: (handle: unknown): void => {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
  now: (): number => performance.now(),
});

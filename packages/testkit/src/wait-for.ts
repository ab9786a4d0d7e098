import { WaitTimeoutError } from "./errors.js";

export interface WaitForOptions {
  readonly timeoutMs: number;
  /** Delay between probes; default 25 ms. */
  readonly intervalMs?: number;
  /** What we are waiting for, for the timeout message ("redis PING on :6379"). */
  readonly what: string;
  /** Stop early: rejects with the signal's reason (used to race a server's early exit). */
  readonly signal?: AbortSignal;
}

/**
 * Polls `fn` until it returns something other than `undefined` and returns that value.
 * A throwing probe counts as "not yet"; its last error is kept for the timeout message.
 * Rejects with {@link WaitTimeoutError} after `timeoutMs` (never waits forever) or with
 * the signal's reason when aborted.
 */
export async function waitFor<T>(
  fn: () => Promise<T | undefined> | T | undefined,
  opts: WaitForOptions,
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  const interval = opts.intervalMs ?? 25;
  let lastError: unknown;
  for (;;) {
    opts.signal?.throwIfAborted();
    try {
      const value = await fn();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    opts.signal?.throwIfAborted();
    const left = deadline - Date.now();
    if (left <= 0) throw new WaitTimeoutError(opts.what, opts.timeoutMs, lastError);
    await sleepOrAbort(Math.min(interval, left), opts.signal);
  }
}

function sleepOrAbort(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason instanceof Error ? signal.reason : new Error("aborted"));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

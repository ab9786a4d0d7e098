/**
 * Edge admission limits (DESIGN §6 "limits everywhere"): a per-source token bucket and the
 * shape limits of a request (header count, Via depth, Route depth). The edge counts every
 * rejection and logs it once per source per interval (its LogThrottle).
 *
 * Pure decisions with an injected clock; the edge acts on them.
 */

export interface RateLimitOptions {
  /** Sustained requests per second per source address; 0 disables the limiter. */
  readonly ratePerSec: number;
  /** Bucket size (requests allowed in a burst). Default 2 x rate, at least 1. */
  readonly burst?: number;
  /** Sources tracked at once; the least recently seen are forgotten beyond this. Default 100 000. */
  readonly maxSources?: number;
}

export type RateDecision = { readonly ok: true } | { readonly ok: false; readonly retryAfterSec: number };

const ALLOW: RateDecision = { ok: true };

/**
 * Token bucket per source IP. Each request takes one token; tokens refill at `ratePerSec` up to
 * `burst`. A source over its rate gets `retryAfterSec` = time until one token is back (>= 1 s,
 * RFC 3261 §20.33 Retry-After is in whole seconds).
 */
export class SourceRateLimiter {
  readonly #rate: number;
  readonly #burst: number;
  readonly #max: number;
  /** source -> bucket; Map order = least recently used first. */
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(opts: RateLimitOptions) {
    this.#rate = opts.ratePerSec;
    this.#burst = Math.max(1, opts.burst ?? Math.ceil(opts.ratePerSec * 2));
    this.#max = opts.maxSources ?? 100_000;
  }

  get enabled(): boolean {
    return this.#rate > 0;
  }

  get trackedSources(): number {
    return this.#buckets.size;
  }

  take(source: string, now: number): RateDecision {
    if (this.#rate <= 0) return ALLOW;
    let b = this.#buckets.get(source);
    if (b === undefined) {
      b = { tokens: this.#burst, at: now };
      if (this.#buckets.size >= this.#max) {
        // Forget the least recently seen source; a forgotten source starts with a full bucket,
        // which at worst lets it burst once more.
        const oldest = this.#buckets.keys().next().value;
        if (oldest !== undefined) this.#buckets.delete(oldest);
      }
    } else {
      this.#buckets.delete(source); // re-insert below: most recently used last
      const elapsed = Math.max(0, now - b.at) / 1000;
      b.tokens = Math.min(this.#burst, b.tokens + elapsed * this.#rate);
      b.at = now;
    }
    this.#buckets.set(source, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return ALLOW;
    }
    return { ok: false, retryAfterSec: Math.max(1, Math.ceil((1 - b.tokens) / this.#rate)) };
  }
}

export interface MessageLimits {
  /** Header lines in one message. */
  readonly maxHeaders: number;
  /** Via entries (hops) in one request. */
  readonly maxVia: number;
  /** Route entries in one request. */
  readonly maxRoute: number;
}

export const DEFAULT_MESSAGE_LIMITS: MessageLimits = { maxHeaders: 128, maxVia: 32, maxRoute: 32 };

export interface LimitRejection {
  readonly status: number;
  readonly reason: string;
  /** stable code for counters and logs */
  readonly why: "too-many-headers" | "via-depth" | "route-depth";
}

/** What `checkMessageLimits` reads: a parsed message's header line names and list-element counts. */
export interface LimitedMessage {
  readonly fieldNames: readonly string[];
  valueCount(name: string): number;
}

/**
 * Header count, Via depth and Route depth. Header count is checked first and on the field list
 * alone, so a message with 10 000 headers costs no list splitting.
 * - too many header lines: 400 (no RFC status fits better; 513 is for size, which is checked
 *   by the transport);
 * - Via depth: 483 Too Many Hops (RFC 3261 §21.4.20: the request has crossed too many proxies);
 * - Route depth: 400 with a reason naming it.
 */
export function checkMessageLimits(msg: LimitedMessage, limits: MessageLimits): LimitRejection | undefined {
  // the names only: this runs on every request an edge takes in, so no field objects or value strings
  const names = msg.fieldNames;
  if (names.length > limits.maxHeaders) return { status: 400, reason: "Too Many Headers", why: "too-many-headers" };
  let via = 0;
  let route = 0;
  for (let i = 0; i < names.length; i++) {
    const n = names[i];
    if (n === "via") via++;
    else if (n === "route") route++;
  }
  // Lines first (cheap); only count comma-list elements when the line count does not already decide.
  if (via > limits.maxVia || (via > 0 && msg.valueCount("via") > limits.maxVia)) {
    return { status: 483, reason: "Too Many Hops (Via)", why: "via-depth" };
  }
  if (route > limits.maxRoute || (route > 0 && msg.valueCount("route") > limits.maxRoute)) {
    return { status: 400, reason: "Too Many Route Entries", why: "route-depth" };
  }
  return undefined;
}

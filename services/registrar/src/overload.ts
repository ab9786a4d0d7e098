/**
 * Overload shedding by queueing delay (the worker's side of overload control).
 *
 * Why: over UDP a UA retransmits a request it has no answer to after T1 = 500 ms, then 1 s, 2 s
 * (RFC 3261 §17.1.2.2). Once requests wait in a worker's socket buffer and event loop for longer
 * than that, every one of them is sent again, each retransmission costs the stateless edge a full
 * forward and the worker a parse, and the extra load keeps the queue long: the system serves a
 * fraction of what it could and does not recover until the offered load drops. Refusing work
 * early is cheap (a parse and a 503), so new requests that have already waited too long are
 * refused.
 *
 * How the wait is known: the edge writes its clock into its own Via (`ts`, epoch ms) when it
 * forwards a request to a worker. `now - ts` is then network + kernel socket queue + event loop
 * wait, plus the offset between the two hosts' clocks. The offset is removed the way LEDBAT
 * (RFC 6817 §2.4) removes it: the smallest `now - ts` seen from that edge over a window is taken
 * as "no queue", so clocks need not agree. A request that waited longer than the target is
 * answered 503 + Retry-After (RFC 3261 §21.5.4) at once. The delay falls while we shed (a 503 is a
 * fraction of a REGISTER's cost) and rises while we serve, which keeps the worker's own queue
 * near the target. (On the 2-core bench box this did not rescue the over-capacity steps, where
 * much of the queue is in processes the worker cannot see: packages/bench/README.md.) Time the request will still spend inside the worker (the event
 * loop's backlog, the store's queue: measured as the recent REGISTER service time) counts towards
 * the target as well: at 8,000 REGISTER/s offered that part reached 250 ms while the wait before
 * the worker stayed under the target. Only initial requests are shed: in-dialog requests (BYE, re-INVITE)
 * finish work that was already accepted.
 *
 * A clock that steps (an NTP correction on the edge) would look like a standing queue for the
 * whole window. Real queueing cannot outlast shedding (shedding drains it within about a second),
 * so when every request for STEP_SUSPECT_MS (5 s) has looked late, the baseline is taken again from
 * the last second's minimum.
 */

/** Baseline window: minima kept per bucket, BUCKETS buckets. */
const BUCKET_MS = 30_000;
const BUCKETS = 10;
/** Every request late for this long = a clock step, not a queue: re-base. */
const STEP_SUSPECT_MS = 5_000;
/** Senders are the edges; a bound keeps a forged flood of Via hosts from growing the map. */
const MAX_SENDERS = 256;

interface Baseline {
  /** minimum `now - ts` per bucket, newest last */
  minima: number[];
  /** start of the newest bucket, receiver ms */
  bucketStart: number;
  /** minimum over the last second, and when that second started (for re-basing) */
  recentMin: number;
  recentStart: number;
  /** since when every request from this sender has looked late (-1: the last one was not) */
  lateSince: number;
}

/** A service-time estimate older than this is stale (nothing completed: nothing is queued behind it). */
const SERVICE_STALE_MS = 1_000;

export class QueueDelayGuard {
  readonly #targetMs: number;
  readonly #senders = new Map<string, Baseline>();
  /** moving average of how long admitted work took inside the worker, ms, and when it last moved */
  #serviceMs = 0;
  #serviceAt = -Infinity;
  /** `targetMs` 0 disables the guard (every request is served). */
  constructor(targetMs: number) {
    if (!Number.isFinite(targetMs) || targetMs < 0) throw new Error(`queue delay target must be >= 0 ms, got ${targetMs}`);
    this.#targetMs = targetMs;
  }

  get enabled(): boolean {
    return this.#targetMs > 0;
  }

  /**
   * The queueing delay of a request that `sender` stamped `sentAt` (its clock, epoch ms) and we
   * received at `now` (ours), in ms: how much longer than the fastest recent request from that
   * sender it took. Also updates the sender's baseline.
   */
  delay(sender: string, sentAt: number, now: number): number {
    const offset = now - sentAt;
    let b = this.#senders.get(sender);
    if (b === undefined) {
      if (this.#senders.size >= MAX_SENDERS) this.#senders.clear();
      b = { minima: [offset], bucketStart: now, recentMin: offset, recentStart: now, lateSince: -1 };
      this.#senders.set(sender, b);
      return 0;
    }
    if (now - b.bucketStart >= BUCKET_MS) {
      b.minima.push(offset);
      if (b.minima.length > BUCKETS) b.minima.shift();
      b.bucketStart = now;
    } else if (offset < b.minima[b.minima.length - 1]!) b.minima[b.minima.length - 1] = offset;
    if (now - b.recentStart >= 1000) {
      b.recentMin = offset;
      b.recentStart = now;
    } else if (offset < b.recentMin) b.recentMin = offset;
    let base = b.minima[0]!;
    for (let i = 1; i < b.minima.length; i++) if (b.minima[i]! < base) base = b.minima[i]!;
    let d = offset - base;
    if (this.#targetMs > 0 && d > this.#targetMs) {
      if (b.lateSince < 0) b.lateSince = now;
      else if (now - b.lateSince >= STEP_SUSPECT_MS) {
        // a clock step (see the module comment): the last second is the new "no queue"
        b.minima = [b.recentMin];
        b.bucketStart = now;
        b.lateSince = -1;
        d = Math.max(0, offset - b.recentMin);
      }
    } else b.lateSince = -1;
    return d;
  }

  /**
   * How long a request just took inside the worker (arrival to final response, e.g. a REGISTER's
   * store round trip), ms, at `now` (ms, any monotonic clock). A request admitted now will wait
   * about that long again behind the work already in the event loop and the store's queue, so it
   * counts towards the target too. Moving average over about 16 requests.
   */
  noteServiceTime(ms: number, now: number): void {
    this.#serviceMs = now - this.#serviceAt > SERVICE_STALE_MS ? ms : this.#serviceMs + (ms - this.#serviceMs) / 16;
    this.#serviceAt = now;
  }

  /**
   * Should a new request that queued `delayMs` on its way here be refused, at `now` (the clock
   * given to noteServiceTime)? Yes when that plus the current service time passes the target.
   */
  shouldShed(delayMs: number, now = -Infinity): boolean {
    if (this.#targetMs <= 0) return false;
    const service = now - this.#serviceAt > SERVICE_STALE_MS ? 0 : this.#serviceMs;
    return delayMs + service > this.#targetMs;
  }
}

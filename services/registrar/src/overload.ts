/**
 * Overload shedding by queueing delay (the worker's side of overload control).
 *
 * Why: over UDP a UA retransmits a request it has no answer to after T1 = 500 ms, then 1 s, 2 s
 * (RFC 3261 §17.1.2.2). Once requests wait in a worker's socket buffer and event loop for longer
 * than that, every one of them is sent again, each retransmission costs the stateless edge a full
 * forward and the worker a parse, and the extra load keeps the queue long. Refusing work early is
 * cheap (a parse and a small answer), so a new request that has already waited past the target
 * is refused.
 *
 * How the wait is known: the edge stamps each request it forwards to a worker with its clock
 * (EDGE_SENT_AT_HEADER, @edgepath/cluster: a monotonic clock plus an id per edge process).
 * `now - sentAt` is then network + kernel socket queue + event loop wait, plus the offset between
 * the two processes' clocks. The offset is removed the way LEDBAT (RFC 6817 §2.4) removes it: the
 * smallest `now - sentAt` seen from that edge process over a window (10 x 30 s) is taken as "no
 * queue". Both clocks are monotonic, so the offset only drifts (ppm), which the window absorbs;
 * there is no clock step to guess at.
 *
 * What it does not do: it sees only the wait between the edge's send and the worker's read. On
 * the 2-core bench box most of an over-capacity queue sits in processes the worker cannot see
 * (sipp's and the edge's sockets), and shedding there did not rescue the over-capacity steps
 * (packages/bench/README.md). A standing queue that lasts longer than the window becomes the new
 * baseline; at that point the system has been over capacity for minutes and the refusals have
 * not helped.
 */

/** Baseline window: minima kept per bucket, BUCKETS buckets. */
const BUCKET_MS = 30_000;
const BUCKETS = 10;
/** Senders are edge processes; a bound keeps a flood of made-up ones from growing the map. */
const MAX_SENDERS = 256;

interface Baseline {
  /** minimum `now - sentAt` per bucket, newest last */
  minima: number[];
  /** start of the newest bucket, receiver ms */
  bucketStart: number;
}

export class QueueDelayGuard {
  readonly #targetMs: number;
  readonly #senders = new Map<string, Baseline>();

  /** `targetMs` 0 disables the guard (every request is served). */
  constructor(targetMs: number) {
    if (!Number.isFinite(targetMs) || targetMs < 0) throw new Error(`queue delay target must be >= 0 ms, got ${targetMs}`);
    this.#targetMs = targetMs;
  }

  get enabled(): boolean {
    return this.#targetMs > 0;
  }

  /**
   * The queueing delay of a request that `sender` (an edge process) stamped `sentAt` (its
   * monotonic clock, ms) and we received at `now` (ours, monotonic), in ms: how much longer than
   * the fastest recent request from that sender it took. Also updates the sender's baseline.
   */
  delay(sender: string, sentAt: number, now: number): number {
    const offset = now - sentAt;
    let b = this.#senders.get(sender);
    if (b === undefined) {
      if (this.#senders.size >= MAX_SENDERS) this.#senders.clear();
      b = { minima: [offset], bucketStart: now };
      this.#senders.set(sender, b);
      return 0;
    }
    if (now - b.bucketStart >= BUCKET_MS) {
      b.minima.push(offset);
      if (b.minima.length > BUCKETS) b.minima.shift();
      b.bucketStart = now;
    } else if (offset < b.minima[b.minima.length - 1]!) b.minima[b.minima.length - 1] = offset;
    let base = b.minima[0]!;
    for (let i = 1; i < b.minima.length; i++) if (b.minima[i]! < base) base = b.minima[i]!;
    return offset - base;
  }

  /** Should a new request that queued `delayMs` on its way here be refused? */
  shouldShed(delayMs: number): boolean {
    return this.#targetMs > 0 && delayMs > this.#targetMs;
  }
}

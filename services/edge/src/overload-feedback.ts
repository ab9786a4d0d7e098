/**
 * The edge's side of overload control: turning new requests away before they cost a worker
 * anything.
 *
 * A worker that refuses a request because it queued too long (services/registrar/src/overload.ts)
 * marks its 503 with OVERLOAD_SIGNAL_PARAM (@edgepath/cluster) in our Via. Each such 503 tells the edge that the worker
 * is past its queueing target; the edge then answers a growing share of new requests for that
 * worker with 503 + Retry-After itself (RFC 3261 §21.5.4), which costs a parse and a small reply
 * here instead of a forward, the worker's parse, transaction and store work, and a relayed 503.
 * The share grows while the signals keep coming and shrinks when they stop, so it settles where
 * the worker sheds only a trickle itself (additive increase, gradual decrease). The idea is RFC
 * 7339's (a server asks its upstream client to reduce what it sends), kept internal: the signal
 * is a flag on a 503, not RFC 7339's negotiated `oc` parameters, and it never leaves the edge
 * (our Via is removed before the response goes on).
 */

/** Each signal raises the share by this much, at most once per RAISE_EVERY_MS. */
const STEP = 0.05;
const RAISE_EVERY_MS = 50;
/** No signal for this long: the share falls by STEP per DECAY_EVERY_MS. */
const HOLD_MS = 300;
const DECAY_EVERY_MS = 100;
/** Never turn away everything: some requests keep probing whether the worker has recovered. */
const MAX_SHARE = 0.9;
/** Workers are few; the bound only guards against a flood of made-up response sources. */
const MAX_WORKERS = 1024;

interface WorkerLoad {
  share: number;
  raisedAt: number;
  signalAt: number;
}

export class OverloadFeedback {
  readonly #workers = new Map<string, WorkerLoad>();

  /** A worker (host:port of its internal socket) refused a request because it is overloaded. */
  signal(worker: string, now: number): void {
    let w = this.#workers.get(worker);
    if (w === undefined) {
      if (this.#workers.size >= MAX_WORKERS) this.#workers.clear();
      w = { share: 0, raisedAt: -Infinity, signalAt: now };
      this.#workers.set(worker, w);
    }
    this.#decay(w, now);
    w.signalAt = now;
    if (now - w.raisedAt >= RAISE_EVERY_MS) {
      w.share = Math.min(MAX_SHARE, w.share + STEP);
      w.raisedAt = now;
    }
  }

  /** Share of new requests for `worker` to turn away now, 0..MAX_SHARE. */
  share(worker: string, now: number): number {
    const w = this.#workers.get(worker);
    if (w === undefined) return 0;
    this.#decay(w, now);
    if (w.share === 0) this.#workers.delete(worker);
    return w.share;
  }

  /** Turn away this new request for `worker`? `random` in [0, 1) (Math.random in production). */
  shouldReject(worker: string, now: number, random: number): boolean {
    if (this.#workers.size === 0) return false; // the common case: nobody is overloaded
    return random < this.share(worker, now);
  }

  #decay(w: WorkerLoad, now: number): void {
    const quiet = now - w.signalAt - HOLD_MS;
    if (quiet <= 0 || w.share === 0) return;
    const steps = Math.floor(quiet / DECAY_EVERY_MS);
    if (steps <= 0) return;
    w.share = Math.max(0, w.share - steps * STEP);
    // the decay already applied is accounted for by moving the reference point
    w.signalAt += steps * DECAY_EVERY_MS;
  }
}

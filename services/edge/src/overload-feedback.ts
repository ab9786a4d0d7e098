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

/**
 * Each signal raises the share by STEP, at most once per RAISE_EVERY_MS. The share is kept as a
 * whole number of steps (a level) so that falling back is exact: summing and subtracting 0.05 in
 * floating point can leave 1e-17 behind, and a share that never reaches 0 keeps the worker listed.
 */
const STEP = 0.05;
const RAISE_EVERY_MS = 50;
/** No signal for this long: the share falls by STEP per DECAY_EVERY_MS. */
const HOLD_MS = 300;
const DECAY_EVERY_MS = 100;
/** Never turn away everything (90%): some requests keep probing whether the worker has recovered. */
const MAX_LEVEL = 18;
/** Workers are few; the bound only guards against a flood of made-up response sources. */
const MAX_WORKERS = 1024;

interface WorkerLoad {
  /** share = level * STEP */
  level: number;
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
      w = { level: 0, raisedAt: -Infinity, signalAt: now };
      this.#workers.set(worker, w);
    }
    this.#decay(w, now);
    w.signalAt = now;
    if (now - w.raisedAt >= RAISE_EVERY_MS) {
      w.level = Math.min(MAX_LEVEL, w.level + 1);
      w.raisedAt = now;
    }
  }

  /** Share of new requests for `worker` to turn away now, 0..0.9. */
  share(worker: string, now: number): number {
    const w = this.#workers.get(worker);
    if (w === undefined) return 0;
    this.#decay(w, now);
    if (w.level === 0) this.#workers.delete(worker);
    return w.level * STEP;
  }

  /** Turn away this new request for `worker`? `random` in [0, 1) (Math.random in production). */
  shouldReject(worker: string, now: number, random: number): boolean {
    if (this.#workers.size === 0) return false; // the common case: nobody is overloaded
    return random < this.share(worker, now);
  }

  #decay(w: WorkerLoad, now: number): void {
    const quiet = now - w.signalAt - HOLD_MS;
    if (quiet <= 0 || w.level === 0) return;
    const steps = Math.floor(quiet / DECAY_EVERY_MS);
    if (steps <= 0) return;
    w.level = Math.max(0, w.level - steps);
    // the decay already applied is accounted for by moving the reference point
    w.signalAt += steps * DECAY_EVERY_MS;
  }
}

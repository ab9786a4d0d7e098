/**
 * A count of work in flight (REGISTERs being written, location lookups) that a graceful stop or a
 * test can wait for, without keeping the promises themselves.
 *
 * Why not a `Set<Promise>`: a Set or Map that gains and loses an entry per request is rehashed
 * every few requests, and V8 links each replaced (obsolete) table to its successor for live
 * iterators. As far as we can tell (measured, not traced inside V8), once one obsolete table has
 * been promoted, the young tables after it, and the per-request objects their entries held at the
 * time, survive every scavenge until a full GC. In a worker at 1,250 proxied MESSAGE/s this `Set`
 * together with the location proxy's context `Map` kept ~1.4 MB alive per scavenge and lengthened
 * every pause by 1-2 ms (packages/bench README, "The MESSAGE tail: per-request Map and Set
 * entries").
 */
export class InFlight {
  #count = 0;
  #idle: (() => void)[] = [];

  /** Work started and not yet settled. */
  get size(): number {
    return this.#count;
  }

  /** Counts `work` until it settles (fulfilled or rejected: a rejection is the caller's to handle). */
  track(work: Promise<unknown>): void {
    this.#count++;
    work.then(this.#done, this.#done);
  }

  /** One settle callback per instance, not a closure per tracked request. */
  readonly #done = (): void => {
    if (--this.#count > 0) return;
    const idle = this.#idle;
    this.#idle = [];
    for (const resolve of idle) resolve();
  };

  /** Resolves once nothing is in flight, including work started while waiting. */
  settled(): Promise<void> {
    if (this.#count === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }
}

/**
 * DESIGN §4: "Ownership gives cache locality": the owner worker of an AOR keeps its bindings
 * in memory in front of the shared store (Redis, the truth). This decorator is that cache.
 *
 * Staleness is bounded three ways, because cluster events are at-most-once hints:
 * - every write through this store (register, markUnreachable, markReachable) drops the AORs
 *   it touched; markUnreachable also drops every cached AOR with a binding on that flow or
 *   edge, since another worker may have flipped them first (then the store reports nothing
 *   flipped here, yet this copy is stale);
 * - the service calls `invalidate(aor)` on a bindingChanged event from another worker and
 *   `clear()` when the ring changes (an AOR that moves away and back was written meanwhile);
 * - an entry serves lookups for at most `ttlMs` of request time, so a lost event costs at
 *   most that long of a stale answer (never a wrong REGISTER: writes always go to the store);
 * - an entry with any binding past its expiry is not used: a pure refresh (same routing
 *   values, later expiry) is not announced on the bus, so the store is asked instead.
 *
 * Only lookups that found bindings are cached (unknown users, and 404-vs-480 "known" windows,
 * are always asked of the store). Bounded LRU (Map insertion order).
 */
import { ownedString } from "@edgepath/sip";
import type { Binding, BindingStore, RegisterOp, RegisterResult, UnreachableSelector } from "./types.js";

export interface CachedBindingStoreOptions {
  /** Entries kept (LRU); default 10 000. */
  readonly maxEntries?: number;
  /** How long (in request time, the `now` argument) an entry may answer; default 5000 ms. */
  readonly ttlMs?: number;
}

interface Entry {
  /**
   * The AOR, as the entry's own copy. Callers pass AORs cut from a request's text (a V8 substring
   * keeps its whole parent string alive), and the LRU re-keys an entry on every hit: with the
   * caller's string as the key, each cached AOR would keep the last request to it alive.
   */
  readonly aor: string;
  readonly at: number;
  readonly bindings: readonly Binding[];
}

export class CachedBindingStore implements BindingStore {
  readonly #inner: BindingStore;
  readonly #max: number;
  readonly #ttlMs: number;
  readonly #entries = new Map<string, Entry>();
  /** Bumped on every invalidation: a lookup that raced one does not fill the cache. */
  #generation = 0;
  readonly stats = { hits: 0, misses: 0, invalidations: 0 };

  constructor(inner: BindingStore, opts: CachedBindingStoreOptions = {}) {
    this.#inner = inner;
    this.#max = opts.maxEntries ?? 10_000;
    this.#ttlMs = opts.ttlMs ?? 5000;
    if (!(this.#max >= 1)) throw new RangeError(`maxEntries must be >= 1: ${this.#max}`);
    if (!(this.#ttlMs > 0)) throw new RangeError(`ttlMs must be > 0: ${this.#ttlMs}`);
  }

  get size(): number {
    return this.#entries.size;
  }

  async register(op: RegisterOp): Promise<RegisterResult> {
    this.invalidate(op.aor);
    try {
      return await this.#inner.register(op);
    } finally {
      // Also after: a lookup that started before the write may have filled the cache meanwhile.
      this.invalidate(op.aor);
    }
  }

  async lookup(aor: string, now: number): Promise<{ known: boolean; bindings: Binding[] }> {
    const e = this.#entries.get(aor);
    if (e !== undefined && now >= e.at && now - e.at < this.#ttlMs) {
      // Any cached binding past its expiry: the store may hold a refresh of it that nobody
      // announced (pure refreshes publish no bindingChanged), so the entry is not used.
      if (e.bindings.every((b) => b.expiresAt > now)) {
        this.stats.hits++;
        this.#entries.delete(aor);
        this.#entries.set(e.aor, e);
        return { known: true, bindings: [...e.bindings] };
      }
    }
    this.stats.misses++;
    const gen = this.#generation;
    const r = await this.#inner.lookup(aor, now);
    if (r.bindings.length === 0) this.#entries.delete(aor);
    else if (gen === this.#generation) {
      this.#entries.delete(aor);
      if (this.#entries.size >= this.#max) {
        const oldest = this.#entries.keys().next();
        if (oldest.done !== true) this.#entries.delete(oldest.value);
      }
      const own = ownedString(aor);
      this.#entries.set(own, { aor: own, at: now, bindings: [...r.bindings] });
    }
    return r;
  }

  async markUnreachable(sel: UnreachableSelector, reason: string, now: number): Promise<string[]> {
    this.#invalidateWhere(sel);
    const aors = await this.#inner.markUnreachable(sel, reason, now);
    for (const a of aors) this.invalidate(a);
    this.#invalidateWhere(sel);
    return aors;
  }

  async markReachable(aor: string, key: string, now: number): Promise<void> {
    this.invalidate(aor);
    try {
      await this.#inner.markReachable(aor, key, now);
    } finally {
      this.invalidate(aor);
    }
  }

  async edgeRestarted(edge: string, startedAt: number, now: number): Promise<string[]> {
    const sel = { edge };
    this.#invalidateWhere(sel);
    const aors = await this.#inner.edgeRestarted(edge, startedAt, now);
    for (const a of aors) this.invalidate(a);
    this.#invalidateWhere(sel);
    return aors;
  }

  sweepExpired(now: number, limit?: number): Promise<number> {
    // Expiry is re-checked on every cached read; nothing to drop here.
    return this.#inner.sweepExpired(now, limit);
  }

  async listAors(limit: number): Promise<string[]> {
    return this.#inner.listAors !== undefined ? this.#inner.listAors(limit) : [];
  }

  close(): Promise<void> {
    this.clear();
    return this.#inner.close();
  }

  /** Another worker changed this AOR (bindingChanged), or we are unsure: ask the store next time. */
  invalidate(aor: string): void {
    this.#generation++;
    if (this.#entries.delete(aor)) this.stats.invalidations++;
  }

  /** The ring changed, or the bus reconnected after missing events: forget everything. */
  clear(): void {
    this.#generation++;
    this.stats.invalidations += this.#entries.size;
    this.#entries.clear();
  }

  #invalidateWhere(sel: UnreachableSelector): void {
    this.#generation++;
    const match =
      "flowToken" in sel ? (b: Binding): boolean => b.flowToken === sel.flowToken : (b: Binding): boolean => b.edge === sel.edge;
    for (const [aor, e] of this.#entries) {
      if (e.bindings.some(match)) {
        this.#entries.delete(aor);
        this.stats.invalidations++;
      }
    }
  }
}

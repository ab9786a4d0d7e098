/**
 * Consistent-hash ring of registrar workers (DESIGN §4 "The ring").
 *
 * Every edge builds the ring from the same live worker set and must get the same
 * owner for an AOR, whatever order heartbeats arrived in: members are sorted by
 * id before the continuum is built (hashring sorts points with a stable sort, so
 * insertion order would otherwise break ties between equal points).
 *
 * Points are placed by member *id*, not by address, so a worker that restarts on
 * a new IP under the same id keeps its share of AORs (and its warm cache).
 *
 * Ketama-compatible continuum from the `hashring` package: `vnodes` hashes per
 * member x 4 replicas each (160 vnodes -> 640 points per member). When a member
 * joins, only keys that now fall on its points move, and they move to it.
 */
import HashRing from "hashring";

export interface RingMember {
  readonly id: string;
  /** host:port of the member's internal SIP address. */
  readonly sipAddress: string;
}

export interface AorRingOptions {
  /** hashring "vnode count" per member (each yields 4 points). Default 160. */
  readonly vnodes?: number;
  /** Bound of the owner lookup cache. Default 10 000. */
  readonly cacheSize?: number;
}

export class AorRing {
  readonly #vnodes: number;
  readonly #cacheSize: number;
  #ring: HashRing | undefined;
  #members: readonly RingMember[] = [];
  #byId = new Map<string, RingMember>();
  // Bounded LRU: Map keeps insertion order; a hit is re-inserted at the end and
  // the oldest entry is evicted. Cleared whenever the member set changes.
  readonly #cache = new Map<string, RingMember>();
  #version = 0;

  constructor(opts: AorRingOptions = {}) {
    const vnodes = opts.vnodes ?? 160;
    const cacheSize = opts.cacheSize ?? 10_000;
    if (!Number.isInteger(vnodes) || vnodes < 1) throw new RangeError(`vnodes must be a positive integer: ${vnodes}`);
    if (!Number.isInteger(cacheSize) || cacheSize < 0) throw new RangeError(`cacheSize must be >= 0: ${cacheSize}`);
    this.#vnodes = vnodes;
    this.#cacheSize = cacheSize;
  }

  /** Bumps each time the member set (ids or addresses) changes; 0 before any member. */
  get version(): number {
    return this.#version;
  }

  get size(): number {
    return this.#members.length;
  }

  /** Members sorted by id. */
  members(): readonly RingMember[] {
    return this.#members;
  }

  /**
   * Replaces the member set. Returns true if it changed. The same set in any order
   * gives the same ring. Duplicate ids are collapsed deterministically (the
   * lexicographically smallest sipAddress wins) so order never matters.
   */
  setMembers(members: readonly RingMember[]): boolean {
    const byId = new Map<string, RingMember>();
    for (const m of members) {
      const prev = byId.get(m.id);
      if (prev === undefined || m.sipAddress < prev.sipAddress) byId.set(m.id, { id: m.id, sipAddress: m.sipAddress });
    }
    if (byId.size === this.#byId.size) {
      let same = true;
      for (const [id, m] of byId) {
        const cur = this.#byId.get(id);
        if (cur === undefined || cur.sipAddress !== m.sipAddress) {
          same = false;
          break;
        }
      }
      if (same) return false;
    }
    const sorted = [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const idsChanged = sorted.length !== this.#members.length || sorted.some((m, i) => m.id !== this.#members[i]?.id);
    if (idsChanged) {
      if (sorted.length === 0) {
        this.#ring = undefined;
      } else {
        const servers: Record<string, { vnodes: number }> = {};
        for (const m of sorted) servers[m.id] = { vnodes: this.#vnodes };
        // hashring's own cache is keyed on a plain object (prototype-unsafe) and is
        // bypassed via range() below; keep it minimal.
        this.#ring = new HashRing(servers, "md5", { "max cache size": 1 });
      }
    }
    this.#members = Object.freeze(sorted);
    this.#byId = byId;
    this.#cache.clear();
    this.#version++;
    return true;
  }

  /** Owner of an AOR (the caller passes the canonical AOR string); undefined on an empty ring. */
  ownerOf(aor: string): RingMember | undefined {
    const cached = this.#cache.get(aor);
    if (cached !== undefined) {
      this.#cache.delete(aor);
      this.#cache.set(aor, cached);
      return cached;
    }
    const ring = this.#ring;
    if (ring === undefined) return undefined;
    // range(key, 1) is hashring's public lookup without its object-keyed cache.
    const id = ring.range(aor, 1)[0];
    const owner = id === undefined ? undefined : this.#byId.get(id);
    if (owner !== undefined && this.#cacheSize > 0) {
      if (this.#cache.size >= this.#cacheSize) {
        const oldest = this.#cache.keys().next();
        if (oldest.done !== true) this.#cache.delete(oldest.value);
      }
      this.#cache.set(aor, owner);
    }
    return owner;
  }
}

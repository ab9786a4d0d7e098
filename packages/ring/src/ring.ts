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
  // Bounded owner cache, approximate LRU in two generations: a hit in the young map costs one
  // lookup (no delete + re-insert, this is on every request an edge routes); a hit in the old
  // map is promoted; when the young map is full it becomes the old one and the previous old
  // one (keys unused for a whole generation) is dropped. At most cacheSize entries. Cleared
  // whenever the member set changes.
  #young = new Map<string, RingMember>();
  #old = new Map<string, RingMember>();
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
    this.#young = new Map();
    this.#old = new Map();
    this.#version++;
    return true;
  }

  /** Owner of an AOR (the caller passes the canonical AOR string); undefined on an empty ring. */
  ownerOf(aor: string): RingMember | undefined {
    const young = this.#young.get(aor);
    if (young !== undefined) return young;
    let owner = this.#old.get(aor);
    if (owner === undefined) {
      const ring = this.#ring;
      if (ring === undefined) return undefined;
      // range(key, 1) is hashring's public lookup without its object-keyed cache.
      const id = ring.range(aor, 1)[0];
      owner = id === undefined ? undefined : this.#byId.get(id);
      if (owner === undefined) return undefined;
    }
    if (this.#cacheSize > 0) {
      if (this.#young.size >= Math.max(1, this.#cacheSize >> 1)) {
        this.#old = this.#young;
        this.#young = new Map();
      }
      this.#young.set(aor, owner);
    }
    return owner;
  }
}

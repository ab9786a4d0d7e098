/**
 * Heartbeat membership (DESIGN §4): every process publishes a heartbeat each
 * `intervalMs`; every process that needs a view (edges for the worker ring,
 * workers for edge liveness) keeps the members heard from within `ttlMs`.
 * A graceful leave removes a member at once; a crash removes it after the TTL.
 *
 * Time comes from an injected clock and timers so tests are deterministic.
 */
import type { BusMessage, ClusterBus, Subscription } from "./bus.js";
import { heartbeatSubject, Subjects } from "./subjects.js";
import type { MemberHeartbeat, MemberLeave, MemberRole } from "./subjects.js";

export interface Timers {
  setInterval(cb: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

const defaultTimers: Timers = {
  setInterval: (cb, ms) => {
    const t = setInterval(cb, ms);
    // Membership bookkeeping alone must not keep a process alive.
    t.unref();
    return t;
  },
  clearInterval: (h) => clearInterval(h as ReturnType<typeof setInterval>),
};

export interface MembershipOptions {
  readonly role: MemberRole;
  /** A member not heard from for this long is gone. Default 3000 (3 missed 1 s beats). */
  readonly ttlMs?: number;
  readonly clock?: () => number;
  readonly timers?: Timers;
}

interface Entry {
  hb: MemberHeartbeat;
  lastHeard: number;
}

/** Structural check of an untrusted heartbeat payload. */
export function isMemberHeartbeat(v: unknown): v is MemberHeartbeat {
  if (typeof v !== "object" || v === null) return false;
  const o = v as Record<string, unknown>;
  return (
    typeof o.id === "string" &&
    o.id.length > 0 &&
    (o.role === "worker" || o.role === "edge") &&
    typeof o.sipAddress === "string" &&
    (o.httpAddress === undefined || typeof o.httpAddress === "string") &&
    typeof o.startedAt === "number" &&
    Number.isFinite(o.startedAt) &&
    typeof o.seq === "number" &&
    Number.isFinite(o.seq) &&
    (o.draining === undefined || typeof o.draining === "boolean")
  );
}

function sameView(a: MemberHeartbeat, b: MemberHeartbeat): boolean {
  return (
    a.sipAddress === b.sipAddress &&
    a.httpAddress === b.httpAddress &&
    a.startedAt === b.startedAt &&
    (a.draining ?? false) === (b.draining ?? false)
  );
}

/** Live members of one role, from heartbeats with a TTL; emits on every change. */
export class Membership {
  readonly #bus: ClusterBus;
  readonly #role: MemberRole;
  readonly #ttlMs: number;
  readonly #clock: () => number;
  readonly #timers: Timers;
  readonly #members = new Map<string, Entry>();
  readonly #listeners = new Set<(members: MemberHeartbeat[]) => void>();
  #subs: Subscription[] = [];
  #timer: unknown;
  #checkMs = 0;
  #lastTick = 0;
  #snapshot: MemberHeartbeat[] = [];

  constructor(bus: ClusterBus, opts: MembershipOptions) {
    this.#bus = bus;
    this.#role = opts.role;
    this.#ttlMs = opts.ttlMs ?? 3000;
    if (!(this.#ttlMs > 0)) throw new RangeError(`ttlMs must be > 0: ${this.#ttlMs}`);
    this.#clock = opts.clock ?? Date.now;
    this.#timers = opts.timers ?? defaultTimers;
  }

  start(): void {
    if (this.#subs.length > 0) return;
    this.#subs = [
      this.#bus.subscribe(heartbeatSubject(this.#role), (m) => this.#onHeartbeat(m)),
      this.#bus.subscribe(Subjects.memberLeave, (m) => this.#onLeave(m)),
    ];
    // Check often enough that a dead member is gone within ttl + ttl/4.
    this.#checkMs = Math.max(10, Math.floor(this.#ttlMs / 4));
    this.#lastTick = this.#clock();
    this.#timer = this.#timers.setInterval(() => this.#tick(), this.#checkMs);
  }

  stop(): void {
    for (const s of this.#subs) s.unsubscribe();
    this.#subs = [];
    if (this.#timer !== undefined) this.#timers.clearInterval(this.#timer);
    this.#timer = undefined;
    this.#members.clear();
    this.#snapshot = [];
  }

  /** Live members, sorted by id. */
  members(): MemberHeartbeat[] {
    return [...this.#snapshot];
  }

  /** `cb` runs once per change with the new member list. Returns an unsubscribe function. */
  onChange(cb: (members: MemberHeartbeat[]) => void): () => void {
    this.#listeners.add(cb);
    return () => {
      this.#listeners.delete(cb);
    };
  }

  /**
   * The timer's check. If this process itself was stalled (GC, a loaded CPU, a debugger), the
   * heartbeats that arrived meanwhile are still queued behind this timer callback: expiring now
   * would drop live members and re-add them a moment later, moving AORs twice. The stalled
   * time is not held against the members: their lastHeard moves forward by it.
   */
  #tick(): void {
    const now = this.#clock();
    const late = now - this.#lastTick - this.#checkMs;
    this.#lastTick = now;
    if (late > this.#checkMs) {
      for (const e of this.#members.values()) e.lastHeard += late;
      return;
    }
    this.expire();
  }

  /** Drops members not heard from within the TTL (also run by the timer). */
  expire(): void {
    const now = this.#clock();
    let changed = false;
    for (const [id, e] of this.#members) {
      if (now - e.lastHeard >= this.#ttlMs) {
        this.#members.delete(id);
        changed = true;
      }
    }
    if (changed) this.#emit();
  }

  #onHeartbeat(m: BusMessage): void {
    let hb: unknown;
    try {
      hb = m.json<unknown>();
    } catch {
      return; // not JSON: not ours to act on
    }
    if (!isMemberHeartbeat(hb) || hb.role !== this.#role) return;
    const now = this.#clock();
    const cur = this.#members.get(hb.id);
    if (cur !== undefined) {
      // A reordered older beat from the same process run changes nothing. A
      // different startedAt is a restart: take it whatever its seq.
      if (cur.hb.startedAt === hb.startedAt && hb.seq <= cur.hb.seq) return;
      const changed = !sameView(cur.hb, hb);
      cur.hb = copyHeartbeat(hb);
      cur.lastHeard = now;
      if (changed) this.#emit();
      return;
    }
    this.#members.set(hb.id, { hb: copyHeartbeat(hb), lastHeard: now });
    this.#emit();
  }

  #onLeave(m: BusMessage): void {
    let leave: Partial<MemberLeave>;
    try {
      leave = m.json<Partial<MemberLeave>>();
    } catch {
      return;
    }
    if (typeof leave !== "object" || leave === null || leave.role !== this.#role || typeof leave.id !== "string") return;
    if (this.#members.delete(leave.id)) this.#emit();
  }

  #emit(): void {
    this.#snapshot = [...this.#members.values()].map((e) => e.hb).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const cb of [...this.#listeners]) cb(this.members());
  }
}

function copyHeartbeat(hb: MemberHeartbeat): MemberHeartbeat {
  const out: MemberHeartbeat = { id: hb.id, role: hb.role, sipAddress: hb.sipAddress, startedAt: hb.startedAt, seq: hb.seq };
  if (hb.httpAddress !== undefined) out.httpAddress = hb.httpAddress;
  if (hb.draining !== undefined) out.draining = hb.draining;
  return Object.freeze(out);
}

/** Publishes this process's heartbeat every `intervalMs` (and at once on start and on drain changes). */
export class Heartbeater {
  readonly #bus: ClusterBus;
  readonly #self: Omit<MemberHeartbeat, "seq">;
  readonly #intervalMs: number;
  readonly #timers: Timers;
  #seq = 0;
  #draining: boolean;
  #timer: unknown;

  constructor(bus: ClusterBus, self: Omit<MemberHeartbeat, "seq">, intervalMs = 1000, opts: { timers?: Timers } = {}) {
    if (!(intervalMs > 0)) throw new RangeError(`intervalMs must be > 0: ${intervalMs}`);
    this.#bus = bus;
    this.#self = { ...self };
    this.#intervalMs = intervalMs;
    this.#timers = opts.timers ?? defaultTimers;
    this.#draining = self.draining ?? false;
  }

  get running(): boolean {
    return this.#timer !== undefined;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#beat();
    this.#timer = this.#timers.setInterval(() => this.#beat(), this.#intervalMs);
  }

  /** Stops beating; `graceful` also announces the leave so peers drop us at once. */
  stop(graceful: boolean): void {
    const wasRunning = this.#timer !== undefined;
    if (this.#timer !== undefined) this.#timers.clearInterval(this.#timer);
    this.#timer = undefined;
    if (graceful && wasRunning && this.#bus.connected) {
      const leave: MemberLeave = { id: this.#self.id, role: this.#self.role };
      this.#bus.publish(Subjects.memberLeave, leave);
    }
  }

  /** DESIGN §5: a draining worker leaves the ring first; tell peers now, not at the next beat. */
  setDraining(d: boolean): void {
    if (this.#draining === d) return;
    this.#draining = d;
    if (this.#timer !== undefined) this.#beat();
  }

  #beat(): void {
    if (!this.#bus.connected) return; // the NATS client reconnects; beats resume then
    this.#seq++;
    const hb: MemberHeartbeat = { ...this.#self, seq: this.#seq };
    if (this.#draining) hb.draining = true;
    else delete hb.draining;
    this.#bus.publish(heartbeatSubject(this.#self.role), hb);
  }
}

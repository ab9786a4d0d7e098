/**
 * DESIGN §3: "An edge that leaves the cluster (heartbeats stops) makes every binding whose
 * Path starts at it unreachable." Workers watch edge membership; when an edge they had seen
 * disappears (TTL lapse, or a leave: its flows are gone either way) ONE worker publishes
 * `edgeDown`, and every worker's handler marks the bindings behind it (idempotent in the
 * store, so a duplicate costs an index read, never a wrong state).
 *
 * Who publishes: the worker that owns the key `edge-down:<edge>` on the worker ring, so a
 * cluster of M workers sends one event, not M. The owner may itself have died in the same
 * moment (a node with an edge and a worker on it): every other worker re-checks after
 * `graceMs` and publishes if the edge is still gone, the owner it saw then is gone too, and
 * it now owns the key. An edge that comes back before that is not reported.
 *
 * The way back (`edgeUp`): an edge reported down (by anyone: every worker hears edgeDown)
 * that heartbeats again, or one whose heartbeat's `startedAt` changed without ever being
 * reported (a restart quicker than the member TTL), has a new process at that address. Its
 * UDP flows work again through it; its connection flows died with the old process. The same
 * owner rule picks one worker to publish it.
 */
import type { ClusterBus } from "./bus.js";
import type { Membership } from "./membership.js";
import { Subjects, type EdgeDown, type EdgeUp, type MemberHeartbeat } from "./subjects.js";

export interface EdgeDownTimers {
  setTimeout(cb: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface EdgeDownOptions {
  /** This worker's id. */
  readonly self: string;
  /** Owner worker id of a key on the current ring; undefined on an empty ring. */
  readonly ownerOf: (key: string) => string | undefined;
  /** Whether a worker id is on the current ring. */
  readonly isWorkerLive: (id: string) => boolean;
  /** Re-check delay when another worker owned the event; default 6000 ms (2 worker TTLs). */
  readonly graceMs?: number;
  readonly clock?: () => number;
  readonly timers?: EdgeDownTimers;
  /** Called after this worker published an edgeDown. */
  readonly onPublished?: (ev: EdgeDown) => void;
  /** Called after this worker published an edgeUp. */
  readonly onPublishedUp?: (ev: EdgeUp) => void;
}

/** Edges remembered (reported down, last startedAt); beyond it the oldest are forgotten. */
const MAX_REMEMBERED_EDGES = 4096;

const defaultTimers: EdgeDownTimers = {
  setTimeout: (cb, ms) => {
    const t = setTimeout(cb, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** The ring key whose owner reports an edge's departure. */
export function edgeDownKey(edge: string): string {
  return `edge-down:${edge}`;
}

export class EdgeDownPublisher {
  readonly #bus: ClusterBus;
  readonly #edges: Membership;
  readonly #o: EdgeDownOptions;
  readonly #timers: EdgeDownTimers;
  readonly #clock: () => number;
  /** sipAddress of every edge in the last view. */
  #known = new Set<string>();
  readonly #pending = new Map<string, unknown>();
  /** Edges reported down (edgeDown heard) and not back since. */
  readonly #down = new Set<string>();
  /** sipAddress -> startedAt of the process last seen there (kept after it leaves). */
  readonly #startedAt = new Map<string, number>();
  #unsubscribe: (() => void) | undefined;
  #unsubscribeDown: (() => void) | undefined;

  constructor(bus: ClusterBus, edges: Membership, opts: EdgeDownOptions) {
    this.#bus = bus;
    this.#edges = edges;
    this.#o = opts;
    this.#timers = opts.timers ?? defaultTimers;
    this.#clock = opts.clock ?? Date.now;
  }

  start(): void {
    if (this.#unsubscribe !== undefined) return;
    const members = this.#edges.members();
    this.#known = new Set(members.map((m) => m.sipAddress));
    for (const m of members) this.#startedAt.set(m.sipAddress, m.startedAt);
    this.#unsubscribe = this.#edges.onChange((members) => this.#onChange(members));
    const sub = this.#bus.subscribe(Subjects.edgeDown, (m) => {
      let ev: EdgeDown;
      try {
        ev = m.json<EdgeDown>();
      } catch {
        return;
      }
      if (typeof ev.edge === "string" && !this.#known.has(ev.edge)) remember(this.#down, ev.edge);
    });
    this.#unsubscribeDown = () => sub.unsubscribe();
  }

  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#unsubscribeDown?.();
    this.#unsubscribeDown = undefined;
    for (const h of this.#pending.values()) this.#timers.clearTimeout(h);
    this.#pending.clear();
  }

  #onChange(members: readonly MemberHeartbeat[]): void {
    const now = new Set(members.map((m) => m.sipAddress));
    for (const edge of now) {
      const h = this.#pending.get(edge);
      if (h !== undefined) {
        // Back before the grace ran out (e.g. a NATS blip): nothing to report.
        this.#timers.clearTimeout(h);
        this.#pending.delete(edge);
      }
    }
    for (const m of members) {
      const before = this.#startedAt.get(m.sipAddress);
      const restarted = before !== undefined && before !== m.startedAt;
      const back = this.#down.delete(m.sipAddress);
      if (before !== m.startedAt) {
        this.#startedAt.delete(m.sipAddress);
        remember(this.#startedAt, m.sipAddress, m.startedAt);
      }
      if ((restarted || back) && this.#o.ownerOf(edgeDownKey(m.sipAddress)) === this.#o.self) this.#publishUp(m.sipAddress, m.startedAt);
    }
    for (const edge of this.#known) if (!now.has(edge)) this.#gone(edge);
    this.#known = now;
  }

  #gone(edge: string): void {
    const key = edgeDownKey(edge);
    const owner = this.#o.ownerOf(key);
    if (owner === this.#o.self) {
      this.#publish(edge);
      return;
    }
    if (this.#pending.has(edge)) return;
    const handle = this.#timers.setTimeout(() => {
      this.#pending.delete(edge);
      if (this.#known.has(edge)) return;
      const stillOwnerLive = owner !== undefined && this.#o.isWorkerLive(owner);
      if (!stillOwnerLive && this.#o.ownerOf(key) === this.#o.self) this.#publish(edge);
    }, this.#o.graceMs ?? 6000);
    this.#pending.set(edge, handle);
  }

  #publish(edge: string): void {
    if (!this.#bus.connected) return;
    const ev: EdgeDown = { edge, at: this.#clock() };
    remember(this.#down, edge); // also heard back through the subscription, maybe before #known moves on
    this.#bus.publish(Subjects.edgeDown, ev);
    this.#o.onPublished?.(ev);
  }

  #publishUp(edge: string, startedAt: number): void {
    if (!this.#bus.connected) return;
    const ev: EdgeUp = { edge, startedAt, at: this.#clock() };
    this.#bus.publish(Subjects.edgeUp, ev);
    this.#o.onPublishedUp?.(ev);
  }
}

/** Adds to a bounded Set or Map (insertion order: the oldest entry goes first). */
function remember(into: Set<string>, key: string): void;
function remember(into: Map<string, number>, key: string, value: number): void;
function remember(into: Set<string> | Map<string, number>, key: string, value?: number): void {
  if (into.size >= MAX_REMEMBERED_EDGES && !into.has(key)) {
    const oldest = into.keys().next();
    if (oldest.done !== true) into.delete(oldest.value);
  }
  if (into instanceof Map) into.set(key, value ?? 0);
  else into.add(key);
}

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
 */
import type { ClusterBus } from "./bus.js";
import type { Membership } from "./membership.js";
import { Subjects, type EdgeDown, type MemberHeartbeat } from "./subjects.js";

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
}

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
  #unsubscribe: (() => void) | undefined;

  constructor(bus: ClusterBus, edges: Membership, opts: EdgeDownOptions) {
    this.#bus = bus;
    this.#edges = edges;
    this.#o = opts;
    this.#timers = opts.timers ?? defaultTimers;
    this.#clock = opts.clock ?? Date.now;
  }

  start(): void {
    if (this.#unsubscribe !== undefined) return;
    this.#known = new Set(this.#edges.members().map((m) => m.sipAddress));
    this.#unsubscribe = this.#edges.onChange((members) => this.#onChange(members));
  }

  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
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
    this.#bus.publish(Subjects.edgeDown, ev);
    this.#o.onPublished?.(ev);
  }
}

/**
 * The location service's data model (RFC 3261 §10, RFC 3327 §5.3, RFC 5626 §6)
 * and the `BindingStore` contract every store (memory, Redis) implements.
 *
 * A binding says where a UA meant to be reached, not that it still can be
 * (DESIGN §3): `reachable` / `reason` / `lastSeen` are kept apart from expiry.
 */

export interface Binding {
  /** Canonical AOR, "sip:alice@example.com". */
  readonly aor: string;
  /** Contact URI as registered (no <>, no header params). */
  readonly contact: string;
  /**
   * Identity of the binding within the AOR, computed by the caller:
   * `${instance};reg-id=${regId}` with +sip.instance and reg-id (RFC 5626 §6),
   * `inst:${instance}` with +sip.instance only, else the Contact URI compared per
   * RFC 3261 §19.1.4. The store never derives it.
   */
  readonly key: string;
  /** +sip.instance (RFC 5626 §4.1). */
  readonly instance?: string;
  /** reg-id (RFC 5626 §4.2). */
  readonly regId?: number;
  /** 0..1, default 1 (RFC 3261 §20.10). */
  readonly q: number;
  /** Path header values as received, top first, each a name-addr (RFC 3327 §5.3). */
  readonly path: readonly string[];
  readonly callId: string;
  readonly cseq: number;
  /** Epoch ms. */
  readonly expiresAt: number;
  /** Epoch ms of the first registration of this key. */
  readonly registeredAt: number;
  /** Epoch ms of the last refresh. */
  readonly updatedAt: number;
  /** host:port of the edge from the top Path URI (who holds the flow). */
  readonly edge?: string;
  /** User part of the top Path URI (our flow token), when present. */
  readonly flowToken?: string;
  /** Transport the UA used at the edge (from the flow token): "udp" | "tcp" | ... */
  readonly transport?: string;
  /** ip:port the edge saw the UA at. */
  readonly source?: string;
  readonly userAgent?: string;
  /** Registered is not reachable (DESIGN §3). */
  readonly reachable: boolean;
  /** Why unreachable: "flow-failed", "edge-down", "ping-timeout", ... */
  readonly reason?: string;
  /** Epoch ms the flow/UA was last known alive. */
  readonly lastSeen: number;
}

/** What a REGISTER asks for one Contact; the store fills in the rest. */
export interface ContactChange {
  readonly key: string;
  /** Seconds; 0 removes the binding (RFC 3261 §10.2.2). */
  readonly expires: number;
  readonly binding: Omit<
    Binding,
    "aor" | "key" | "callId" | "cseq" | "expiresAt" | "registeredAt" | "updatedAt" | "reachable" | "reason" | "lastSeen"
  >;
}

export interface RegisterOp {
  readonly aor: string;
  readonly callId: string;
  readonly cseq: number;
  /** Epoch ms. */
  readonly now: number;
  /** Contact: * with Expires: 0 (RFC 3261 §10.3 step 6). `changes` are ignored when set. */
  readonly removeAll: boolean;
  /** Empty and !removeAll = a fetch (query bindings, RFC 3261 §10.2.3). */
  readonly changes: readonly ContactChange[];
  /** Limit of bindings per AOR after the change. */
  readonly maxContacts: number;
}

export type RegisterRejection =
  /** RFC 3261 §10.3 step 7: same Call-ID, CSeq not higher. */
  | { readonly ok: false; readonly code: "out-of-order"; readonly status: 500; readonly reason: string }
  | { readonly ok: false; readonly code: "too-many-contacts"; readonly status: 403; readonly reason: string }
  /** Backend down. */
  | { readonly ok: false; readonly code: "unavailable"; readonly status: 503; readonly reason: string; readonly retryAfter: number };

export type RegisterResult =
  /**
   * `bindings`: current unexpired bindings after the op, in `compareBindings` order.
   * `changed`: the op wrote anything (a refresh that only moves expiry counts).
   * `routingChanged`: a lookup would now route differently — a binding added or removed, or
   * one whose contact, q, Path, instance, reg-id, edge, flow, transport, source or User-Agent
   * changed, or that was unreachable and is reachable again. A pure refresh (same values,
   * later expiry, new CSeq/Call-ID) is not: caches that re-check expiry on read stay correct
   * without hearing about it, so nobody needs to be told (no cluster event per refresh).
   */
  | { readonly ok: true; readonly bindings: Binding[]; readonly changed: boolean; readonly routingChanged: boolean }
  | RegisterRejection;

export interface FlowRef {
  readonly flowToken: string;
}

export type UnreachableSelector = { readonly flowToken: string } | { readonly edge: string };

/**
 * Rules every implementation follows (the contract suite in
 * `@edgepath/bindings/testing` checks each):
 *
 * - Ordering (RFC 3261 §10.3 step 7), per stored binding an op touches (for
 *   removeAll, every stored binding): same Call-ID and stored CSeq >= op CSeq
 *   rejects the WHOLE op with nothing written. A different Call-ID always wins.
 * - RFC 5626 §6: a change replaces the stored binding with the same `key`
 *   (instance + reg-id); a re-registration makes a binding reachable again and
 *   keeps its `registeredAt`.
 * - Atomic: all of an op's changes happen or none do.
 * - Expired bindings (expiresAt <= now) are gone: never returned, never block
 *   ordering, don't count toward maxContacts.
 * - maxContacts: rejected with 403 when the op would leave more than
 *   `maxContacts` bindings AND more than the AOR had before the op (an AOR
 *   already over a lowered limit can still refresh and shrink).
 * - Results are sorted by `compareBindings` (q descending, then most recently
 *   updated, then key).
 * - An AOR is "known" while it has unexpired bindings and for `knownForMs`
 *   (default 24 h) after its last binding went away (removed or expired).
 * - markUnreachable returns the AORs where at least one unexpired, reachable
 *   binding was flipped; already-unreachable bindings keep their first reason.
 */
/** `reason` of bindings behind an edge that left the cluster (DESIGN §3). */
export const EDGE_DOWN_REASON = "edge-down";
/** `reason` of connection flows lost when their edge process restarted. */
export const EDGE_RESTARTED_REASON = "edge-restarted";

export interface BindingStore {
  register(op: RegisterOp): Promise<RegisterResult>;
  /** Unexpired bindings only; `known` lets the proxy answer 480 vs 404. */
  lookup(aor: string, now: number): Promise<{ known: boolean; bindings: Binding[] }>;
  /** Marks matching bindings unreachable; returns affected AORs. Index based, never a scan. */
  markUnreachable(sel: UnreachableSelector, reason: string, now: number): Promise<string[]>;
  markReachable(aor: string, key: string, now: number): Promise<void>;
  /**
   * An edge process (re)started at `edge` at `startedAt` (DESIGN §3), via the edge index:
   * - its connection flows (transport tcp/tls/ws/wss) of bindings last refreshed before
   *   `startedAt` died with the old process: reachable ones become unreachable with
   *   EDGE_RESTARTED_REASON (a UA that already re-registered through the new process is
   *   newer than `startedAt` and is left alone);
   * - its UDP bindings marked EDGE_DOWN_REASON work again: a UDP flow is the UA's address,
   *   reached through the same edge address as before, so they become reachable (lastSeen
   *   unchanged: this is not word from the UA).
   * Returns the AORs where any binding changed.
   */
  edgeRestarted(edge: string, startedAt: number, now: number): Promise<string[]>;
  /** Background expiry; returns bindings removed. */
  sweepExpired(now: number, limit?: number): Promise<number>;
  /** Admin only. */
  listAors?(limit: number): Promise<string[]>;
  close(): Promise<void>;
}

export interface BindingStoreOptions {
  /** How long an AOR stays "known" after its last binding went away. Default 24 h. */
  readonly knownForMs?: number;
}

export const DEFAULT_KNOWN_FOR_MS = 24 * 60 * 60 * 1000;

/** Programming errors and lifecycle misuse (never used for SIP-level rejections). */
export class BindingStoreError extends Error {
  override readonly name = "BindingStoreError";
  readonly code: "closed" | "invalid-op";
  readonly sipStatus = 500;
  constructor(code: BindingStoreError["code"], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

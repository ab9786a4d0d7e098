/**
 * The registrar's binding update as a pure function (RFC 3261 §10.3 steps 6-8,
 * RFC 5626 §6): stored bindings + a RegisterOp in, the resulting binding set or
 * a rejection out. Stores do the I/O around it; the memory store uses it
 * directly, and a store that reads-then-writes optimistically (WATCH/MULTI) can
 * too, so both enforce the same rules.
 */
import { BindingStoreError, EDGE_DOWN_REASON } from "./types.js";
import type { Binding, ContactChange, RegisterOp, RegisterRejection } from "./types.js";

export type RegisterPlan =
  | {
      readonly ok: true;
      /** Unexpired bindings after the op, keyed by `key` (what the store must hold). */
      readonly next: ReadonlyMap<string, Binding>;
      /** Same as `next`, sorted by `compareBindings` (the op's result). */
      readonly bindings: Binding[];
      /** New or replaced bindings to write. */
      readonly written: Binding[];
      /** Keys of unexpired bindings the op removed. */
      readonly removedKeys: string[];
      /** Keys of stored bindings that had already expired (to purge). */
      readonly expiredKeys: string[];
      /** Whether the op wrote anything (a fetch or a no-op removal did not). */
      readonly changed: boolean;
      /** Whether a lookup would route differently (see `RegisterResult`). */
      readonly routingChanged: boolean;
    }
  | RegisterRejection;

/** q descending, then most recently updated first, then key (stable across stores). */
export function compareBindings(a: Binding, b: Binding): number {
  if (a.q !== b.q) return b.q - a.q;
  if (a.updatedAt !== b.updatedAt) return b.updatedAt - a.updatedAt;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/** Live (expiresAt > now) bindings, sorted. */
export function liveBindings(stored: Iterable<Binding>, now: number): Binding[] {
  const out: Binding[] = [];
  for (const b of stored) if (b.expiresAt > now) out.push(b);
  return out.sort(compareBindings);
}

const MAX_CSEQ = 2 ** 31 - 1; // RFC 3261 §8.1.1.5: CSeq sequence number < 2^31

/** Throws BindingStoreError("invalid-op") for an op no registrar should build. */
export function validateRegisterOp(op: RegisterOp): void {
  const bad = (why: string): never => {
    throw new BindingStoreError("invalid-op", `invalid register op for ${op.aor}: ${why}`);
  };
  if (typeof op.aor !== "string" || op.aor.length === 0) bad("empty aor");
  if (typeof op.callId !== "string" || op.callId.length === 0) bad("empty Call-ID");
  if (!Number.isInteger(op.cseq) || op.cseq < 0 || op.cseq > MAX_CSEQ) bad(`CSeq ${op.cseq}`);
  if (!Number.isFinite(op.now)) bad(`now ${op.now}`);
  if (!Number.isInteger(op.maxContacts) || op.maxContacts < 1) bad(`maxContacts ${op.maxContacts}`);
  for (const c of op.changes) {
    if (typeof c.key !== "string" || c.key.length === 0) bad("empty binding key");
    if (!Number.isInteger(c.expires) || c.expires < 0 || c.expires > MAX_CSEQ) bad(`expires ${c.expires} for ${c.key}`);
    const b = c.binding;
    if (typeof b.contact !== "string" || b.contact.length === 0) bad(`empty contact for ${c.key}`);
    if (!(b.q >= 0 && b.q <= 1)) bad(`q ${b.q} for ${c.key}`);
    if (b.regId !== undefined && (!Number.isInteger(b.regId) || b.regId < 0)) bad(`reg-id ${b.regId} for ${c.key}`);
    if (!Array.isArray(b.path)) bad(`path for ${c.key}`);
  }
}

function outOfOrder(op: RegisterOp, stored: Binding): RegisterRejection {
  return {
    ok: false,
    code: "out-of-order",
    status: 500,
    reason: `CSeq ${op.cseq} not higher than ${stored.cseq} for Call-ID ${op.callId} (binding ${stored.key})`,
  };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** The stored form of one change (frozen). */
export function bindingFromChange(op: RegisterOp, c: ContactChange, prev: Binding | undefined): Binding {
  const src = c.binding;
  const b: Mutable<Binding> = {
    aor: op.aor,
    contact: src.contact,
    key: c.key,
    q: src.q,
    path: Object.freeze([...src.path]),
    callId: op.callId,
    cseq: op.cseq,
    expiresAt: op.now + c.expires * 1000,
    // RFC 5626 §6: a replaced binding is the same registration refreshed.
    registeredAt: prev?.registeredAt ?? op.now,
    updatedAt: op.now,
    // A (re-)registration is proof of life over that flow (DESIGN §3).
    reachable: true,
    lastSeen: op.now,
  };
  if (src.instance !== undefined) b.instance = src.instance;
  if (src.regId !== undefined) b.regId = src.regId;
  if (src.edge !== undefined) b.edge = src.edge;
  if (src.flowToken !== undefined) b.flowToken = src.flowToken;
  if (src.transport !== undefined) b.transport = src.transport;
  if (src.source !== undefined) b.source = src.source;
  if (src.userAgent !== undefined) b.userAgent = src.userAgent;
  return Object.freeze(b);
}

/**
 * Decides a REGISTER against the stored bindings of its AOR. Pure: the inputs are
 * not modified. See `BindingStore` for the rules.
 */
export function planRegister(stored: Iterable<Binding>, op: RegisterOp): RegisterPlan {
  const now = op.now;
  const live = new Map<string, Binding>();
  const expiredKeys: string[] = [];
  for (const b of stored) {
    if (b.expiresAt > now) live.set(b.key, b);
    else expiredKeys.push(b.key);
  }

  if (op.removeAll) {
    // RFC 3261 §10.3 step 6: "*" removes every binding, subject to the step 7
    // Call-ID/CSeq check against each of them.
    for (const b of live.values()) if (b.callId === op.callId && b.cseq >= op.cseq) return outOfOrder(op, b);
    const removedKeys = [...live.keys()];
    return { ok: true, next: new Map(), bindings: [], written: [], removedKeys, expiredKeys, changed: removedKeys.length > 0, routingChanged: removedKeys.length > 0 };
  }

  // RFC 3261 §10.3 step 7: for each existing binding touched, same Call-ID needs a
  // higher CSeq, else the request is rejected; nothing is applied.
  // One exception, for a stateless edge in front of a pool: a REGISTER whose every change
  // finds its binding already written by this very Call-ID and CSeq is a retransmission of
  // a request that was applied — it reached another worker because the ring changed while
  // the UA retransmitted (Timer E). Within one worker the server transaction absorbs it
  // (§17.2.3); across workers the store does: nothing is written, the current bindings are
  // the answer, as the first 200 said. A UA may not reuse a CSeq for a different request
  // (§8.1.1.5), so nothing a UA legitimately sends is lost by this.
  let duplicate: Binding | undefined;
  let fresh = false;
  for (const c of op.changes) {
    const b = live.get(c.key);
    if (b !== undefined && b.callId === op.callId) {
      if (b.cseq > op.cseq) return outOfOrder(op, b);
      if (b.cseq === op.cseq) duplicate = b;
      else fresh = true;
    } else if (b !== undefined || c.expires !== 0) {
      fresh = true;
    }
  }
  if (duplicate !== undefined) {
    if (fresh) return outOfOrder(op, duplicate);
    const bindings = [...live.values()].sort(compareBindings);
    return { ok: true, next: live, bindings, written: [], removedKeys: [], expiredKeys, changed: false, routingChanged: false };
  }

  if (op.changes.length === 0) {
    const bindings = [...live.values()].sort(compareBindings);
    return { ok: true, next: live, bindings, written: [], removedKeys: [], expiredKeys, changed: false, routingChanged: false };
  }

  const next = new Map(live);
  for (const c of op.changes) {
    if (c.expires === 0) next.delete(c.key);
    else next.set(c.key, bindingFromChange(op, c, live.get(c.key)));
  }

  if (next.size > op.maxContacts && next.size > live.size) {
    return {
      ok: false,
      code: "too-many-contacts",
      status: 403,
      reason: `${next.size} bindings for ${op.aor} exceed the limit of ${op.maxContacts}`,
    };
  }

  const written: Binding[] = [];
  for (const [key, b] of next) if (live.get(key) !== b) written.push(b);
  const removedKeys: string[] = [];
  for (const key of live.keys()) if (!next.has(key)) removedKeys.push(key);
  const bindings = [...next.values()].sort(compareBindings);
  const routingChanged = removedKeys.length > 0 || written.some((b) => !isPureRefresh(live.get(b.key), b));
  return { ok: true, next, bindings, written, removedKeys, expiredKeys, changed: written.length > 0 || removedKeys.length > 0, routingChanged };
}

/**
 * Whether `next` only refreshes `prev`: same routing values (everything a lookup or the
 * location proxy uses), `prev` reachable — only expiry, CSeq, Call-ID and times moved.
 * The Redis store makes the same decision in Lua by comparing the stored JSON up to its
 * volatile tail; the contract suite checks both agree.
 */
export function isPureRefresh(prev: Binding | undefined, next: Binding): boolean {
  if (prev === undefined || !prev.reachable) return false;
  if (prev.path.length !== next.path.length) return false;
  for (let i = 0; i < prev.path.length; i++) if (prev.path[i] !== next.path[i]) return false;
  return (
    prev.contact === next.contact &&
    prev.q === next.q &&
    prev.instance === next.instance &&
    prev.regId === next.regId &&
    prev.edge === next.edge &&
    prev.flowToken === next.flowToken &&
    prev.transport === next.transport &&
    prev.source === next.source &&
    prev.userAgent === next.userAgent
  );
}

/**
 * What `BindingStore.edgeRestarted` does to one binding (the memory store applies it; the
 * Redis store's EDGE_RESTARTED_LUA is the same rule): "unreachable", "reachable" or undefined
 * for no change.
 */
export function edgeRestartChange(b: Binding, edge: string, startedAt: number, now: number): "unreachable" | "reachable" | undefined {
  if (b.edge !== edge || b.expiresAt <= now || b.transport === undefined) return undefined;
  if (b.transport === "udp") return !b.reachable && b.reason === EDGE_DOWN_REASON ? "reachable" : undefined;
  return b.reachable && b.updatedAt < startedAt ? "unreachable" : undefined;
}

/**
 * In-memory BindingStore for the embedded (all-in-one) mode and for tests.
 *
 * Costs: register/lookup/markReachable are O(k) in the AOR's bindings;
 * markUnreachable is O(AORs on that flow/edge x k) through the flowToken->AORs and
 * edge->AORs indexes (never a scan of all AORs); sweepExpired pops a min-heap of
 * expiry times, O(log n) per removed binding. Each op runs synchronously inside
 * its promise, so ops are atomic and serialised like a Redis script.
 */
import { edgeRestartChange, liveBindings, planRegister, validateRegisterOp } from "./plan.js";
import { BindingStoreError, DEFAULT_KNOWN_FOR_MS, EDGE_RESTARTED_REASON } from "./types.js";
import type { Binding, BindingStore, BindingStoreOptions, RegisterOp, RegisterResult, UnreachableSelector } from "./types.js";

interface AorState {
  /** Stored bindings by key (expired ones stay until purged by register/sweep). */
  bindings: Map<string, Binding>;
  /** Flow tokens / edges of the stored bindings (what the indexes hold for this AOR). */
  flowTokens: Set<string>;
  edges: Set<string>;
  /** Epoch ms the AOR last lost a binding (removed, or expired at its expiresAt). */
  emptySince: number;
}

interface HeapEntry {
  readonly at: number;
  readonly aor: string;
  /** A binding to expire; undefined = check whether the AOR's "known" window ended. */
  readonly key: string | undefined;
}

/** Binary min-heap on `at`. Entries are validated lazily when popped. */
class ExpiryHeap {
  readonly #a: HeapEntry[] = [];
  get size(): number {
    return this.#a.length;
  }
  peek(): HeapEntry | undefined {
    return this.#a[0];
  }
  push(e: HeapEntry): void {
    const a = this.#a;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]!.at <= e.at) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = e;
  }
  pop(): HeapEntry | undefined {
    const a = this.#a;
    const top = a[0];
    const last = a.pop();
    if (top === undefined || last === undefined || a.length === 0) return top;
    let i = 0;
    const n = a.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && a[r]!.at < a[l]!.at ? r : l;
      if (a[c]!.at >= last.at) break;
      a[i] = a[c]!;
      i = c;
    }
    a[i] = last;
    return top;
  }
  clear(): void {
    this.#a.length = 0;
  }
}

export class MemoryBindingStore implements BindingStore {
  readonly #knownForMs: number;
  readonly #aors = new Map<string, AorState>();
  readonly #byFlow = new Map<string, Set<string>>();
  readonly #byEdge = new Map<string, Set<string>>();
  readonly #heap = new ExpiryHeap();
  #closed = false;

  constructor(opts: BindingStoreOptions = {}) {
    const k = opts.knownForMs ?? DEFAULT_KNOWN_FOR_MS;
    if (!(k >= 0)) throw new BindingStoreError("invalid-op", `knownForMs must be >= 0: ${k}`);
    this.#knownForMs = k;
  }

  register(op: RegisterOp): Promise<RegisterResult> {
    try {
      return Promise.resolve(this.#register(op));
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  #register(op: RegisterOp): RegisterResult {
    this.#checkOpen();
    validateRegisterOp(op);
    const state = this.#aors.get(op.aor);
    const plan = planRegister(state === undefined ? [] : state.bindings.values(), op);
    if (!plan.ok) return plan;
    if (state === undefined && plan.next.size === 0) {
      // A fetch or a removal for an AOR with nothing stored: nothing to create.
      return { ok: true, bindings: plan.bindings, changed: false, routingChanged: false };
    }
    const st = state ?? this.#newState(op.aor);
    for (const key of plan.expiredKeys) {
      const b = st.bindings.get(key);
      if (b !== undefined) st.emptySince = Math.max(st.emptySince, b.expiresAt);
    }
    if (plan.removedKeys.length > 0) st.emptySince = Math.max(st.emptySince, op.now);
    const hadBindings = st.bindings.size > 0;
    st.bindings = new Map(plan.next);
    for (const b of plan.written) this.#heap.push({ at: b.expiresAt, aor: op.aor, key: b.key });
    this.#reindex(op.aor, st);
    if (st.bindings.size === 0 && hadBindings) this.#scheduleForget(op.aor, st);
    return { ok: true, bindings: plan.bindings, changed: plan.changed, routingChanged: plan.routingChanged };
  }

  lookup(aor: string, now: number): Promise<{ known: boolean; bindings: Binding[] }> {
    try {
      this.#checkOpen();
      const st = this.#aors.get(aor);
      if (st === undefined) return Promise.resolve({ known: false, bindings: [] });
      const bindings = liveBindings(st.bindings.values(), now);
      return Promise.resolve({ known: bindings.length > 0 || this.#knownAt(st, now), bindings });
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  markUnreachable(sel: UnreachableSelector, reason: string, now: number): Promise<string[]> {
    try {
      this.#checkOpen();
      const byFlow = "flowToken" in sel;
      const value = byFlow ? sel.flowToken : sel.edge;
      const aors = (byFlow ? this.#byFlow : this.#byEdge).get(value);
      const affected: string[] = [];
      if (aors === undefined) return Promise.resolve(affected);
      for (const aor of aors) {
        const st = this.#aors.get(aor);
        if (st === undefined) continue;
        let hit = false;
        for (const [key, b] of st.bindings) {
          if (b.expiresAt <= now || !b.reachable) continue;
          if ((byFlow ? b.flowToken : b.edge) !== value) continue;
          st.bindings.set(key, Object.freeze({ ...b, reachable: false, reason }));
          hit = true;
        }
        if (hit) affected.push(aor);
      }
      return Promise.resolve(affected);
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  markReachable(aor: string, key: string, now: number): Promise<void> {
    try {
      this.#checkOpen();
      const b = this.#aors.get(aor)?.bindings.get(key);
      if (b !== undefined && b.expiresAt > now) {
        const { reason: _reason, ...rest } = b;
        this.#aors.get(aor)!.bindings.set(key, Object.freeze({ ...rest, reachable: true, lastSeen: Math.max(b.lastSeen, now) }));
      }
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  edgeRestarted(edge: string, startedAt: number, now: number): Promise<string[]> {
    try {
      this.#checkOpen();
      const affected: string[] = [];
      for (const aor of this.#byEdge.get(edge) ?? []) {
        const st = this.#aors.get(aor);
        if (st === undefined) continue;
        let hit = false;
        for (const [key, b] of st.bindings) {
          const change = edgeRestartChange(b, edge, startedAt, now);
          if (change === "unreachable") {
            st.bindings.set(key, Object.freeze({ ...b, reachable: false, reason: EDGE_RESTARTED_REASON }));
            hit = true;
          } else if (change === "reachable") {
            const { reason: _reason, ...rest } = b;
            st.bindings.set(key, Object.freeze({ ...rest, reachable: true }));
            hit = true;
          }
        }
        if (hit) affected.push(aor);
      }
      return Promise.resolve(affected.sort());
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  sweepExpired(now: number, limit = Number.POSITIVE_INFINITY): Promise<number> {
    try {
      this.#checkOpen();
      let removed = 0;
      const touched = new Set<string>();
      while (removed < limit) {
        const top = this.#heap.peek();
        if (top === undefined || top.at > now) break;
        this.#heap.pop();
        const st = this.#aors.get(top.aor);
        if (st === undefined) continue;
        if (top.key === undefined) {
          if (st.bindings.size === 0 && !this.#knownAt(st, now)) this.#aors.delete(top.aor);
          continue;
        }
        const b = st.bindings.get(top.key);
        // Stale entry: the binding was refreshed (new expiresAt) or removed since.
        if (b === undefined || b.expiresAt !== top.at) continue;
        st.bindings.delete(top.key);
        st.emptySince = Math.max(st.emptySince, b.expiresAt);
        removed++;
        touched.add(top.aor);
      }
      for (const aor of touched) {
        const st = this.#aors.get(aor)!;
        this.#reindex(aor, st);
        if (st.bindings.size === 0) this.#scheduleForget(aor, st);
      }
      return Promise.resolve(removed);
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  listAors(limit: number): Promise<string[]> {
    try {
      this.#checkOpen();
      const out: string[] = [];
      for (const [aor, st] of this.#aors) {
        if (out.length >= limit) break;
        if (st.bindings.size > 0) out.push(aor);
      }
      return Promise.resolve(out.sort());
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#aors.clear();
    this.#byFlow.clear();
    this.#byEdge.clear();
    this.#heap.clear();
    return Promise.resolve();
  }

  #checkOpen(): void {
    if (this.#closed) throw new BindingStoreError("closed", "binding store is closed");
  }

  #newState(aor: string): AorState {
    const st: AorState = { bindings: new Map(), flowTokens: new Set(), edges: new Set(), emptySince: Number.NEGATIVE_INFINITY };
    this.#aors.set(aor, st);
    return st;
  }

  #knownAt(st: AorState, now: number): boolean {
    // Expired-but-unswept bindings count as having ended at their expiresAt.
    let since = st.emptySince;
    for (const b of st.bindings.values()) if (b.expiresAt > since) since = b.expiresAt;
    return now < since + this.#knownForMs;
  }

  /** The AOR stays as a tombstone (for `known`) until knownForMs after it emptied. */
  #scheduleForget(aor: string, st: AorState): void {
    this.#heap.push({ at: st.emptySince + this.#knownForMs, aor, key: undefined });
  }

  /** Brings the flowToken/edge indexes in line with the AOR's stored bindings. O(k). */
  #reindex(aor: string, st: AorState): void {
    const flows = new Set<string>();
    const edges = new Set<string>();
    for (const b of st.bindings.values()) {
      if (b.flowToken !== undefined) flows.add(b.flowToken);
      if (b.edge !== undefined) edges.add(b.edge);
    }
    syncIndex(this.#byFlow, aor, st.flowTokens, flows);
    syncIndex(this.#byEdge, aor, st.edges, edges);
    st.flowTokens = flows;
    st.edges = edges;
  }
}

function syncIndex(index: Map<string, Set<string>>, aor: string, before: ReadonlySet<string>, after: ReadonlySet<string>): void {
  for (const v of before) {
    if (after.has(v)) continue;
    const s = index.get(v);
    if (s === undefined) continue;
    s.delete(aor);
    if (s.size === 0) index.delete(v);
  }
  for (const v of after) {
    if (before.has(v)) continue;
    let s = index.get(v);
    if (s === undefined) index.set(v, (s = new Set()));
    s.add(aor);
  }
}


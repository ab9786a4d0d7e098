/**
 * Prometheus metrics (prom-client) of one process, every name prefixed `edgepath_` (DESIGN §5).
 *
 * Hot paths never format labels: the edge counts in plain maps (EdgeCounters) and the registrar
 * in plain stats objects; this module turns them into Prometheus counters at scrape time by adding
 * the delta since the previous scrape, so a scrape costs O(label sets) and a SIP message one Map
 * update. What only this module can see (store latency, store errors) it measures by wrapping the
 * interface the services already take (CONVENTIONS §2), never by reaching into them.
 *
 * Every series carries the default labels `role` (all | edge | registrar) and `node`.
 *
 * | metric                                        | type      | labels                    |
 * |-----------------------------------------------|-----------|---------------------------|
 * | edgepath_sip_requests_total                   | counter   | method                    |
 * | edgepath_sip_forwarded_total                  | counter   | method                    |
 * | edgepath_sip_responses_total                  | counter   | class (1xx..6xx)          |
 * | edgepath_sip_rejections_total                 | counter   | status, reason            |
 * | edgepath_sip_drops_total                      | counter   | reason                    |
 * | edgepath_flows                                | gauge     | transport                 |
 * | edgepath_ring_members                         | gauge     |                           |
 * | edgepath_registrar_responses_total            | counter   | method, class             |
 * | edgepath_registrar_rejections_total           | counter   | step                      |
 * | edgepath_sip_transaction_duration_seconds     | histogram | method, class             |
 * | edgepath_proxy_requests_total                 | counter   |                           |
 * | edgepath_proxy_rejections_total               | counter   |                           |
 * | edgepath_proxy_branches_total                 | counter   |                           |
 * | edgepath_transactions_open                    | gauge     |                           |
 * | edgepath_store_operation_duration_seconds     | histogram | backend, op, result       |
 * | edgepath_store_errors_total                   | counter   | backend, op               |
 * | edgepath_nats_errors_total                    | counter   |                           |
 * | edgepath_redis_dataset_lost_total             | counter   |                           |
 * | edgepath_bindings_active / _reachable         | gauge     |                           |
 * | edgepath_aors_registered                      | gauge     |                           |
 * | edgepath_bindings_census_truncated            | gauge     |                           |
 * | edgepath_ready / edgepath_ready_check         | gauge     | check                     |
 * | edgepath_draining                             | gauge     |                           |
 * | edgepath_process_* / edgepath_nodejs_*        | (prom-client default metrics)         |
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { EdgeCounters } from "@edgepath/edge";
import type { BindingStore, RegisterResult } from "@edgepath/bindings";
import type { Readiness } from "./admin-http.js";

/**
 * One registry per process. The default process/runtime metrics get the bare `edgepath_` prefix:
 * prom-client's own names already start with `process_` / `nodejs_`, so a prefix of
 * `edgepath_process_` produced `edgepath_process_process_cpu_seconds_total`.
 */
export function createRegistry(role: string, nodeId: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ role, node: nodeId });
  collectDefaultMetrics({ register: registry, prefix: "edgepath_" });
  return registry;
}

type CounterSource = () => Iterable<readonly [string, number]>;

/** A counter whose value is read from a monotonic source of (key, count) at scrape time. */
function mirroredCounter(
  registry: Registry,
  name: string,
  help: string,
  labels: string[],
  source: CounterSource,
  split: (key: string) => Record<string, string>,
): void {
  const seen = new Map<string, number>();
  const counter: Counter<string> = new Counter({
    name,
    help,
    labelNames: labels,
    registers: [registry],
    collect() {
      for (const [key, value] of source()) {
        const delta = value - (seen.get(key) ?? 0);
        if (delta > 0) counter.inc(split(key), delta);
        seen.set(key, value);
      }
    },
  });
}

export function registerEdgeMetrics(
  registry: Registry,
  counters: EdgeCounters,
  gauges: { ringMembers(): number; flowsByTransport(): Record<string, number> },
): void {
  mirroredCounter(registry, "edgepath_sip_requests_total", "SIP requests received by the edge, by method.", ["method"], () => counters.requests, (k) => ({ method: k }));
  mirroredCounter(registry, "edgepath_sip_forwarded_total", "SIP requests forwarded by the edge, by method.", ["method"], () => counters.forwards, (k) => ({ method: k }));
  mirroredCounter(registry, "edgepath_sip_responses_total", "SIP responses relayed by the edge, by status class.", ["class"], () => counters.responses, (k) => ({ class: k }));
  mirroredCounter(registry, "edgepath_sip_rejections_total", "Requests answered with an error by the edge itself, by status and reason.", ["status", "reason"], () => counters.rejections, (k) => {
    const i = k.indexOf(":");
    return { status: k.slice(0, i), reason: k.slice(i + 1) };
  });
  mirroredCounter(registry, "edgepath_sip_drops_total", "Messages dropped by the edge without an answer, by reason.", ["reason"], () => counters.drops, (k) => ({ reason: k }));
  registerRingMetric(registry, () => gauges.ringMembers());
  const flows: Gauge<string> = new Gauge({
    name: "edgepath_flows",
    help: "Open flows at the edge, by transport.",
    labelNames: ["transport"],
    registers: [registry],
    collect() {
      flows.reset();
      for (const [t, n] of Object.entries(gauges.flowsByTransport())) flows.set({ transport: t }, n);
    },
  });
}

/** `edgepath_ring_members`; registered once per registry (the edge registers it too). */
export function registerRingMetric(registry: Registry, members: () => number): void {
  if (registry.getSingleMetric("edgepath_ring_members") !== undefined) return;
  const ring = new Gauge({
    name: "edgepath_ring_members",
    help: "Registrar workers on this process's ring (live, not draining).",
    registers: [registry],
    collect() {
      ring.set(members());
    },
  });
}

/** What the registrar metrics read from a worker (RegistrarWorker fits). */
export interface WorkerMetricsSource {
  readonly openTransactions: number;
  /** overload control's refusals (RegistrarWorker.stats) */
  readonly stats?: { readonly overloadShed: number };
  readonly proxy?: { readonly stats: { readonly requests: number; readonly rejected: number; readonly branches: number } } | undefined;
}

/**
 * The worker's REGISTER hook (RegistrarWorkerOptions.onRegister). `elapsedMs`, when the worker
 * passes it (request received -> final response sent), feeds the transaction latency histogram.
 */
export type OnRegister = (status: number, step: string | undefined, elapsedMs?: number) => void;

/** The location proxy's hook (RegistrarWorkerOptions.onProxyFinal): first final response of an initial request. */
export type OnProxyFinal = (method: string, status: number, elapsedMs: number) => void;

/** Buckets for a SIP transaction through a registrar: 1 ms to 10 s (RFC 3261 Timer F is 32 s). */
export const TRANSACTION_LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Registrar-side metrics. Returns the `onRegister` hook to give every RegistrarWorker; the
 * location proxy's counters and the open transactions are read from `workers()` at scrape time.
 */
export function registerWorkerMetrics(registry: Registry, workers: () => readonly WorkerMetricsSource[]): { onRegister: OnRegister; onProxyFinal: OnProxyFinal } {
  const responses = new Counter({
    name: "edgepath_registrar_responses_total",
    help: "Final responses sent by registrar workers, by method and status class.",
    labelNames: ["method", "class"],
    registers: [registry],
  });
  const rejections = new Counter({
    name: "edgepath_registrar_rejections_total",
    help: "REGISTERs refused by the registrar, by the RFC 3261 §10.3 step that refused them.",
    labelNames: ["step"],
    registers: [registry],
  });
  const latency = new Histogram({
    name: "edgepath_sip_transaction_duration_seconds",
    help: "Registrar worker server transactions from request received to first final response sent (REGISTER and location-proxied requests), by method and status class.",
    labelNames: ["method", "class"],
    buckets: TRANSACTION_LATENCY_BUCKETS,
    registers: [registry],
  });
  const sum = (pick: (s: { requests: number; rejected: number; branches: number }) => number): number => {
    let n = 0;
    for (const w of workers()) if (w.proxy !== undefined) n += pick(w.proxy.stats);
    return n;
  };
  mirroredCounter(registry, "edgepath_proxy_requests_total", "Initial requests handled by the location proxy (RFC 3261 §16).", [], () => [["", sum((s) => s.requests)]], () => ({}));
  mirroredCounter(registry, "edgepath_proxy_rejections_total", "Initial requests the location proxy answered itself (404, 480, 403, ...).", [], () => [["", sum((s) => s.rejected)]], () => ({}));
  mirroredCounter(registry, "edgepath_proxy_branches_total", "Client transactions (branches) started by the location proxy.", [], () => [["", sum((s) => s.branches)]], () => ({}));
  mirroredCounter(
    registry,
    "edgepath_overload_shed_total",
    "Initial requests a registrar worker answered 500 + Retry-After because they had queued longer than EDGEPATH_OVERLOAD_QUEUE_DELAY_MS (overload control).",
    [],
    () => {
      let n = 0;
      for (const w of workers()) n += w.stats?.overloadShed ?? 0;
      return [["", n]];
    },
    () => ({}),
  );
  const open = new Gauge({
    name: "edgepath_transactions_open",
    help: "Live SIP transactions in registrar workers (RFC 3261 §17).",
    registers: [registry],
    collect() {
      let n = 0;
      for (const w of workers()) n += w.openTransactions;
      open.set(n);
    },
  });
  // Status classes are fixed; building the label set per response would allocate on the hot path.
  const classes = ["1xx", "2xx", "3xx", "4xx", "5xx", "6xx"] as const;
  return {
    onRegister(status, step, elapsedMs) {
      const cls = classes[Math.floor(status / 100) - 1] ?? "other";
      responses.inc({ method: "REGISTER", class: cls });
      if (elapsedMs !== undefined) latency.observe({ method: "REGISTER", class: cls }, elapsedMs / 1000);
      if (step !== undefined) rejections.inc({ step });
    },
    onProxyFinal(method, status, elapsedMs) {
      const cls = classes[Math.floor(status / 100) - 1] ?? "other";
      responses.inc({ method: methodLabel(method), class: cls });
      latency.observe({ method: methodLabel(method), class: cls }, elapsedMs / 1000);
    },
  };
}

/**
 * Methods a worker sees are whatever edges forwarded; an extension method from a phone must not
 * create a new series per spelling (label cardinality), so unknown ones are "other".
 */
const KNOWN_METHODS: ReadonlySet<string> = new Set(["INVITE", "MESSAGE", "OPTIONS", "SUBSCRIBE", "NOTIFY", "REFER", "INFO", "UPDATE", "PRACK", "PUBLISH", "BYE", "REGISTER"]);

function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : "other";
}

/** Buckets for a store round trip: 0.5 ms (memory) to 2.5 s (a Redis failover). */
export const STORE_LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export interface StoreMetrics {
  /** Wraps a store: same behaviour, every call timed and every failure counted. */
  instrument(store: BindingStore): BindingStore;
}

/**
 * Store latency and errors. `backend` is "redis" or "memory": `edgepath_store_errors_total{backend="redis"}`
 * are the Redis errors of DESIGN §5. A call fails when it throws or, for `register`, when the store
 * reports itself `unavailable` (it answers 503 rather than throwing). SIP-level rejections
 * (out-of-order CSeq, too many contacts) are results, not errors.
 */
export function registerStoreMetrics(registry: Registry, backend: "redis" | "memory"): StoreMetrics {
  const latency = new Histogram({
    name: "edgepath_store_operation_duration_seconds",
    help: "Binding store operations (one Redis round trip each), by operation and result. REGISTER's critical path.",
    labelNames: ["backend", "op", "result"],
    buckets: STORE_LATENCY_BUCKETS,
    registers: [registry],
  });
  const errors = new Counter({
    name: "edgepath_store_errors_total",
    help: "Binding store calls that failed (backend unreachable, timeout, script error), by backend and operation.",
    labelNames: ["backend", "op"],
    registers: [registry],
  });
  const timed = <T>(op: string, call: () => Promise<T>, failed: (v: T) => boolean = () => false): Promise<T> => {
    const end = latency.startTimer({ backend, op });
    return call().then(
      (v) => {
        const bad = failed(v);
        end({ result: bad ? "error" : "ok" });
        if (bad) errors.inc({ backend, op });
        return v;
      },
      (err: unknown) => {
        end({ result: "error" });
        errors.inc({ backend, op });
        throw err;
      },
    );
  };
  const unavailable = (r: RegisterResult): boolean => !r.ok && r.code === "unavailable";
  return {
    instrument(store) {
      const wrapped: BindingStore = {
        register: (op) => timed("register", () => store.register(op), unavailable),
        lookup: (aor, now) => timed("lookup", () => store.lookup(aor, now)),
        markUnreachable: (sel, reason, now) => timed("markUnreachable", () => store.markUnreachable(sel, reason, now)),
        markReachable: (aor, key, now) => timed("markReachable", () => store.markReachable(aor, key, now)),
        edgeRestarted: (edge, startedAt, now) => timed("edgeRestarted", () => store.edgeRestarted(edge, startedAt, now)),
        sweepExpired: (now, limit) => timed("sweepExpired", () => store.sweepExpired(now, limit)),
        close: () => store.close(),
      };
      const list = store.listAors?.bind(store);
      const out: BindingStore = list === undefined ? wrapped : { ...wrapped, listAors: (limit: number) => timed("listAors", () => list(limit)) };
      // Tracing labels store spans with `store.constructor.name` (MemoryBindingStore, RedisBindingStore):
      // the wrapper answers with the backend's, so spans keep saying which store they measured.
      Object.defineProperty(out, "constructor", { value: store.constructor, enumerable: false });
      return out;
    },
  };
}

/** A counter registered under `name`, returned as the bare increment a library's hook option takes. */
function counterHook(registry: Registry, name: string, help: string): () => void {
  const counter = new Counter({ name, help, registers: [registry] });
  return () => counter.inc();
}

/** Returns the hook for NatsClusterBus's `onError`: counts into `edgepath_nats_errors_total`. */
export function registerNatsErrors(registry: Registry): () => void {
  return counterHook(registry, "edgepath_nats_errors_total", "Errors reported by the NATS connection (disconnects, permission and protocol errors).");
}

/**
 * Returns the hook for RedisBindingStore's `onDatasetLost`: counts into
 * `edgepath_redis_dataset_lost_total`. Alert on any increase: every worker counts each loss once.
 */
export function registerDatasetLost(registry: Registry): () => void {
  return counterHook(
    registry,
    "edgepath_redis_dataset_lost_total",
    "Times this worker found Redis had lost its data (dataset marker gone or replaced): restarted without persistence, flushed, or failed over to an empty replica. Bindings and credentials stored there are gone.",
  );
}

export interface BindingCensusOptions {
  /** AORs looked at per census; beyond it the gauges cover a sample and `_truncated` is 1. */
  readonly maxAors?: number;
  /** A scrape within this long of the previous census reuses it (default 5 s). */
  readonly maxAgeMs?: number;
  readonly now?: () => number;
}

/**
 * `edgepath_bindings_active`, `edgepath_bindings_reachable` (DESIGN §3: registered is not
 * reachable) and `edgepath_aors_registered`, counted at scrape time from the store's admin
 * listing, bounded (default 10 000 AORs) and cached (default 5 s) so a scrape never costs more
 * than a bounded number of store reads and never runs on a SIP request path (DESIGN §4 forbids
 * scans there, not here). The count is of the whole store, so with several registrars every one
 * reports the same cluster total: aggregate with max(), not sum(). Stores without `listAors`
 * get no gauges.
 */
export function registerBindingCensus(registry: Registry, store: BindingStore, opts: BindingCensusOptions = {}): void {
  const list = store.listAors?.bind(store);
  if (list === undefined) return;
  const maxAors = opts.maxAors ?? 10_000;
  const maxAgeMs = opts.maxAgeMs ?? 5_000;
  const now = opts.now ?? Date.now;
  let last: { at: number; active: number; reachable: number; aors: number; truncated: boolean } | undefined;
  let running: Promise<NonNullable<typeof last>> | undefined;
  const census = async (): Promise<NonNullable<typeof last>> => {
    const t = now();
    if (last !== undefined && t - last.at < maxAgeMs) return last;
    running ??= (async () => {
      try {
        const aors = await list(maxAors + 1);
        const truncated = aors.length > maxAors;
        let active = 0;
        let reachable = 0;
        let registered = 0;
        for (const aor of aors.slice(0, maxAors)) {
          const { bindings } = await store.lookup(aor, t);
          if (bindings.length > 0) registered++;
          active += bindings.length;
          for (const b of bindings) if (b.reachable) reachable++;
        }
        last = { at: t, active, reachable, aors: registered, truncated };
        return last;
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
  const gauge = (name: string, help: string, pick: (c: NonNullable<typeof last>) => number): void => {
    const g: Gauge = new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        try {
          g.set(pick(await census()));
        } catch {
          // The store is down: the store error counters say so; keep the last value.
        }
      },
    });
  };
  gauge("edgepath_bindings_active", "Unexpired bindings in the store (whole cluster; aggregate with max()).", (c) => c.active);
  gauge("edgepath_bindings_reachable", "Unexpired bindings whose flow is believed alive (DESIGN §3).", (c) => c.reachable);
  gauge("edgepath_aors_registered", "AORs with at least one unexpired binding.", (c) => c.aors);
  gauge("edgepath_bindings_census_truncated", "1 when the binding gauges counted only the first maxAors AORs.", (c) => (c.truncated ? 1 : 0));
}

/**
 * `edgepath_ready` (0/1) and `edgepath_ready_check{check}` (0/1 per dependency / condition)
 * from the same function /readyz answers with, so an alert and the probe never disagree.
 */
export function registerReadinessMetrics(registry: Registry, readiness: () => Readiness): void {
  const ready = new Gauge({ name: "edgepath_ready", help: "1 when /readyz answers 200.", registers: [registry], collect() { ready.set(readiness().ready ? 1 : 0); } });
  const checks: Gauge<string> = new Gauge({
    name: "edgepath_ready_check",
    help: "Readiness conditions (dependencies connected, ring non-empty, not draining): 1 = fine.",
    labelNames: ["check"],
    registers: [registry],
    collect() {
      checks.reset();
      for (const [check, ok] of Object.entries(readiness().checks)) checks.set({ check }, ok ? 1 : 0);
    },
  });
}

/** `edgepath_draining`: 1 from SIGTERM until exit. */
export function registerDrainingMetric(registry: Registry, draining: () => boolean): void {
  const g = new Gauge({ name: "edgepath_draining", help: "1 while the process drains after SIGTERM (DESIGN §5).", registers: [registry], collect() { g.set(draining() ? 1 : 0); } });
}

/**
 * The readiness of a process (DESIGN §5): ready only when every dependency is connected, the ring
 * has members, and the process is not draining. Pure, so the rule is tested once for every role.
 */
export function readinessOf(checks: Record<string, boolean>, draining: boolean): Readiness {
  const all = { ...checks, notDraining: !draining };
  return { ready: Object.values(all).every(Boolean), checks: all };
}

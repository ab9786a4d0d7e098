import { describe, expect, it } from "vitest";
import { Registry } from "prom-client";
import { EdgeCounters } from "@edgepath/edge";
import { MemoryBindingStore, type BindingStore, type RegisterOp } from "@edgepath/bindings";
import {
  createRegistry,
  readinessOf,
  registerBindingCensus,
  registerEdgeMetrics,
  registerNatsErrors,
  registerReadinessMetrics,
  registerStoreMetrics,
  registerWorkerMetrics,
} from "./metrics.js";

/** The value of one sample in Prometheus text format, or undefined when absent. */
async function sample(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const text = await registry.metrics();
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

function op(aor: string, key: string, cseq: number, expires: number, now: number): RegisterOp {
  return {
    aor,
    callId: `c-${key}`,
    cseq,
    now,
    removeAll: false,
    maxContacts: 10,
    changes: [{ key, expires, binding: { contact: `sip:${key}@192.0.2.1`, q: 1, path: [], flowToken: `ft-${key}`, edge: "10.0.0.1:5070", transport: "tcp" } }],
  };
}

describe("createRegistry", () => {
  it("prefixes default process metrics with edgepath_ once (no edgepath_process_process_*)", async () => {
    const registry = createRegistry("edge", "n1");
    const text = await registry.metrics();
    expect(text).toContain("edgepath_process_cpu_user_seconds_total");
    expect(text).not.toContain("edgepath_process_process_");
    const names = [...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]);
    expect(names.length).toBeGreaterThan(5);
    for (const n of names) expect(n).toMatch(/^edgepath_/);
    expect(await sample(registry, "edgepath_process_cpu_user_seconds_total", { role: "edge", node: "n1" })).toBeGreaterThanOrEqual(0);
  });
});

describe("edge metrics", () => {
  it("mirror EdgeCounters as monotonic counters by method, class and reason", async () => {
    const registry = new Registry();
    const c = new EdgeCounters();
    registerEdgeMetrics(registry, c, { ringMembers: () => 3, flowsByTransport: () => ({ udp: 1, tcp: 4 }) });
    c.request("REGISTER");
    c.request("REGISTER");
    c.response(200);
    c.reject(483, "too-many-hops");
    expect(await sample(registry, "edgepath_sip_requests_total", { method: "REGISTER" })).toBe(2);
    c.request("REGISTER");
    // A second scrape adds only the delta.
    expect(await sample(registry, "edgepath_sip_requests_total", { method: "REGISTER" })).toBe(3);
    expect(await sample(registry, "edgepath_sip_responses_total", { class: "2xx" })).toBe(1);
    expect(await sample(registry, "edgepath_sip_rejections_total", { status: "483", reason: "too-many-hops" })).toBe(1);
    expect(await sample(registry, "edgepath_ring_members")).toBe(3);
    expect(await sample(registry, "edgepath_flows", { transport: "tcp" })).toBe(4);
  });
});

describe("worker metrics", () => {
  it("count REGISTER outcomes by class and refusing step, and observe latency when given", async () => {
    const registry = new Registry();
    const workers = [{ openTransactions: 2, stats: { overloadShed: 4 }, proxy: { stats: { requests: 5, rejected: 1, branches: 7 } } }, { openTransactions: 1, stats: { overloadShed: 1 } }];
    const { onRegister } = registerWorkerMetrics(registry, () => workers);
    onRegister(200, undefined);
    onRegister(423, "expires", 3);
    expect(await sample(registry, "edgepath_registrar_responses_total", { method: "REGISTER", class: "2xx" })).toBe(1);
    expect(await sample(registry, "edgepath_registrar_responses_total", { method: "REGISTER", class: "4xx" })).toBe(1);
    expect(await sample(registry, "edgepath_registrar_rejections_total", { step: "expires" })).toBe(1);
    expect(await sample(registry, "edgepath_sip_transaction_duration_seconds_count", { method: "REGISTER", class: "4xx" })).toBe(1);
    expect(await sample(registry, "edgepath_sip_transaction_duration_seconds_sum", { method: "REGISTER", class: "4xx" })).toBeCloseTo(0.003);
    expect(await sample(registry, "edgepath_transactions_open")).toBe(3);
    expect(await sample(registry, "edgepath_proxy_requests_total")).toBe(5);
    expect(await sample(registry, "edgepath_proxy_rejections_total")).toBe(1);
    expect(await sample(registry, "edgepath_proxy_branches_total")).toBe(7);
    expect(await sample(registry, "edgepath_overload_shed_total")).toBe(5);
  });

  it("the location proxy's final responses feed the latency histogram by method; unknown methods are 'other'", async () => {
    const registry = new Registry();
    const { onProxyFinal } = registerWorkerMetrics(registry, () => []);
    onProxyFinal("MESSAGE", 200, 4);
    onProxyFinal("INVITE", 480, 2);
    onProxyFinal("FROBNICATE", 405, 1);
    expect(await sample(registry, "edgepath_sip_transaction_duration_seconds_count", { method: "MESSAGE", class: "2xx" })).toBe(1);
    expect(await sample(registry, "edgepath_sip_transaction_duration_seconds_sum", { method: "MESSAGE", class: "2xx" })).toBeCloseTo(0.004);
    expect(await sample(registry, "edgepath_registrar_responses_total", { method: "INVITE", class: "4xx" })).toBe(1);
    // Label cardinality: a method name from the wire never becomes a series of its own.
    expect(await sample(registry, "edgepath_sip_transaction_duration_seconds_count", { method: "other", class: "4xx" })).toBe(1);
    expect(await sample(registry, "edgepath_sip_transaction_duration_seconds_count", { method: "FROBNICATE" })).toBeUndefined();
  });
});

describe("store metrics", () => {
  it("time every call and leave results unchanged", async () => {
    const registry = new Registry();
    const store = registerStoreMetrics(registry, "memory").instrument(new MemoryBindingStore());
    const now = Date.now();
    const r = await store.register(op("sip:a@example.com", "k1", 1, 300, now));
    expect(r.ok).toBe(true);
    const found = await store.lookup("sip:a@example.com", now);
    expect(found.bindings).toHaveLength(1);
    expect(await store.listAors?.(10)).toEqual(["sip:a@example.com"]);
    expect(store.constructor.name).toBe("MemoryBindingStore");
    expect(await sample(registry, "edgepath_store_operation_duration_seconds_count", { backend: "memory", op: "register", result: "ok" })).toBe(1);
    expect(await sample(registry, "edgepath_store_operation_duration_seconds_count", { backend: "memory", op: "lookup", result: "ok" })).toBe(1);
    await store.close();
  });

  it("count a thrown failure and an `unavailable` register as Redis errors (503 path, DESIGN §5)", async () => {
    const registry = new Registry();
    const down = new Error("ECONNREFUSED");
    const failing: BindingStore = {
      register: () => Promise.resolve({ ok: false, code: "unavailable", status: 503, reason: "redis down", retryAfter: 5 }),
      lookup: () => Promise.reject(down),
      markUnreachable: () => Promise.resolve([]),
      markReachable: () => Promise.resolve(),
      edgeRestarted: () => Promise.resolve([]),
      sweepExpired: () => Promise.resolve(0),
      close: () => Promise.resolve(),
    };
    const store = registerStoreMetrics(registry, "redis").instrument(failing);
    const r = await store.register(op("sip:a@example.com", "k1", 1, 300, Date.now()));
    expect(r.ok).toBe(false);
    await expect(store.lookup("sip:a@example.com", Date.now())).rejects.toBe(down);
    expect(await sample(registry, "edgepath_store_errors_total", { backend: "redis", op: "register" })).toBe(1);
    expect(await sample(registry, "edgepath_store_errors_total", { backend: "redis", op: "lookup" })).toBe(1);
    expect(await sample(registry, "edgepath_store_operation_duration_seconds_count", { op: "lookup", result: "error" })).toBe(1);
    expect("listAors" in store).toBe(false);
  });

  it("count NATS errors through the onError hook", async () => {
    const registry = new Registry();
    const onError = registerNatsErrors(registry);
    onError();
    onError();
    expect(await sample(registry, "edgepath_nats_errors_total")).toBe(2);
  });
});

describe("binding census", () => {
  it("DESIGN §3: counts active and reachable bindings apart, and refreshes after maxAgeMs", async () => {
    const registry = new Registry();
    const mem = new MemoryBindingStore();
    let clock = Date.now();
    registerBindingCensus(registry, mem, { maxAgeMs: 1000, now: () => clock });
    expect(await sample(registry, "edgepath_bindings_active")).toBe(0);
    await mem.register(op("sip:a@example.com", "k1", 1, 300, clock));
    await mem.register(op("sip:b@example.com", "k2", 1, 300, clock));
    // Cached: the census of a moment ago still stands.
    expect(await sample(registry, "edgepath_bindings_active")).toBe(0);
    clock += 1001;
    expect(await sample(registry, "edgepath_bindings_active")).toBe(2);
    expect(await sample(registry, "edgepath_bindings_reachable")).toBe(2);
    expect(await sample(registry, "edgepath_aors_registered")).toBe(2);
    await mem.markUnreachable({ flowToken: "ft-k1" }, "flow-failed", clock);
    clock += 1001;
    expect(await sample(registry, "edgepath_bindings_active")).toBe(2);
    expect(await sample(registry, "edgepath_bindings_reachable")).toBe(1);
    expect(await sample(registry, "edgepath_bindings_census_truncated")).toBe(0);
  });

  it("reports truncation when the store holds more AORs than maxAors", async () => {
    const registry = new Registry();
    const mem = new MemoryBindingStore();
    const now = Date.now();
    for (const u of ["a", "b", "c"]) await mem.register(op(`sip:${u}@example.com`, `k-${u}`, 1, 300, now));
    registerBindingCensus(registry, mem, { maxAors: 2, now: () => now });
    expect(await sample(registry, "edgepath_bindings_active")).toBe(2);
    expect(await sample(registry, "edgepath_bindings_census_truncated")).toBe(1);
  });
});

describe("readiness", () => {
  it("DESIGN §5: ready only with every check true and not draining", () => {
    expect(readinessOf({ ring: true, nats: true }, false)).toEqual({ ready: true, checks: { ring: true, nats: true, notDraining: true } });
    expect(readinessOf({ ring: false, nats: true }, false).ready).toBe(false);
    expect(readinessOf({ ring: true, redis: false }, false).ready).toBe(false);
    const draining = readinessOf({ ring: true, nats: true }, true);
    expect(draining.ready).toBe(false);
    expect(draining.checks["notDraining"]).toBe(false);
  });

  it("exposes the same answer as edgepath_ready and edgepath_ready_check", async () => {
    const registry = new Registry();
    let nats = true;
    registerReadinessMetrics(registry, () => readinessOf({ nats, ring: true }, false));
    expect(await sample(registry, "edgepath_ready")).toBe(1);
    nats = false;
    expect(await sample(registry, "edgepath_ready")).toBe(0);
    expect(await sample(registry, "edgepath_ready_check", { check: "nats" })).toBe(0);
    expect(await sample(registry, "edgepath_ready_check", { check: "ring" })).toBe(1);
  });
});

import { describe, it, expect, beforeAll, afterAll, beforeEach, afterEach } from "vitest";
import { Redis } from "ioredis";
import { startRedis, waitFor, type RedisServer } from "@edgepath/testkit";
import type { ContactChange, RegisterOp } from "@edgepath/bindings";
import { bindingStoreContract } from "@edgepath/bindings/testing";
import { BindingStoreUnavailableError, RedisBindingStore, type DatasetLost } from "./store.js";
import { keyLayout, tagSafe } from "./keys.js";

let redis: RedisServer;
let admin: Redis;

beforeAll(async () => {
  // Persistence on: the restart test checks no binding is lost.
  redis = await startRedis({ persistence: true });
  admin = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  admin.on("error", () => undefined);
  await admin.connect();
}, 20_000);

afterAll(async () => {
  admin?.disconnect();
  await redis?.stop();
});

async function makeStore(opts: { knownForMs?: number; keyPrefix?: string } = {}): Promise<RedisBindingStore> {
  const store = new RedisBindingStore({ url: redis.url, ...opts });
  await store.waitUntilReady();
  return store;
}

bindingStoreContract(
  "redis",
  async () => {
    await admin.flushall();
    return makeStore();
  },
  async (s) => {
    await s.close();
    await admin.flushall();
  },
);

const T0 = 1_800_000_000_000;
const AOR = "sip:alice@example.com";

function change(key: string, expires: number, extra: Partial<ContactChange["binding"]> = {}): ContactChange {
  return { key, expires, binding: { contact: key.startsWith("sip:") ? key : "sip:alice@192.0.2.1:5060", q: 1, path: [], ...extra } };
}

function op(o: Partial<RegisterOp> & Pick<RegisterOp, "changes">): RegisterOp {
  return { aor: AOR, callId: "call-1", cseq: 1, now: T0, removeAll: false, maxContacts: 10, ...o };
}

async function commandCalls(name: string): Promise<number> {
  const info = await admin.info("commandstats");
  const m = new RegExp(`^cmdstat_${name}:calls=(\\d+)`, "m").exec(info);
  return m === null ? 0 : Number(m[1]);
}

describe("RedisBindingStore specifics", () => {
  let store: RedisBindingStore;
  beforeEach(async () => {
    await admin.flushall();
    store = await makeStore();
  });
  afterEach(async () => {
    await store.close();
  });

  it("DESIGN §4: per-AOR keys share the {AOR} hash tag; flow/edge indexes and the expiry ZSET", async () => {
    const r = await store.register(
      op({ changes: [change("sip:alice@192.0.2.1:5060", 3600, { flowToken: "TOK1", edge: "10.0.0.1:5060", path: ["<sip:TOK1@10.0.0.1:5060;lr;ob>"] })] }),
    );
    expect(r.ok).toBe(true);
    const keys = (await admin.keys("*")).sort();
    // ep:dataset is the marker the store wrote on connect (sent before the REGISTER on the same connection).
    expect(keys).toEqual(["ep:dataset", "ep:edge:{10.0.0.1:5060}", "ep:expiry", "ep:flow:{TOK1}", `ep:{${AOR}}:b`, `ep:{${AOR}}:m`].sort());
    expect(await admin.smembers("ep:flow:{TOK1}")).toEqual([AOR]);
    expect(await admin.smembers("ep:edge:{10.0.0.1:5060}")).toEqual([AOR]);
    expect(Number(await admin.zscore("ep:expiry", AOR))).toBe(T0 + 3_600_000);
    // Keys expire by themselves a grace period after the last binding (store is not the only cleaner).
    const pttl = await admin.pttl(`ep:{${AOR}}:b`);
    expect(pttl).toBeGreaterThan(3_600_000);
    expect(pttl).toBeLessThanOrEqual(3_600_000 + 60_000);
    expect(await admin.pttl("ep:flow:{TOK1}")).toBeGreaterThan(3_600_000);
    // The stored JSON keeps path as an array and the exact numbers (never re-encoded by cjson).
    const stored = JSON.parse((await admin.hget(`ep:{${AOR}}:b`, "b:sip:alice@192.0.2.1:5060"))!) as Record<string, unknown>;
    expect(stored["path"]).toEqual(["<sip:TOK1@10.0.0.1:5060;lr;ob>"]);
    expect(stored["registeredAt"]).toBe(T0);
  });

  it("a flow index shared by two AORs keeps the longer TTL: one script per index set, never shortened", async () => {
    const bob = "sip:bob@example.com";
    const viaTok = { flowToken: "SHARED", edge: "10.0.0.1:5060" };
    const scripts = async (): Promise<number> => (await commandCalls("evalsha")) + (await commandCalls("eval"));
    const idx0 = await scripts();
    expect((await store.register(op({ aor: bob, changes: [change("sip:bob@192.0.2.9:5060", 3600, viaTok)] }))).ok).toBe(true);
    // REGISTER script + one index script per set (flow, edge) instead of SADD + 2 PEXPIRE each.
    expect((await scripts()) - idx0).toBe(3);
    expect((await store.register(op({ changes: [change("sip:alice@192.0.2.1:5060", 60, viaTok)] }))).ok).toBe(true);
    expect((await admin.smembers("ep:flow:{SHARED}")).sort()).toEqual([AOR, bob].sort());
    // alice's 60 s did not cut bob's hour short (PEXPIRE GT), for the flow and the edge index.
    expect(await admin.pttl("ep:flow:{SHARED}")).toBeGreaterThan(3_600_000);
    expect(await admin.pttl("ep:edge:{10.0.0.1:5060}")).toBeGreaterThan(3_600_000);
    // A fresh set gets a TTL at all (PEXPIRE NX): never a persistent index key.
    expect((await store.register(op({ aor: "sip:carol@example.com", changes: [change("sip:carol@192.0.2.7:5060", 60, { flowToken: "ONLY" })] }))).ok).toBe(true);
    // expiry 60 s + grace 60 s + one registration interval of slack (idxUntil).
    const ttl = await admin.pttl("ep:flow:{ONLY}");
    expect(ttl).toBeGreaterThan(120_000);
    expect(ttl).toBeLessThanOrEqual(180_000);
  });

  it("a pure refresh writes no index while idxUntil covers it, and rewrites it once it does not", async () => {
    const scripts = async (): Promise<number> => (await commandCalls("evalsha")) + (await commandCalls("eval"));
    const viaTok = { flowToken: "TOKR", edge: "10.0.0.9:5060", path: ["<sip:TOKR@10.0.0.9:5060;lr;ob>"] };
    const reg = (cseq: number, at: number): Promise<unknown> => store.register(op({ cseq, now: at, changes: [change("sip:alice@192.0.2.1:5060", 60, viaTok)] }));
    await reg(1, T0); // idxUntil = T0 + 60 s expiry + 60 s grace + 60 s slack = T0 + 180 s
    const stored = async (): Promise<Record<string, unknown>> =>
      JSON.parse((await admin.hget(`ep:{${AOR}}:b`, "b:sip:alice@192.0.2.1:5060"))!) as Record<string, unknown>;
    expect((await stored())["idxUntil"]).toBe(T0 + 180_000);
    let before = await scripts();
    await reg(2, T0 + 50_000); // expiry T0 + 110 s, + grace = T0 + 170 s <= 180 s: covered
    expect((await scripts()) - before).toBe(1); // the REGISTER script only
    expect((await stored())["idxUntil"]).toBe(T0 + 180_000);
    before = await scripts();
    await reg(3, T0 + 100_000); // T0 + 160 s + grace = 220 s > 180 s: flow and edge index rewritten
    expect((await scripts()) - before).toBe(3);
    expect((await stored())["idxUntil"]).toBe(T0 + 280_000);
    expect(await admin.pttl("ep:flow:{TOKR}")).toBeGreaterThan(170_000); // idxUntil - now = 180 s
    // The bookkeeping never leaks into what callers see.
    const b = (await store.lookup(AOR, T0 + 100_001)).bindings[0]!;
    expect(Object.keys(b)).not.toContain("idxUntil");
    expect(b.cseq).toBe(3);
  });

  it("reachability round-trips through the fast reach decoder and the JSON fallback", async () => {
    expect((await store.register(op({ changes: [change("sip:alice@192.0.2.1:5060", 3600, { flowToken: "R1" })] }))).ok).toBe(true);
    let b = (await store.lookup(AOR, T0 + 1)).bindings[0]!;
    expect(b).toMatchObject({ reachable: true });
    expect(typeof b.lastSeen).toBe("number");
    await store.markUnreachable({ flowToken: "R1" }, "flow-failed", T0 + 2000);
    b = (await store.lookup(AOR, T0 + 2001)).bindings[0]!;
    // lastSeen stays the last time the phone was heard from, not when the flow failed.
    expect(b).toMatchObject({ reachable: false, reason: "flow-failed", lastSeen: T0 });
    await store.markReachable(AOR, "sip:alice@192.0.2.1:5060", T0 + 3000);
    b = (await store.lookup(AOR, T0 + 3001)).bindings[0]!;
    expect(b).toMatchObject({ reachable: true, lastSeen: T0 + 3000 });
    expect(b.reason).toBeUndefined();
  });

  it("braces in an AOR cannot break the hash tag", () => {
    expect(tagSafe("sip:a}b{c@x")).toBe("sip:a%7Db%7Bc@x");
    expect(keyLayout("ep:").bindings("sip:a}b@x")).toBe("ep:{sip:a%7Db@x}:b");
    // Distinct AORs never collide after escaping.
    expect(tagSafe("sip:a%7D@x")).not.toBe(tagSafe("sip:a}@x"));
  });

  it("one EVALSHA per REGISTER (and no EVAL once the script is cached)", async () => {
    await store.register(op({ changes: [change("sip:warm@192.0.2.1", 60)] })); // loads the script
    const sha0 = await commandCalls("evalsha");
    const eval0 = await commandCalls("eval");
    for (let i = 0; i < 5; i++) {
      const r = await store.register(op({ cseq: 10 + i, changes: [change("sip:alice@192.0.2.1:5060", 60)] }));
      expect(r.ok).toBe(true);
    }
    expect((await commandCalls("evalsha")) - sha0).toBe(5);
    expect((await commandCalls("eval")) - eval0).toBe(0);
  });

  it("Redis restarting mid-test: 503 quickly while down, reconnects, no binding lost (AOF)", async () => {
    const before = await store.register(op({ changes: [change("sip:alice@192.0.2.1:5060", 3600, { flowToken: "F1" })] }));
    expect(before.ok).toBe(true);
    await redis.restart({
      whileDown: async () => {
        await waitFor(() => (store.connected ? undefined : true), { timeoutMs: 5000, what: "store to notice Redis is down" });
        const started = Date.now();
        const r = await store.register(op({ cseq: 2, changes: [change("sip:alice@192.0.2.1:5060", 3600)] }));
        expect(Date.now() - started).toBeLessThan(1500);
        expect(r).toMatchObject({ ok: false, code: "unavailable", status: 503, retryAfter: 5 });
        const err: unknown = await store.lookup(AOR, T0).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(BindingStoreUnavailableError);
        expect((err as BindingStoreUnavailableError).sipStatus).toBe(503);
      },
    });
    await waitFor(() => (store.connected ? true : undefined), { timeoutMs: 10_000, what: "store to reconnect" });
    const after = await store.lookup(AOR, T0 + 1000);
    expect(after.bindings.map((b) => b.key)).toEqual(["sip:alice@192.0.2.1:5060"]);
    // The script cache is empty after a restart: ioredis falls back to EVAL once, transparently.
    const r = await store.register(op({ cseq: 3, changes: [change("sip:alice@192.0.2.1:5060", 3600)] }));
    expect(r.ok).toBe(true);
    expect(await store.markUnreachable({ flowToken: "F1" }, "flow-failed", T0 + 2000)).toEqual([]); // re-register without the token
  }, 30_000);

  it("a store pointed at a dead Redis answers 503, never throws from register()", async () => {
    const dead = new RedisBindingStore({ url: "redis://127.0.0.1:1", commandTimeoutMs: 200 });
    try {
      const started = Date.now();
      const r = await dead.register(op({ changes: [change("sip:alice@192.0.2.1:5060", 60)] }));
      expect(r).toMatchObject({ ok: false, code: "unavailable", status: 503 });
      expect(Date.now() - started).toBeLessThan(500);
      expect(dead.connected).toBe(false);
    } finally {
      await dead.close();
    }
  });

  it("sweepExpired removes only due bindings, moves the ZSET score, trims the indexes", async () => {
    await store.register(
      op({
        changes: [change("sip:short@192.0.2.1", 60, { flowToken: "SHORT", edge: "e1:5060" }), change("sip:long@192.0.2.1", 600, { flowToken: "LONG", edge: "e1:5060" })],
      }),
    );
    await store.register({ ...op({ changes: [change("sip:bob@192.0.2.2", 60, { flowToken: "BOB", edge: "e2:5060" })] }), aor: "sip:bob@example.com" });
    expect(await store.sweepExpired(T0 + 30_000)).toBe(0);
    expect(await store.sweepExpired(T0 + 61_000)).toBe(2);
    expect(await admin.smembers("ep:flow:{SHORT}")).toEqual([]);
    expect(await admin.smembers("ep:flow:{BOB}")).toEqual([]);
    expect(await admin.smembers("ep:flow:{LONG}")).toEqual([AOR]);
    expect(await admin.smembers("ep:edge:{e1:5060}")).toEqual([AOR]); // still used by the long binding
    expect(await admin.smembers("ep:edge:{e2:5060}")).toEqual([]);
    expect(Number(await admin.zscore("ep:expiry", AOR))).toBe(T0 + 600_000);
    expect(await admin.zscore("ep:expiry", "sip:bob@example.com")).toBeNull();
    expect(await admin.hexists(`ep:{${AOR}}:b`, "b:sip:short@192.0.2.1")).toBe(0);
    expect((await store.lookup("sip:bob@example.com", T0 + 61_000)).known).toBe(true); // 480, not 404
    expect(await store.sweepExpired(T0 + 601_000)).toBe(1);
    expect(await admin.zcard("ep:expiry")).toBe(0);
    expect(await store.listAors(10)).toEqual([]);
  });

  it("RFC 5626 §5.3: markUnreachable goes through the flow index and trims stale entries", async () => {
    await store.register(op({ changes: [change("sip:alice@192.0.2.1:5060", 600, { flowToken: "F1", edge: "e1:5060" })] }));
    await admin.sadd("ep:flow:{F1}", "sip:ghost@example.com"); // stale hint
    expect(await store.markUnreachable({ flowToken: "F1" }, "flow-failed", T0 + 1000)).toEqual([AOR]);
    expect(await admin.smembers("ep:flow:{F1}")).toEqual([AOR]);
    const { bindings } = await store.lookup(AOR, T0 + 2000);
    expect(bindings[0]).toMatchObject({ reachable: false, reason: "flow-failed", lastSeen: T0 });
    // Edge down afterwards: already unreachable, keeps the first reason, AOR not "affected".
    expect(await store.markUnreachable({ edge: "e1:5060" }, "edge-down", T0 + 3000)).toEqual([]);
    expect((await store.lookup(AOR, T0 + 3000)).bindings[0]?.reason).toBe("flow-failed");
    await store.markReachable(AOR, "sip:alice@192.0.2.1:5060", T0 + 4000);
    expect((await store.lookup(AOR, T0 + 4000)).bindings[0]).toMatchObject({ reachable: true, lastSeen: T0 + 4000 });
    expect((await store.lookup(AOR, T0 + 4000)).bindings[0]?.reason).toBeUndefined();
  });

  it("a re-registration through a new flow moves the AOR to the new flow's index", async () => {
    const key = "urn:uuid:00000000-0000-1000-8000-000000000001;reg-id=1";
    await store.register(op({ changes: [change(key, 600, { contact: "sip:alice@192.0.2.1:5060", flowToken: "OLD" })] }));
    await store.register(op({ cseq: 2, changes: [change(key, 600, { contact: "sip:alice@192.0.2.1:5061", flowToken: "NEW" })] }));
    expect(await admin.smembers("ep:flow:{OLD}")).toEqual([]);
    expect(await admin.smembers("ep:flow:{NEW}")).toEqual([AOR]);
  });
});

describe("RedisBindingStore dataset marker (a Redis that lost its data is noticed)", () => {
  beforeEach(async () => {
    await admin.flushall();
  });

  it("first check writes the marker; the same marker reads as same; a FLUSHALL reads as lost, once", async () => {
    const lost: DatasetLost[] = [];
    // No periodic check here: this test makes every check itself.
    const store = new RedisBindingStore({ url: redis.url, datasetCheckMs: 0, onDatasetLost: (ev) => lost.push(ev) });
    await store.waitUntilReady();
    try {
      // The connect itself ran a check; wait until it wrote the marker, then look again.
      await waitFor(async () => ((await admin.get("ep:dataset")) !== null ? true : undefined), { timeoutMs: 2000, what: "marker written on connect" });
      const marker = await admin.get("ep:dataset");
      expect(await store.checkDataset()).toEqual({ state: "same", id: marker });
      // A second store on the same Redis adopts the marker, it does not replace it.
      const other = new RedisBindingStore({ url: redis.url, datasetCheckMs: 0 });
      await other.waitUntilReady();
      await waitFor(async () => ((await other.checkDataset()).state === "same" ? true : undefined), { timeoutMs: 2000, what: "second store to settle" });
      await other.close();
      expect(await admin.get("ep:dataset")).toBe(marker);

      await admin.flushall();
      const r = await store.checkDataset();
      expect(r.state).toBe("lost");
      expect(r).toMatchObject({ previous: marker });
      expect(r.id).not.toBe(marker);
      expect(await admin.get("ep:dataset")).toBe(r.id);
      expect(lost).toEqual([{ previous: marker, current: r.id }]);
      expect(await store.checkDataset()).toEqual({ state: "same", id: r.id });
      expect(lost).toHaveLength(1);
    } finally {
      await store.close();
    }
  });

  it("a store's first check says whether it created the marker (new or emptied Redis) or found one", async () => {
    // Clients connected beforehand: their 'ready' is past, so no connect-time check runs and the
    // explicit check is each store's first.
    const c1 = new Redis(redis.url, { enableOfflineQueue: false });
    const c2 = new Redis(redis.url, { enableOfflineQueue: false });
    await Promise.all([c1, c2].map((c) => new Promise((resolve) => c.once("ready", resolve))));
    const created: string[] = [];
    const a = new RedisBindingStore({ client: c1, datasetCheckMs: 0, onDatasetCreated: (id) => created.push(id) });
    const b = new RedisBindingStore({ client: c2, datasetCheckMs: 0, onDatasetCreated: (id) => created.push(id) });
    try {
      const ra = await a.checkDataset();
      expect(ra).toMatchObject({ state: "first", created: true });
      expect(await b.checkDataset()).toEqual({ state: "first", id: ra.id, created: false });
      // Only the store that wrote the marker reports it.
      expect(created).toEqual([ra.id]);
    } finally {
      c1.disconnect();
      c2.disconnect();
    }
  });

  it("a FLUSHALL while connected is reported by the periodic check (no reconnect, no explicit check)", async () => {
    const lost: DatasetLost[] = [];
    const store = new RedisBindingStore({ url: redis.url, datasetCheckMs: 100, onDatasetLost: (ev) => lost.push(ev) });
    try {
      await store.waitUntilReady();
      await waitFor(async () => ((await admin.get("ep:dataset")) !== null ? true : undefined), { timeoutMs: 2000, what: "marker written on connect" });
      await admin.flushall();
      await waitFor(() => (lost.length > 0 ? true : undefined), { timeoutMs: 5000, what: "the periodic check to report the loss" });
      expect(lost).toHaveLength(1);
    } finally {
      await store.close();
    }
  });

  it("Redis restarted without persistence: the reconnect alone reports the loss (no explicit check)", async () => {
    const bare = await startRedis(); // no RDB, no AOF: a restart comes back empty
    const lost: DatasetLost[] = [];
    const store = new RedisBindingStore({ url: bare.url, datasetCheckMs: 0, onDatasetLost: (ev) => lost.push(ev) });
    try {
      await store.waitUntilReady();
      const probe = new Redis(bare.url, { maxRetriesPerRequest: 1 });
      probe.on("error", () => undefined);
      await waitFor(async () => ((await probe.get("ep:dataset")) !== null ? true : undefined), { timeoutMs: 2000, what: "marker written on connect" });
      const before = await probe.get("ep:dataset");
      probe.disconnect();
      expect((await store.register(op({ changes: [change("sip:alice@192.0.2.1:5060", 3600)] }))).ok).toBe(true);

      await bare.restart();
      await waitFor(() => (lost.length > 0 ? true : undefined), { timeoutMs: 10_000, what: "the reconnect to report the loss" });
      expect(lost).toHaveLength(1);
      expect(lost[0]!.previous).toBe(before);
      expect(lost[0]!.current).not.toBe(before);
      // What the loss means: the binding written before the restart is gone.
      expect((await store.lookup(AOR, T0 + 1000)).bindings).toEqual([]);
    } finally {
      await store.close();
      await bare.stop();
    }
  }, 30_000);
});

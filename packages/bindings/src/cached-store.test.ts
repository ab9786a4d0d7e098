import { describe, expect, it } from "vitest";
import { CachedBindingStore } from "./cached-store.js";
import { MemoryBindingStore } from "./memory-store.js";
import { bindingStoreContract, contactChange, registerOp } from "./testing.js";

// The decorator must be invisible to callers: the whole BindingStore contract still holds.
bindingStoreContract("CachedBindingStore(MemoryBindingStore)", () => Promise.resolve(new CachedBindingStore(new MemoryBindingStore())));

const T0 = 1_700_000_000_000;
const AOR = "sip:alice@example.com";

/** Two workers' caches over one shared store (Redis in production). */
function cluster() {
  const shared = new MemoryBindingStore();
  return { shared, w1: new CachedBindingStore(shared, { ttlMs: 5000 }), w2: new CachedBindingStore(shared, { ttlMs: 5000 }) };
}

describe("CachedBindingStore (DESIGN §4: owner-worker cache)", () => {
  it("serves a repeated lookup from memory and its own REGISTER invalidates it", async () => {
    const { w1 } = cluster();
    await w1.register(registerOp(AOR, "c1", 1, T0, [contactChange("k1")]));
    await w1.lookup(AOR, T0);
    const again = await w1.lookup(AOR, T0 + 1);
    expect(w1.stats).toMatchObject({ hits: 1, misses: 1 });
    expect(again.bindings.map((b) => b.key)).toEqual(["k1"]);
    await w1.register(registerOp(AOR, "c1", 2, T0 + 2, [contactChange("k2")]));
    expect((await w1.lookup(AOR, T0 + 3)).bindings.map((b) => b.key).sort()).toEqual(["k1", "k2"]);
  });

  it("a change by another worker is seen after invalidate() (bindingChanged) and, lost, within ttlMs", async () => {
    const { w1, w2 } = cluster();
    await w2.register(registerOp(AOR, "c1", 1, T0, [contactChange("k1")]));
    await w1.lookup(AOR, T0);
    await w2.register(registerOp(AOR, "c1", 2, T0 + 10, [contactChange("k2")]));
    expect((await w1.lookup(AOR, T0 + 20)).bindings).toHaveLength(1); // stale, by design, until told
    w1.invalidate(AOR);
    expect((await w1.lookup(AOR, T0 + 30)).bindings).toHaveLength(2);
    // Event lost: the entry stops answering after ttlMs of request time.
    await w2.register(registerOp(AOR, "c1", 3, T0 + 40, [contactChange("k3")]));
    expect((await w1.lookup(AOR, T0 + 4000)).bindings).toHaveLength(2);
    expect((await w1.lookup(AOR, T0 + 5030)).bindings).toHaveLength(3);
  });

  it("a cached binding past its expiry sends the lookup to the store, where an unannounced refresh lives", async () => {
    const { w1, w2 } = cluster();
    await w2.register(registerOp(AOR, "c1", 1, T0, [contactChange("k1", { expires: 2 }), contactChange("k2", { expires: 60 })]));
    await w1.lookup(AOR, T0);
    // w2 refreshes k1: a pure refresh, so no bindingChanged reaches w1.
    const r = await w2.register(registerOp(AOR, "c1", 2, T0 + 1000, [contactChange("k1", { expires: 2 })]));
    expect(r).toMatchObject({ ok: true, routingChanged: false });
    expect((await w1.lookup(AOR, T0 + 1500)).bindings).toHaveLength(2); // cached, both live
    // k1's cached expiry (T0 + 2 s) has passed, its refreshed one (T0 + 3 s) has not: both still bound.
    const hits = w1.stats.hits;
    expect((await w1.lookup(AOR, T0 + 2500)).bindings.map((b) => b.key).sort()).toEqual(["k1", "k2"]);
    expect(w1.stats.hits).toBe(hits);
  });

  it("RFC 5626 §5.3: markUnreachable drops cached AORs on that flow even when another worker flipped them first", async () => {
    const { w1, w2 } = cluster();
    await w1.register(registerOp(AOR, "c1", 1, T0, [contactChange("k1", { flowToken: "F1", edge: "10.0.0.1:5070" })]));
    expect((await w1.lookup(AOR, T0)).bindings[0]?.reachable).toBe(true);
    expect(await w2.markUnreachable({ flowToken: "F1" }, "flow-failed", T0 + 1)).toEqual([AOR]);
    // w1 hears the same flow-failed event; the store flips nothing more, yet w1's copy is dropped.
    expect(await w1.markUnreachable({ flowToken: "F1" }, "flow-failed", T0 + 2)).toEqual([]);
    const b = (await w1.lookup(AOR, T0 + 3)).bindings[0];
    expect(b).toMatchObject({ reachable: false, reason: "flow-failed" });
  });

  it("DESIGN §3: edge-down invalidates by edge; clear() on ring change forgets everything", async () => {
    const { w1, w2 } = cluster();
    await w1.register(registerOp(AOR, "c1", 1, T0, [contactChange("k1", { edge: "10.0.0.9:5070" })]));
    await w1.register(registerOp("sip:bob@example.com", "c2", 1, T0, [contactChange("k2", { edge: "10.0.0.1:5070" })]));
    await w1.lookup(AOR, T0);
    await w1.lookup("sip:bob@example.com", T0);
    expect(w1.size).toBe(2);
    await w2.markUnreachable({ edge: "10.0.0.9:5070" }, "edge-down", T0 + 1);
    await w1.markUnreachable({ edge: "10.0.0.9:5070" }, "edge-down", T0 + 2);
    expect(w1.size).toBe(1);
    expect((await w1.lookup(AOR, T0 + 3)).bindings[0]?.reason).toBe("edge-down");
    w1.clear();
    expect(w1.size).toBe(0);
  });

  it("does not serve expired bindings from the cache, nor cache empty results", async () => {
    const { w1 } = cluster();
    await w1.register(registerOp(AOR, "c1", 1, T0, [contactChange("k1", { expires: 2 })]));
    await w1.lookup(AOR, T0);
    expect(await w1.lookup(AOR, T0 + 2500)).toEqual({ known: true, bindings: [] });
    await w1.lookup("sip:nobody@example.com", T0);
    expect(w1.size).toBe(0);
  });

  it("is bounded: the least recently used entry goes first", async () => {
    const shared = new MemoryBindingStore();
    const c = new CachedBindingStore(shared, { maxEntries: 2 });
    for (const u of ["a", "b", "c"]) await shared.register(registerOp(`sip:${u}@x`, "c", 1, T0, [contactChange("k")]));
    await c.lookup("sip:a@x", T0);
    await c.lookup("sip:b@x", T0);
    await c.lookup("sip:a@x", T0); // a is now the most recent
    await c.lookup("sip:c@x", T0); // evicts b
    expect(c.size).toBe(2);
    const before = c.stats.misses;
    await c.lookup("sip:a@x", T0);
    expect(c.stats.misses).toBe(before);
    await c.lookup("sip:b@x", T0);
    expect(c.stats.misses).toBe(before + 1);
    expect(() => new CachedBindingStore(shared, { maxEntries: 0 })).toThrow(RangeError);
  });

  it("a lookup racing an invalidation does not refill the cache with what it read before", async () => {
    const shared = new MemoryBindingStore();
    await shared.register(registerOp(AOR, "c1", 1, T0, [contactChange("k1")]));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = Object.assign(Object.create(shared) as MemoryBindingStore, {
      lookup: async (aor: string, now: number) => {
        const r = await shared.lookup(aor, now);
        await gate;
        return r;
      },
    });
    const c = new CachedBindingStore(slow);
    const pending = c.lookup(AOR, T0);
    c.invalidate(AOR); // bindingChanged arrives while the read is in flight
    release();
    await pending;
    expect(c.size).toBe(0);
  });
});

import { describe, expect, it } from "vitest";
import { MemoryBindingStore } from "./memory-store.js";
import { contactChange, registerOp, bindingStoreContract } from "./testing.js";
import { BindingStoreError } from "./types.js";

bindingStoreContract("MemoryBindingStore", () => Promise.resolve(new MemoryBindingStore()));

const T0 = 1_700_000_000_000;
const SEC = 1000;
const AOR = "sip:alice@example.com";

describe("MemoryBindingStore specifics", () => {
  it("honours a custom knownForMs", async () => {
    const s = new MemoryBindingStore({ knownForMs: 60 * SEC });
    await s.register(registerOp(AOR, "c1", 1, T0, [contactChange("k")]));
    await s.register(registerOp(AOR, "c1", 2, T0, [], { removeAll: true }));
    expect((await s.lookup(AOR, T0 + 59 * SEC)).known).toBe(true);
    expect((await s.lookup(AOR, T0 + 60 * SEC)).known).toBe(false);
  });

  it("forgets tombstoned AORs once their known window has passed (sweep)", async () => {
    const s = new MemoryBindingStore({ knownForMs: 60 * SEC });
    await s.register(registerOp(AOR, "c1", 1, T0, [contactChange("k", { expires: 10 })]));
    expect(await s.sweepExpired(T0 + 10 * SEC)).toBe(1);
    expect(await s.listAors(10)).toEqual([]);
    expect((await s.lookup(AOR, T0 + 69 * SEC)).known).toBe(true);
    await s.sweepExpired(T0 + 71 * SEC);
    expect(await s.lookup(AOR, T0 + 71 * SEC)).toEqual({ known: false, bindings: [] });
  });

  it("re-registration after a tombstone keeps the AOR and its index consistent", async () => {
    const s = new MemoryBindingStore({ knownForMs: 60 * SEC });
    await s.register(registerOp(AOR, "c1", 1, T0, [contactChange("k", { flowToken: "f1" })]));
    await s.register(registerOp(AOR, "c1", 2, T0, [contactChange("k", { expires: 0 })]));
    await s.register(registerOp(AOR, "c1", 3, T0 + 30 * SEC, [contactChange("k", { flowToken: "f2" })]));
    // The forget entry scheduled at the first removal must not drop a live AOR.
    await s.sweepExpired(T0 + 100 * SEC);
    expect((await s.lookup(AOR, T0 + 100 * SEC)).bindings).toHaveLength(1);
    expect(await s.markUnreachable({ flowToken: "f1" }, "flow-failed", T0 + 100 * SEC)).toEqual([]);
    expect(await s.markUnreachable({ flowToken: "f2" }, "flow-failed", T0 + 100 * SEC)).toEqual([AOR]);
  });

  it("returned bindings are frozen: callers cannot corrupt the store", async () => {
    const s = new MemoryBindingStore();
    const r = await s.register(registerOp(AOR, "c1", 1, T0, [contactChange("k", { path: ["<sip:e;lr>"] })]));
    const b = r.ok ? r.bindings[0]! : undefined;
    expect(Object.isFrozen(b)).toBe(true);
    expect(Object.isFrozen(b!.path)).toBe(true);
  });

  it("rejects invalid ops with a typed error and writes nothing", async () => {
    const s = new MemoryBindingStore();
    const bad = [
      registerOp("", "c1", 1, T0, [contactChange("k")]),
      registerOp(AOR, "", 1, T0, [contactChange("k")]),
      registerOp(AOR, "c1", -1, T0, [contactChange("k")]),
      registerOp(AOR, "c1", 2 ** 31, T0, [contactChange("k")]), // RFC 3261 §8.1.1.5
      registerOp(AOR, "c1", 1, T0, [contactChange("k", { expires: -1 })]),
      registerOp(AOR, "c1", 1, T0, [contactChange("k", { q: 1.5 })]),
      registerOp(AOR, "c1", 1, T0, [contactChange("")]),
      registerOp(AOR, "c1", 1, T0, [contactChange("k")], { maxContacts: 0 }),
    ];
    for (const op of bad) {
      await expect(s.register(op)).rejects.toMatchObject({ name: "BindingStoreError", code: "invalid-op" });
    }
    expect((await s.lookup(AOR, T0)).known).toBe(false);
  });

  it("after close every call rejects with code 'closed'", async () => {
    const s = new MemoryBindingStore();
    await s.close();
    await expect(s.lookup(AOR, T0)).rejects.toBeInstanceOf(BindingStoreError);
    await expect(s.register(registerOp(AOR, "c1", 1, T0, []))).rejects.toMatchObject({ code: "closed" });
    await expect(s.markUnreachable({ edge: "e" }, "x", T0)).rejects.toMatchObject({ code: "closed" });
    await expect(s.close()).resolves.toBeUndefined();
  });

  it("stays fast with many AORs: markUnreachable is index-driven", async () => {
    const s = new MemoryBindingStore();
    for (let i = 0; i < 20_000; i++) {
      await s.register(registerOp(`sip:u${i}@example.com`, "c", 1, T0, [contactChange("k", { flowToken: `f${i}`, edge: `e${i % 4}` })]));
    }
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) await s.markUnreachable({ flowToken: `f${i}` }, "flow-failed", T0);
    const perCallMs = (performance.now() - t0) / 1000;
    expect(perCallMs).toBeLessThan(0.5); // a scan of 20k AORs would be well above this
    expect((await s.markUnreachable({ edge: "e1" }, "edge-down", T0)).length).toBe(4750);
  });
});

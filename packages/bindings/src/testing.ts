/**
 * The BindingStore contract suite: the executable spec every store is held to.
 *
 * ```ts
 * import { bindingStoreContract } from "@edgepath/bindings/testing";
 * bindingStoreContract("redis", async () => makeStoreOnFreshDb(), async (s) => s.close());
 * ```
 *
 * `make()` must return an EMPTY store (sweep counts are asserted exactly). Times
 * are based on the real clock (Date.now() at each test's start) and only move
 * forward, so a store that also sets server-side TTLs from `expiresAt` works.
 * AORs, flow tokens and edges are unique per test.
 */
import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { EDGE_DOWN_REASON, EDGE_RESTARTED_REASON } from "./types.js";
import type { Binding, BindingStore, ContactChange, RegisterOp, RegisterResult } from "./types.js";

type ChangeOpts = {
  expires?: number;
  q?: number;
  contact?: string;
  path?: string[];
  flowToken?: string;
  edge?: string;
  instance?: string;
  regId?: number;
  transport?: string;
  source?: string;
  userAgent?: string;
};

/** Builds a ContactChange (default expires 3600, q 1, contact = key). */
export function contactChange(key: string, o: ChangeOpts = {}): ContactChange {
  const binding: { -readonly [K in keyof ContactChange["binding"]]: ContactChange["binding"][K] } = {
    contact: o.contact ?? key,
    q: o.q ?? 1,
    path: o.path ?? [],
  };
  if (o.flowToken !== undefined) binding.flowToken = o.flowToken;
  if (o.edge !== undefined) binding.edge = o.edge;
  if (o.instance !== undefined) binding.instance = o.instance;
  if (o.regId !== undefined) binding.regId = o.regId;
  if (o.transport !== undefined) binding.transport = o.transport;
  if (o.source !== undefined) binding.source = o.source;
  if (o.userAgent !== undefined) binding.userAgent = o.userAgent;
  return { key, expires: o.expires ?? 3600, binding };
}

/** Builds a RegisterOp (maxContacts 10 unless given). */
export function registerOp(
  aor: string,
  callId: string,
  cseq: number,
  now: number,
  changes: readonly ContactChange[],
  o: { removeAll?: boolean; maxContacts?: number } = {},
): RegisterOp {
  return { aor, callId, cseq, now, changes, removeAll: o.removeAll ?? false, maxContacts: o.maxContacts ?? 10 };
}

function okBindings(r: RegisterResult): Binding[] {
  if (!r.ok) throw new Error(`register rejected: ${r.code} ${r.reason}`);
  return r.bindings;
}

const keysOf = (bs: readonly Binding[]): string[] => bs.map((b) => b.key);
const sortedKeys = (bs: readonly Binding[]): string[] => keysOf(bs).sort();

const SEC = 1000;
const DAY = 24 * 3600 * SEC;

/** Registers describe/it blocks checking `make()`'s store against the BindingStore contract. */
export function bindingStoreContract(
  name: string,
  make: () => Promise<BindingStore>,
  cleanup?: (s: BindingStore) => Promise<void>,
): void {
  describe(`BindingStore contract: ${name}`, () => {
    let store: BindingStore;
    let T0: number;
    let id: string;
    /** A unique AOR for this test. */
    const aor = (user = "alice"): string => `sip:${user}-${id}@example.com`;
    const flow = (n: string): string => `flow-${n}-${id}`;
    const edge = (n: string): string => `edge-${n}-${id}.internal:5070`;

    beforeEach(async () => {
      store = await make();
      T0 = Math.ceil(Date.now() / SEC) * SEC + 10 * SEC;
      id = randomUUID().slice(0, 8);
    });

    afterEach(async () => {
      if (cleanup !== undefined) await cleanup(store);
      else await store.close();
    });

    describe("add, refresh, remove (RFC 3261 §10.3)", () => {
      it("a fetch on an unknown AOR returns nothing and creates nothing", async () => {
        const r = await store.register(registerOp(aor(), "c1", 1, T0, []));
        expect(r).toEqual({ ok: true, bindings: [], changed: false, routingChanged: false });
        expect(await store.lookup(aor(), T0)).toEqual({ known: false, bindings: [] });
      });

      it("adds a binding with every field stored and derived as specified", async () => {
        const path = [`<sip:${flow("a")}@${edge("a")};lr;ob>`, "<sip:outer.example.net;lr>"];
        const r = await store.register(
          registerOp(aor(), "call-1@ua", 7, T0, [
            contactChange("<urn:uuid:00000000-0000-0000-0000-000000000001>;reg-id=1", {
              contact: "sip:alice@192.0.2.10:5060;transport=tcp;ob",
              q: 0.5,
              expires: 600,
              path,
              flowToken: flow("a"),
              edge: edge("a"),
              instance: "<urn:uuid:00000000-0000-0000-0000-000000000001>",
              regId: 1,
              transport: "tcp",
              source: "192.0.2.10:49152",
              userAgent: "Phone/1.0",
            }),
          ]),
        );
        const expected: Binding = {
          aor: aor(),
          contact: "sip:alice@192.0.2.10:5060;transport=tcp;ob",
          key: "<urn:uuid:00000000-0000-0000-0000-000000000001>;reg-id=1",
          instance: "<urn:uuid:00000000-0000-0000-0000-000000000001>",
          regId: 1,
          q: 0.5,
          path,
          callId: "call-1@ua",
          cseq: 7,
          expiresAt: T0 + 600 * SEC,
          registeredAt: T0,
          updatedAt: T0,
          edge: edge("a"),
          flowToken: flow("a"),
          transport: "tcp",
          source: "192.0.2.10:49152",
          userAgent: "Phone/1.0",
          reachable: true,
          lastSeen: T0,
        };
        expect(r.ok && r.changed).toBe(true);
        expect(okBindings(r)).toStrictEqual([expected]);
        expect(await store.lookup(aor(), T0 + SEC)).toStrictEqual({ known: true, bindings: [expected] });
      });

      it("optional fields that were not given are absent, not undefined", async () => {
        await store.register(registerOp(aor(), "c1", 1, T0, [contactChange("sip:alice@192.0.2.1")]));
        const [b] = (await store.lookup(aor(), T0)).bindings;
        expect(b).toBeDefined();
        for (const k of ["instance", "regId", "edge", "flowToken", "transport", "source", "userAgent", "reason"]) {
          expect(Object.keys(b!), k).not.toContain(k);
        }
        expect(b!.path).toEqual([]);
        expect(b!.q).toBe(1);
      });

      it("RFC 3327 §5.3: the Path vector is kept in order, top first", async () => {
        const path = ["<sip:p1.example;lr>", "<sip:p2.example;lr>", "<sip:p3.example;lr>"];
        await store.register(registerOp(aor(), "c1", 1, T0, [contactChange("sip:a@h", { path })]));
        expect((await store.lookup(aor(), T0)).bindings[0]!.path).toEqual(path);
      });

      it("refresh with the same Call-ID and higher CSeq updates expiry, keeps registeredAt", async () => {
        await store.register(registerOp(aor(), "c1", 1, T0, [contactChange("sip:a@h", { expires: 60 })]));
        const r = await store.register(registerOp(aor(), "c1", 2, T0 + 30 * SEC, [contactChange("sip:a@h", { expires: 120 })]));
        const [b] = okBindings(r);
        expect(r.ok && r.changed).toBe(true);
        expect(b).toMatchObject({ cseq: 2, registeredAt: T0, updatedAt: T0 + 30 * SEC, expiresAt: T0 + 150 * SEC, lastSeen: T0 + 30 * SEC });
        expect((await store.lookup(aor(), T0 + 100 * SEC)).bindings).toHaveLength(1);
      });

      it("a refresh can change the contact's details for the same key", async () => {
        await store.register(registerOp(aor(), "c1", 1, T0, [contactChange("k", { contact: "sip:a@1.1.1.1", q: 0.1 })]));
        await store.register(registerOp(aor(), "c1", 2, T0 + SEC, [contactChange("k", { contact: "sip:a@2.2.2.2", q: 0.9, userAgent: "X" })]));
        const { bindings } = await store.lookup(aor(), T0 + SEC);
        expect(bindings).toHaveLength(1);
        expect(bindings[0]).toMatchObject({ contact: "sip:a@2.2.2.2", q: 0.9, userAgent: "X" });
      });

      it("several contacts in one REGISTER", async () => {
        const r = await store.register(
          registerOp(aor(), "c1", 1, T0, [contactChange("sip:a@1.1.1.1"), contactChange("sip:a@2.2.2.2"), contactChange("sip:a@3.3.3.3")]),
        );
        expect(sortedKeys(okBindings(r))).toEqual(["sip:a@1.1.1.1", "sip:a@2.2.2.2", "sip:a@3.3.3.3"]);
      });

      it("RFC 3261 §10.2.2: expires=0 removes the binding", async () => {
        await store.register(registerOp(aor(), "c1", 1, T0, [contactChange("sip:a@1"), contactChange("sip:a@2")]));
        const r = await store.register(registerOp(aor(), "c1", 2, T0 + SEC, [contactChange("sip:a@1", { expires: 0 })]));
        expect(r.ok && r.changed).toBe(true);
        expect(keysOf(okBindings(r))).toEqual(["sip:a@2"]);
        expect(keysOf((await store.lookup(aor(), T0 + SEC)).bindings)).toEqual(["sip:a@2"]);
      });

      it("removing a key that is not bound is a no-op (changed=false)", async () => {
        await store.register(registerOp(aor(), "c1", 1, T0, [contactChange("sip:a@1")]));
        const r = await store.register(registerOp(aor(), "c1", 2, T0, [contactChange("sip:a@nope", { expires: 0 })]));
        expect(r).toMatchObject({ ok: true, changed: false });
        expect(keysOf(okBindings(r))).toEqual(["sip:a@1"]);
      });

      it("RFC 3261 §10.2.3: a fetch returns current bindings and changes nothing", async () => {
        await store.register(registerOp(aor(), "c1", 1, T0, [contactChange("sip:a@1")]));
        const r = await store.register(registerOp(aor(), "c2", 1, T0 + 5 * SEC, []));
        expect(r).toMatchObject({ ok: true, changed: false });
        const [b] = okBindings(r);
        expect(b).toMatchObject({ callId: "c1", cseq: 1, updatedAt: T0 });
      });

      it("binding keys are opaque strings (URI params, quotes, angle brackets)", async () => {
        const keys = ['sip:a@h;transport=tcp;x="y z"', "<urn:uuid:1>;reg-id=2", "inst:<urn:uuid:1>", "sip:%61@h:5060"];
        await store.register(registerOp(aor(), "c1", 1, T0, keys.map((k) => contactChange(k))));
        expect(sortedKeys((await store.lookup(aor(), T0)).bindings)).toEqual([...keys].sort());
      });

      it("AORs are independent", async () => {
        await store.register(registerOp(aor("alice"), "c1", 1, T0, [contactChange("sip:a@1")]));
        await store.register(registerOp(aor("bob"), "c1", 1, T0, [contactChange("sip:b@1")]));
        await store.register(registerOp(aor("alice"), "c1", 2, T0, [], { removeAll: true }));
        expect(keysOf((await store.lookup(aor("bob"), T0)).bindings)).toEqual(["sip:b@1"]);
        expect((await store.lookup(aor("alice"), T0)).bindings).toEqual([]);
      });

      it("results are ordered by q descending, then most recently updated, then key", async () => {
        await store.register(
          registerOp(aor(), "c1", 1, T0, [contactChange("k-b", { q: 0.5 }), contactChange("k-a", { q: 0.5 }), contactChange("k-low", { q: 0.1 })]),
        );
        const r = await store.register(registerOp(aor(), "c2", 1, T0 + SEC, [contactChange("k-new", { q: 0.5 }), contactChange("k-top", { q: 1 })]));
        const expected = ["k-top", "k-new", "k-a", "k-b", "k-low"];
        expect(keysOf(okBindings(r))).toEqual(expected);
        expect(keysOf((await store.lookup(aor(), T0 + SEC)).bindings)).toEqual(expected);
      });
    });

    describe("Call-ID / CSeq ordering (RFC 3261 §10.3 step 7)", () => {
      it("same Call-ID and equal CSeq on every touched binding is a retransmission: nothing written, current bindings answered", async () => {
        // RFC 3261 §17.2.3 absorbs a retransmission within one worker; after a ring change it reaches another.
        await store.register(registerOp(aor(), "c1", 5, T0, [contactChange("sip:a@1", { expires: 60 }), contactChange("sip:a@2", { expires: 60 })]));
        const r = await store.register(
          registerOp(aor(), "c1", 5, T0 + SEC, [contactChange("sip:a@1", { expires: 3600 }), contactChange("sip:a@2", { expires: 3600 })]),
        );
        expect(r).toMatchObject({ ok: true, changed: false });
        expect(sortedKeys(okBindings(r))).toEqual(["sip:a@1", "sip:a@2"]);
        for (const b of okBindings(r)) expect(b).toMatchObject({ cseq: 5, expiresAt: T0 + 60 * SEC });
        expect((await store.lookup(aor(), T0 + SEC)).bindings[0]).toMatchObject({ cseq: 5, expiresAt: T0 + 60 * SEC });
      });

      it("same Call-ID and equal CSeq mixed with a change the first request did not make is rejected with 500", async () => {
        await store.register(registerOp(aor(), "c1", 5, T0, [contactChange("sip:a@1", { expires: 60 })]));
        const r = await store.register(registerOp(aor(), "c1", 5, T0 + SEC, [contactChange("sip:a@1"), contactChange("sip:a@new")]));
        expect(r).toMatchObject({ ok: false, code: "out-of-order", status: 500 });
        expect(!r.ok && r.reason.length > 0).toBe(true);
        expect(keysOf((await store.lookup(aor(), T0 + SEC)).bindings)).toEqual(["sip:a@1"]);
      });

      it("same Call-ID with lower CSeq is rejected", async () => {
        await store.register(registerOp(aor(), "c1", 5, T0, [contactChange("sip:a@1")]));
        const r = await store.register(registerOp(aor(), "c1", 4, T0 + SEC, [contactChange("sip:a@1", { expires: 0 })]));
        expect(r).toMatchObject({ ok: false, code: "out-of-order", status: 500 });
        expect((await store.lookup(aor(), T0 + SEC)).bindings).toHaveLength(1);
      });

      it("a different Call-ID always wins, even with a lower CSeq", async () => {
        await store.register(registerOp(aor(), "c1", 100, T0, [contactChange("sip:a@1")]));
        const r = await store.register(registerOp(aor(), "c2", 1, T0 + SEC, [contactChange("sip:a@1", { expires: 30 })]));
        expect(okBindings(r)[0]).toMatchObject({ callId: "c2", cseq: 1, expiresAt: T0 + 31 * SEC, registeredAt: T0 });
      });

      it("the rule applies only to the bindings an op touches", async () => {
        await store.register(registerOp(aor(), "c1", 5, T0, [contactChange("sip:a@1")]));
        const r = await store.register(registerOp(aor(), "c1", 3, T0 + SEC, [contactChange("sip:a@2")]));
        expect(sortedKeys(okBindings(r))).toEqual(["sip:a@1", "sip:a@2"]);
      });

      it("atomic: one out-of-order change rejects the whole multi-contact op", async () => {
        await store.register(registerOp(aor(), "c1", 5, T0, [contactChange("sip:a@1", { expires: 60 }), contactChange("sip:a@2", { expires: 60 })]));
        await store.register(registerOp(aor(), "c2", 9, T0, [contactChange("sip:a@3", { expires: 60 })]));
        // New key, refresh of a c2 binding (ok on its own), removal of a c1 binding, and one out-of-order refresh.
        const r = await store.register(
          registerOp(aor(), "c1", 5, T0 + SEC, [
            contactChange("sip:a@new"),
            contactChange("sip:a@3", { expires: 999 }),
            contactChange("sip:a@1", { expires: 0 }),
            contactChange("sip:a@2", { expires: 999 }),
          ]),
        );
        expect(r).toMatchObject({ ok: false, code: "out-of-order" });
        const { bindings } = await store.lookup(aor(), T0 + SEC);
        expect(sortedKeys(bindings)).toEqual(["sip:a@1", "sip:a@2", "sip:a@3"]);
        for (const b of bindings) expect(b.expiresAt).toBe(T0 + 60 * SEC);
      });

      it("RFC 3261 §10.3 step 6: removeAll (Contact: *) removes every binding", async () => {
        await store.register(registerOp(aor(), "c1", 1, T0, [contactChange("sip:a@1"), contactChange("sip:a@2")]));
        await store.register(registerOp(aor(), "c2", 1, T0, [contactChange("sip:a@3")]));
        const r = await store.register(registerOp(aor(), "c3", 1, T0 + SEC, [], { removeAll: true }));
        expect(r).toEqual({ ok: true, bindings: [], changed: true, routingChanged: true });
        expect(await store.lookup(aor(), T0 + SEC)).toEqual({ known: true, bindings: [] });
      });

      it("removeAll is rejected if any binding has the same Call-ID and a CSeq not lower", async () => {
        await store.register(registerOp(aor(), "c1", 1, T0, [contactChange("sip:a@1")]));
        await store.register(registerOp(aor(), "c2", 8, T0, [contactChange("sip:a@2")]));
        const r = await store.register(registerOp(aor(), "c2", 8, T0 + SEC, [], { removeAll: true }));
        expect(r).toMatchObject({ ok: false, code: "out-of-order", status: 500 });
        expect((await store.lookup(aor(), T0 + SEC)).bindings).toHaveLength(2);
        const r2 = await store.register(registerOp(aor(), "c2", 9, T0 + SEC, [], { removeAll: true }));
        expect(r2).toMatchObject({ ok: true, bindings: [], changed: true, routingChanged: true });
      });

      it("removeAll on an AOR without bindings is ok and unchanged", async () => {
        expect(await store.register(registerOp(aor(), "c1", 1, T0, [], { removeAll: true }))).toEqual({ ok: true, bindings: [], changed: false, routingChanged: false });
      });

      it("an expired binding no longer constrains ordering", async () => {
        await store.register(registerOp(aor(), "c1", 5, T0, [contactChange("sip:a@1", { expires: 10 })]));
        const r = await store.register(registerOp(aor(), "c1", 2, T0 + 11 * SEC, [contactChange("sip:a@1", { expires: 10 })]));
        expect(okBindings(r)[0]).toMatchObject({ cseq: 2, registeredAt: T0 + 11 * SEC });
      });
    });

    describe("RFC 5626 §6: instance and reg-id", () => {
      const INST = "<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>";

      it("a binding with the same instance+reg-id replaces the old flow's binding", async () => {
        const key = `${INST};reg-id=1`;
        await store.register(
          registerOp(aor(), "c1", 1, T0, [
            contactChange(key, { contact: "sip:a@192.0.2.1:5060;ob", instance: INST, regId: 1, flowToken: flow("old"), edge: edge("1") }),
          ]),
        );
        const r = await store.register(
          registerOp(aor(), "c2", 1, T0 + 10 * SEC, [
            contactChange(key, { contact: "sip:a@192.0.2.99:6000;ob", instance: INST, regId: 1, flowToken: flow("new"), edge: edge("2") }),
          ]),
        );
        const bs = okBindings(r);
        expect(bs).toHaveLength(1);
        expect(bs[0]).toMatchObject({ contact: "sip:a@192.0.2.99:6000;ob", flowToken: flow("new"), edge: edge("2"), registeredAt: T0, updatedAt: T0 + 10 * SEC });
        // The old flow and edge no longer lead to this AOR.
        expect(await store.markUnreachable({ flowToken: flow("old") }, "flow-failed", T0 + 11 * SEC)).toEqual([]);
        expect(await store.markUnreachable({ edge: edge("1") }, "edge-down", T0 + 11 * SEC)).toEqual([]);
        expect((await store.lookup(aor(), T0 + 11 * SEC)).bindings[0]!.reachable).toBe(true);
      });

      it("different reg-ids of one instance are separate bindings (two flows)", async () => {
        await store.register(
          registerOp(aor(), "c1", 1, T0, [
            contactChange(`${INST};reg-id=1`, { instance: INST, regId: 1, flowToken: flow("1") }),
            contactChange(`${INST};reg-id=2`, { instance: INST, regId: 2, flowToken: flow("2") }),
          ]),
        );
        await store.markUnreachable({ flowToken: flow("1") }, "flow-failed", T0 + SEC);
        const { bindings } = await store.lookup(aor(), T0 + SEC);
        expect(bindings).toHaveLength(2);
        const byKey = new Map(bindings.map((b) => [b.key, b]));
        expect(byKey.get(`${INST};reg-id=1`)!.reachable).toBe(false);
        expect(byKey.get(`${INST};reg-id=2`)!.reachable).toBe(true);
      });
    });

    describe("max contacts", () => {
      it("an op that would exceed the limit is rejected with 403 and nothing written", async () => {
        await store.register(registerOp(aor(), "c1", 1, T0, [contactChange("k1"), contactChange("k2")], { maxContacts: 2 }));
        const r = await store.register(registerOp(aor(), "c1", 2, T0 + SEC, [contactChange("k1", { expires: 99 }), contactChange("k3")], { maxContacts: 2 }));
        expect(r).toMatchObject({ ok: false, code: "too-many-contacts", status: 403 });
        const { bindings } = await store.lookup(aor(), T0 + SEC);
        expect(sortedKeys(bindings)).toEqual(["k1", "k2"]);
        expect(bindings.find((b) => b.key === "k1")!.cseq).toBe(1);
      });

      it("too many contacts in a single REGISTER on an empty AOR", async () => {
        const r = await store.register(registerOp(aor(), "c1", 1, T0, [contactChange("k1"), contactChange("k2"), contactChange("k3")], { maxContacts: 2 }));
        expect(r).toMatchObject({ ok: false, code: "too-many-contacts" });
        expect(await store.lookup(aor(), T0)).toEqual({ known: false, bindings: [] });
      });

      it("the limit applies after the change: swapping one binding for another at the limit is fine", async () => {
        await store.register(registerOp(aor(), "c1", 1, T0, [contactChange("k1"), contactChange("k2")], { maxContacts: 2 }));
        const r = await store.register(registerOp(aor(), "c1", 2, T0, [contactChange("k1", { expires: 0 }), contactChange("k3")], { maxContacts: 2 }));
        expect(sortedKeys(okBindings(r))).toEqual(["k2", "k3"]);
      });

      it("expired bindings do not count toward the limit", async () => {
        await store.register(registerOp(aor(), "c1", 1, T0, [contactChange("k1", { expires: 10 }), contactChange("k2", { expires: 10 })], { maxContacts: 2 }));
        const r = await store.register(registerOp(aor(), "c2", 1, T0 + 20 * SEC, [contactChange("k3"), contactChange("k4")], { maxContacts: 2 }));
        expect(sortedKeys(okBindings(r))).toEqual(["k3", "k4"]);
      });

      it("an AOR above a lowered limit may still refresh and shrink, but not grow", async () => {
        await store.register(registerOp(aor(), "c1", 1, T0, [contactChange("k1"), contactChange("k2"), contactChange("k3")], { maxContacts: 5 }));
        const refresh = await store.register(registerOp(aor(), "c1", 2, T0, [contactChange("k1")], { maxContacts: 2 }));
        expect(okBindings(refresh)).toHaveLength(3);
        const grow = await store.register(registerOp(aor(), "c1", 3, T0, [contactChange("k4")], { maxContacts: 2 }));
        expect(grow).toMatchObject({ ok: false, code: "too-many-contacts" });
        const shrink = await store.register(registerOp(aor(), "c1", 4, T0, [contactChange("k3", { expires: 0 })], { maxContacts: 2 }));
        expect(okBindings(shrink)).toHaveLength(2);
      });
    });

    describe("expiry", () => {
      it("expiry is enforced on read (expiresAt <= now is gone)", async () => {
        await store.register(registerOp(aor(), "c1", 1, T0, [contactChange("short", { expires: 60 }), contactChange("long", { expires: 3600 })]));
        expect(sortedKeys((await store.lookup(aor(), T0 + 60 * SEC - 1)).bindings)).toEqual(["long", "short"]);
        expect(keysOf((await store.lookup(aor(), T0 + 60 * SEC)).bindings)).toEqual(["long"]);
        expect(keysOf(okBindings(await store.register(registerOp(aor(), "c9", 1, T0 + 60 * SEC, []))))).toEqual(["long"]);
      });

      it("sweepExpired removes expired bindings and reports how many", async () => {
        await store.register(registerOp(aor("a"), "c1", 1, T0, [contactChange("a1", { expires: 10 }), contactChange("a2", { expires: 3600 })]));
        await store.register(registerOp(aor("b"), "c1", 1, T0, [contactChange("b1", { expires: 20 })]));
        expect(await store.sweepExpired(T0 + 5 * SEC)).toBe(0);
        expect(await store.sweepExpired(T0 + 30 * SEC)).toBe(2);
        expect(await store.sweepExpired(T0 + 30 * SEC)).toBe(0);
        expect(keysOf((await store.lookup(aor("a"), T0 + 30 * SEC)).bindings)).toEqual(["a2"]);
        // Swept, but recently bound: still known (480, not 404).
        expect(await store.lookup(aor("b"), T0 + 30 * SEC)).toEqual({ known: true, bindings: [] });
      });

      it("sweepExpired honours its limit", async () => {
        await store.register(
          registerOp(aor(), "c1", 1, T0, [contactChange("k1", { expires: 1 }), contactChange("k2", { expires: 2 }), contactChange("k3", { expires: 3 })]),
        );
        expect(await store.sweepExpired(T0 + 10 * SEC, 2)).toBe(2);
        expect(await store.sweepExpired(T0 + 10 * SEC, 2)).toBe(1);
      });

      it("a refreshed binding is not swept at its old expiry", async () => {
        await store.register(registerOp(aor(), "c1", 1, T0, [contactChange("k1", { expires: 10 })]));
        await store.register(registerOp(aor(), "c1", 2, T0 + 5 * SEC, [contactChange("k1", { expires: 100 })]));
        expect(await store.sweepExpired(T0 + 20 * SEC)).toBe(0);
        expect((await store.lookup(aor(), T0 + 20 * SEC)).bindings).toHaveLength(1);
        expect(await store.sweepExpired(T0 + 200 * SEC)).toBe(1);
      });
    });

    describe("known vs unknown AOR (404 vs 480)", () => {
      it("never registered: unknown", async () => {
        expect(await store.lookup(aor("nobody"), T0)).toEqual({ known: false, bindings: [] });
      });

      it("removed: known for 24 h, then unknown", async () => {
        await store.register(registerOp(aor(), "c1", 1, T0, [contactChange("k1")]));
        await store.register(registerOp(aor(), "c1", 2, T0 + 10 * SEC, [contactChange("k1", { expires: 0 })]));
        expect(await store.lookup(aor(), T0 + 10 * SEC + DAY - SEC)).toEqual({ known: true, bindings: [] });
        expect(await store.lookup(aor(), T0 + 10 * SEC + DAY + SEC)).toEqual({ known: false, bindings: [] });
      });

      it("expired: known for 24 h after the expiry, then unknown", async () => {
        await store.register(registerOp(aor(), "c1", 1, T0, [contactChange("k1", { expires: 60 })]));
        expect(await store.lookup(aor(), T0 + 60 * SEC + DAY - SEC)).toEqual({ known: true, bindings: [] });
        expect(await store.lookup(aor(), T0 + 60 * SEC + DAY + SEC)).toEqual({ known: false, bindings: [] });
      });

      it("expired and swept: same answer", async () => {
        await store.register(registerOp(aor(), "c1", 1, T0, [contactChange("k1", { expires: 60 })]));
        expect(await store.sweepExpired(T0 + 61 * SEC)).toBe(1);
        expect((await store.lookup(aor(), T0 + 60 * SEC + DAY - SEC)).known).toBe(true);
        await store.sweepExpired(T0 + 60 * SEC + DAY + SEC);
        expect((await store.lookup(aor(), T0 + 60 * SEC + DAY + SEC)).known).toBe(false);
      });
    });

    describe("routingChanged: what other workers' caches must hear about", () => {
      const full = (o: ChangeOpts = {}): ContactChange =>
        contactChange("<urn:uuid:r>;reg-id=1", {
          contact: "sip:r@192.0.2.5:5060;ob",
          path: [`<sip:${flow("r")}@${edge("r")};lr;ob>`],
          flowToken: flow("r"),
          edge: edge("r"),
          instance: "<urn:uuid:r>",
          regId: 1,
          transport: "udp",
          source: "192.0.2.5:5060",
          userAgent: "Phone/2",
          expires: 60,
          ...o,
        });

      it("a new binding is a routing change; a pure refresh (new CSeq or Call-ID, later expiry) is not", async () => {
        const first = await store.register(registerOp(aor(), "c1", 1, T0, [full()]));
        expect(first).toMatchObject({ ok: true, changed: true, routingChanged: true });
        const refresh = await store.register(registerOp(aor(), "c1", 2, T0 + 30 * SEC, [full()]));
        expect(refresh).toMatchObject({ ok: true, changed: true, routingChanged: false });
        expect(okBindings(refresh)[0]).toMatchObject({ cseq: 2, expiresAt: T0 + 90 * SEC, registeredAt: T0 });
        // A rebooted phone re-registering the same flow with a new Call-ID is still a refresh.
        const reboot = await store.register(registerOp(aor(), "c2", 1, T0 + 40 * SEC, [full({ expires: 120 })]));
        expect(reboot).toMatchObject({ ok: true, routingChanged: false });
        expect((await store.lookup(aor(), T0 + 150 * SEC)).bindings).toHaveLength(1);
      });

      for (const [what, o] of [
        ["contact", { contact: "sip:r@192.0.2.6:5060;ob" }],
        ["q", { q: 0.5 }],
        ["Path", { path: [`<sip:${"x"}@edge-other:5070;lr;ob>`] }],
        ["flow token", { flowToken: "other-flow" }],
        ["edge", { edge: "edge-other:5070" }],
        ["transport", { transport: "tcp" }],
        ["source", { source: "192.0.2.5:6000" }],
        ["User-Agent", { userAgent: "Phone/3" }],
      ] as const) {
        it(`a refresh that changes the ${what} is a routing change`, async () => {
          await store.register(registerOp(aor(), "c1", 1, T0, [full()]));
          const r = await store.register(registerOp(aor(), "c1", 2, T0 + SEC, [full(o as ChangeOpts)]));
          expect(r).toMatchObject({ ok: true, changed: true, routingChanged: true });
        });
      }

      it("removing a binding is a routing change; a refresh of an unreachable binding is one too", async () => {
        await store.register(registerOp(aor(), "c1", 1, T0, [full(), contactChange("sip:other@h")]));
        expect(await store.register(registerOp(aor(), "c1", 2, T0 + SEC, [contactChange("sip:other@h", { expires: 0 })]))).toMatchObject({
          ok: true,
          routingChanged: true,
        });
        await store.markUnreachable({ flowToken: flow("r") }, "flow-failed", T0 + 2 * SEC);
        const back = await store.register(registerOp(aor(), "c1", 3, T0 + 3 * SEC, [full()]));
        expect(back).toMatchObject({ ok: true, routingChanged: true });
        expect(okBindings(back)[0]).toMatchObject({ reachable: true });
        // ...and the next one, reachable again, is a pure refresh.
        expect(await store.register(registerOp(aor(), "c1", 4, T0 + 4 * SEC, [full()]))).toMatchObject({ ok: true, routingChanged: false });
      });

      it("after pure refreshes, markUnreachable by flow and by edge still finds the AOR", async () => {
        await store.register(registerOp(aor(), "c1", 1, T0, [full()]));
        for (let i = 2; i < 6; i++) await store.register(registerOp(aor(), "c1", i, T0 + i * 20 * SEC, [full()]));
        expect(await store.markUnreachable({ flowToken: flow("r") }, "flow-failed", T0 + 130 * SEC)).toEqual([aor()]);
        await store.register(registerOp(aor(), "c1", 7, T0 + 140 * SEC, [full()]));
        for (let i = 8; i < 12; i++) await store.register(registerOp(aor(), "c1", i, T0 + 140 * SEC + i * 20 * SEC, [full()]));
        expect(await store.markUnreachable({ edge: edge("r") }, "edge-down", T0 + 400 * SEC)).toEqual([aor()]);
      });
    });

    describe("reachability (DESIGN §3, RFC 5626 §5.3)", () => {
      it("markUnreachable by flow token flips every binding on that flow and returns their AORs", async () => {
        // One UA registering two AORs over one connection shares a flow.
        await store.register(registerOp(aor("a"), "c1", 1, T0, [contactChange("ka", { flowToken: flow("shared"), edge: edge("1") })]));
        await store.register(registerOp(aor("b"), "c1", 1, T0, [contactChange("kb", { flowToken: flow("shared"), edge: edge("1") })]));
        await store.register(registerOp(aor("c"), "c1", 1, T0, [contactChange("kc", { flowToken: flow("other"), edge: edge("1") })]));
        const affected = await store.markUnreachable({ flowToken: flow("shared") }, "flow-failed", T0 + SEC);
        expect([...affected].sort()).toEqual([aor("a"), aor("b")].sort());
        for (const u of ["a", "b"]) {
          const { bindings } = await store.lookup(aor(u), T0 + SEC);
          // Registered is not reachable: still returned, flagged.
          expect(bindings).toHaveLength(1);
          expect(bindings[0]).toMatchObject({ reachable: false, reason: "flow-failed" });
        }
        expect((await store.lookup(aor("c"), T0 + SEC)).bindings[0]!.reachable).toBe(true);
      });

      it("marking again affects nothing and keeps the first reason", async () => {
        await store.register(registerOp(aor(), "c1", 1, T0, [contactChange("k", { flowToken: flow("f"), edge: edge("1") })]));
        expect(await store.markUnreachable({ flowToken: flow("f") }, "flow-failed", T0 + SEC)).toEqual([aor()]);
        expect(await store.markUnreachable({ flowToken: flow("f") }, "flow-failed", T0 + 2 * SEC)).toEqual([]);
        expect(await store.markUnreachable({ edge: edge("1") }, "edge-down", T0 + 3 * SEC)).toEqual([]);
        expect((await store.lookup(aor(), T0 + 3 * SEC)).bindings[0]!.reason).toBe("flow-failed");
      });

      it("markUnreachable by edge flips every binding whose Path starts at that edge", async () => {
        await store.register(
          registerOp(aor("a"), "c1", 1, T0, [contactChange("k1", { edge: edge("down"), flowToken: flow("1") }), contactChange("k2", { edge: edge("up"), flowToken: flow("2") })]),
        );
        await store.register(registerOp(aor("b"), "c1", 1, T0, [contactChange("k3", { edge: edge("down"), flowToken: flow("3") })]));
        await store.register(registerOp(aor("c"), "c1", 1, T0, [contactChange("k4", { edge: edge("up"), flowToken: flow("4") })]));
        const affected = await store.markUnreachable({ edge: edge("down") }, "edge-down", T0 + SEC);
        expect([...affected].sort()).toEqual([aor("a"), aor("b")].sort());
        const a = new Map((await store.lookup(aor("a"), T0 + SEC)).bindings.map((b) => [b.key, b]));
        expect(a.get("k1")).toMatchObject({ reachable: false, reason: "edge-down" });
        expect(a.get("k2")).toMatchObject({ reachable: true });
        expect(Object.keys(a.get("k2")!)).not.toContain("reason");
        expect((await store.lookup(aor("c"), T0 + SEC)).bindings[0]!.reachable).toBe(true);
      });

      it("unknown flow token or edge affects nothing", async () => {
        await store.register(registerOp(aor(), "c1", 1, T0, [contactChange("k", { flowToken: flow("f"), edge: edge("e") })]));
        expect(await store.markUnreachable({ flowToken: flow("nope") }, "flow-failed", T0)).toEqual([]);
        expect(await store.markUnreachable({ edge: edge("nope") }, "edge-down", T0)).toEqual([]);
        expect((await store.lookup(aor(), T0)).bindings[0]!.reachable).toBe(true);
      });

      it("removed and expired bindings are not marked (the index follows the bindings)", async () => {
        await store.register(registerOp(aor("gone"), "c1", 1, T0, [contactChange("k", { flowToken: flow("f"), edge: edge("e") })]));
        await store.register(registerOp(aor("gone"), "c1", 2, T0, [contactChange("k", { expires: 0 })]));
        await store.register(registerOp(aor("old"), "c1", 1, T0, [contactChange("k", { flowToken: flow("f"), edge: edge("e"), expires: 5 })]));
        expect(await store.markUnreachable({ flowToken: flow("f") }, "flow-failed", T0 + 10 * SEC)).toEqual([]);
        expect(await store.markUnreachable({ edge: edge("e") }, "edge-down", T0 + 10 * SEC)).toEqual([]);
      });

      it("markReachable flips a binding back and records lastSeen", async () => {
        await store.register(registerOp(aor(), "c1", 1, T0, [contactChange("k", { flowToken: flow("f") })]));
        await store.markUnreachable({ flowToken: flow("f") }, "ping-timeout", T0 + SEC);
        await store.markReachable(aor(), "k", T0 + 5 * SEC);
        const [b] = (await store.lookup(aor(), T0 + 5 * SEC)).bindings;
        expect(b).toMatchObject({ reachable: true, lastSeen: T0 + 5 * SEC });
        expect(Object.keys(b!)).not.toContain("reason");
        // ...and it can be marked unreachable again.
        expect(await store.markUnreachable({ flowToken: flow("f") }, "flow-failed", T0 + 6 * SEC)).toEqual([aor()]);
      });

      it("markReachable of an unknown AOR or key is a harmless no-op", async () => {
        await store.markReachable(aor("nobody"), "k", T0);
        await store.register(registerOp(aor(), "c1", 1, T0, [contactChange("k")]));
        await store.markReachable(aor(), "other", T0);
        expect(keysOf((await store.lookup(aor(), T0)).bindings)).toEqual(["k"]);
        expect((await store.lookup(aor("nobody"), T0)).known).toBe(false);
      });

      it("edgeRestarted: UDP bindings marked edge-down come back; older connection flows on it are lost", async () => {
        const e = edge("back");
        const on = (k: string, transport: string): ContactChange => contactChange(k, { edge: e, flowToken: flow(k), transport });
        await store.register(registerOp(aor("u"), "c1", 1, T0, [on("udp1", "udp"), contactChange("other", { edge: edge("x"), flowToken: flow("x"), transport: "udp" })]));
        await store.register(registerOp(aor("t"), "c1", 1, T0, [on("tcp1", "tcp")]));
        expect([...(await store.markUnreachable({ edge: e }, EDGE_DOWN_REASON, T0 + SEC))].sort()).toEqual([aor("t"), aor("u")].sort());
        // The edge process came back at the same address, started at T0 + 5 s.
        expect(await store.edgeRestarted(e, T0 + 5 * SEC, T0 + 6 * SEC)).toEqual([aor("u")]);
        const u = new Map((await store.lookup(aor("u"), T0 + 6 * SEC)).bindings.map((b) => [b.key, b]));
        expect(u.get("udp1")).toMatchObject({ reachable: true, lastSeen: T0 });
        expect(Object.keys(u.get("udp1")!)).not.toContain("reason");
        expect(u.get("other")).toMatchObject({ reachable: true });
        // The TCP flow died with the old process: it stays unreachable (first reason kept).
        expect((await store.lookup(aor("t"), T0 + 6 * SEC)).bindings[0]).toMatchObject({ reachable: false, reason: EDGE_DOWN_REASON });
        // Idempotent.
        expect(await store.edgeRestarted(e, T0 + 5 * SEC, T0 + 7 * SEC)).toEqual([]);
      });

      it("edgeRestarted in place (never reported down): connection flows refreshed before the restart become unreachable", async () => {
        const e = edge("quick");
        await store.register(registerOp(aor("old"), "c1", 1, T0, [contactChange("ws1", { edge: e, flowToken: flow("ws1"), transport: "wss" })]));
        await store.register(registerOp(aor("udp"), "c1", 1, T0, [contactChange("u1", { edge: e, flowToken: flow("u1"), transport: "udp" })]));
        // A UA that reconnected through the new process and re-registered after it started.
        await store.register(registerOp(aor("new"), "c1", 1, T0 + 3 * SEC, [contactChange("t1", { edge: e, flowToken: flow("t1"), transport: "tcp" })]));
        expect(await store.edgeRestarted(e, T0 + 2 * SEC, T0 + 4 * SEC)).toEqual([aor("old")]);
        expect((await store.lookup(aor("old"), T0 + 4 * SEC)).bindings[0]).toMatchObject({ reachable: false, reason: EDGE_RESTARTED_REASON });
        expect((await store.lookup(aor("new"), T0 + 4 * SEC)).bindings[0]).toMatchObject({ reachable: true });
        expect((await store.lookup(aor("udp"), T0 + 4 * SEC)).bindings[0]).toMatchObject({ reachable: true });
        // A UDP flow that failed on its own (pings unanswered) is not undone by the edge's return.
        await store.markUnreachable({ flowToken: flow("u1") }, "ping-timeout", T0 + 5 * SEC);
        expect(await store.edgeRestarted(e, T0 + 2 * SEC, T0 + 7 * SEC)).toEqual([]); // the same restart, heard again
        expect((await store.lookup(aor("udp"), T0 + 7 * SEC)).bindings[0]).toMatchObject({ reachable: false, reason: "ping-timeout" });
        expect(await store.edgeRestarted(edge("nope"), T0, T0)).toEqual([]);
      });

      it("a re-registration makes an unreachable binding reachable again", async () => {
        await store.register(registerOp(aor(), "c1", 1, T0, [contactChange("k", { flowToken: flow("f"), edge: edge("e") })]));
        await store.markUnreachable({ edge: edge("e") }, "edge-down", T0 + SEC);
        const r = await store.register(registerOp(aor(), "c1", 2, T0 + 20 * SEC, [contactChange("k", { flowToken: flow("g"), edge: edge("e2") })]));
        const [b] = okBindings(r);
        expect(b).toMatchObject({ reachable: true, lastSeen: T0 + 20 * SEC, flowToken: flow("g") });
        expect(Object.keys(b!)).not.toContain("reason");
        expect(await store.markUnreachable({ edge: edge("e2") }, "edge-down", T0 + 21 * SEC)).toEqual([aor()]);
      });
    });

    describe("concurrency and atomicity", () => {
      it("concurrent registers of distinct contacts respect maxContacts exactly", async () => {
        const ops = Array.from({ length: 16 }, (_, i) =>
          store.register(registerOp(aor(), `call-${i}`, 1, T0, [contactChange(`sip:ua${i}@192.0.2.${i}`)], { maxContacts: 10 })),
        );
        const results = await Promise.all(ops);
        const ok = results.filter((r) => r.ok);
        expect(ok).toHaveLength(10);
        for (const r of results) if (!r.ok) expect(r.code).toBe("too-many-contacts");
        expect((await store.lookup(aor(), T0)).bindings).toHaveLength(10);
        // Each successful result saw its own binding.
        results.forEach((r, i) => {
          if (r.ok) expect(keysOf(r.bindings)).toContain(`sip:ua${i}@192.0.2.${i}`);
        });
      });

      it("concurrent refreshes of one binding with one Call-ID end at the highest CSeq", async () => {
        await store.register(registerOp(aor(), "c1", 1, T0, [contactChange("k", { expires: 60 })]));
        const cseqs = [7, 3, 12, 5, 20, 2, 9, 15, 11, 4];
        const results = await Promise.all(
          cseqs.map((cseq) => store.register(registerOp(aor(), "c1", cseq, T0 + cseq * SEC, [contactChange("k", { expires: 60 + cseq })]))),
        );
        for (const r of results) if (!r.ok) expect(r.code).toBe("out-of-order");
        expect(results[cseqs.indexOf(20)]!.ok).toBe(true);
        const [b] = (await store.lookup(aor(), T0 + 20 * SEC)).bindings;
        expect(b).toMatchObject({ cseq: 20, expiresAt: T0 + 20 * SEC + 80 * SEC });
      });

      it("concurrent add and removeAll leave either nothing or only the add", async () => {
        await store.register(registerOp(aor(), "c1", 1, T0, [contactChange("k1"), contactChange("k2")]));
        const [add, clear] = await Promise.all([
          store.register(registerOp(aor(), "c2", 1, T0 + SEC, [contactChange("k3")])),
          store.register(registerOp(aor(), "c3", 1, T0 + SEC, [], { removeAll: true })),
        ]);
        expect(add.ok && clear.ok).toBe(true);
        const keys = sortedKeys((await store.lookup(aor(), T0 + SEC)).bindings);
        expect([[], ["k3"]]).toContainEqual(keys);
      });
    });

    describe("admin", () => {
      it("listAors (when implemented) lists AORs with bindings", async () => {
        if (store.listAors === undefined) return expect(typeof store.listAors).toBe("undefined");
        await store.register(registerOp(aor("x"), "c1", 1, T0, [contactChange("k")]));
        await store.register(registerOp(aor("y"), "c1", 1, T0, [contactChange("k")]));
        const list = await store.listAors(1000);
        expect(list).toEqual(expect.arrayContaining([aor("x"), aor("y")]));
        expect((await store.listAors(1)).length).toBeLessThanOrEqual(1);
      });
    });
  });
}

import { describe, expect, it, vi } from "vitest";
import { pino } from "pino";
import { MemoryBindingStore } from "@edgepath/bindings";
import { contactChange } from "@edgepath/bindings/testing";
import { InProcessBus, Subjects } from "@edgepath/cluster";
import { applyFlowAlive, subscribeFlowAlive } from "./flow-alive.js";

const AOR = "sip:alice@example.com";

async function storeWithTwoFlows(now: number): Promise<MemoryBindingStore> {
  const store = new MemoryBindingStore();
  const r = await store.register({
    aor: AOR,
    callId: "c1",
    cseq: 1,
    now,
    removeAll: false,
    maxContacts: 10,
    changes: [contactChange("sip:a@192.0.2.1", { flowToken: "udp-flow" }), contactChange("sip:b@192.0.2.2", { flowToken: "other-flow" })],
  });
  expect(r.ok).toBe(true);
  await store.markUnreachable({ flowToken: "udp-flow" }, "flow-failed: ping-timeout", now);
  await store.markUnreachable({ flowToken: "other-flow" }, "flow-failed: closed", now);
  return store;
}

const reachability = async (store: MemoryBindingStore, now: number): Promise<Record<string, boolean>> =>
  Object.fromEntries((await store.lookup(AOR, now)).bindings.map((b) => [b.contact, b.reachable]));

describe("flowAlive on the registrar side (DESIGN §3)", () => {
  it("marks reachable only the unreachable bindings of that flow token, in the AORs named", async () => {
    const now = Date.now();
    const store = await storeWithTwoFlows(now);
    expect(await applyFlowAlive(store, { flowToken: "udp-flow", edge: "10.0.0.5:5070", aors: [AOR, "sip:nobody@example.com"], at: now }, now + 1)).toBe(1);
    expect(await reachability(store, now + 2)).toEqual({ "sip:a@192.0.2.1": true, "sip:b@192.0.2.2": false });
    const a = (await store.lookup(AOR, now + 2)).bindings.find((b) => b.contact === "sip:a@192.0.2.1")!;
    expect(a.reason).toBeUndefined();
    // Idempotent: a second event changes nothing.
    expect(await applyFlowAlive(store, { flowToken: "udp-flow", edge: "10.0.0.5:5070", aors: [AOR], at: now }, now + 3)).toBe(0);
  });

  it("subscribes to Subjects.flowAlive and ignores malformed events", async () => {
    const now = Date.now();
    const store = await storeWithTwoFlows(now);
    const bus = new InProcessBus();
    const sub = subscribeFlowAlive(bus, store, pino({ level: "silent" }));
    bus.publish(Subjects.flowAlive, { flowToken: 42, aors: [AOR] });
    bus.publish(Subjects.flowAlive, "not json");
    await bus.flush();
    expect(await reachability(store, Date.now())).toEqual({ "sip:a@192.0.2.1": false, "sip:b@192.0.2.2": false });
    bus.publish(Subjects.flowAlive, { flowToken: "other-flow", edge: "e", aors: [AOR], at: now });
    await vi.waitFor(async () => expect((await reachability(store, Date.now()))["sip:b@192.0.2.2"]).toBe(true), { timeout: 5000 });
    expect((await reachability(store, Date.now()))["sip:a@192.0.2.1"]).toBe(false);
    sub.unsubscribe();
    await bus.close();
  });
});

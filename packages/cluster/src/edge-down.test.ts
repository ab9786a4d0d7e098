import { describe, expect, it } from "vitest";
import { InProcessBus } from "./bus.js";
import { EdgeDownPublisher, edgeDownKey, type EdgeDownTimers } from "./edge-down.js";
import { Membership, type Timers } from "./membership.js";
import { Subjects, type EdgeDown } from "./subjects.js";

function manualTimers(): EdgeDownTimers & Timers & { fire(): void; pending(): number } {
  const timeouts = new Map<number, () => void>();
  let id = 0;
  return {
    setTimeout(cb) {
      timeouts.set(++id, cb);
      return id;
    },
    clearTimeout(h) {
      timeouts.delete(h as number);
    },
    setInterval: () => 0,
    clearInterval: () => undefined,
    fire() {
      const cbs = [...timeouts.values()];
      timeouts.clear();
      for (const cb of cbs) cb();
    },
    pending: () => timeouts.size,
  };
}

const edgeBeat = (id: string, addr: string, seq = 1) => ({ id, role: "edge", sipAddress: addr, startedAt: 1, seq });

function setup(opts: { self: string; owner: () => string | undefined; live?: (id: string) => boolean }) {
  const bus = new InProcessBus();
  const timers = manualTimers();
  const edges = new Membership(bus, { role: "edge", timers });
  edges.start();
  const events: EdgeDown[] = [];
  bus.subscribe(Subjects.edgeDown, (m) => events.push(m.json<EdgeDown>()));
  const keys: string[] = [];
  const p = new EdgeDownPublisher(bus, edges, {
    self: opts.self,
    ownerOf: (k) => {
      keys.push(k);
      return opts.owner();
    },
    isWorkerLive: opts.live ?? (() => true),
    timers,
    clock: () => 42,
  });
  p.start();
  return { bus, timers, p, events, keys };
}

describe("EdgeDownPublisher (DESIGN §3: an edge that leaves makes its bindings unreachable)", () => {
  it("the ring owner of edge-down:<edge> publishes edgeDown when the edge leaves", async () => {
    const s = setup({ self: "w1", owner: () => "w1" });
    s.bus.publish(Subjects.edgeHeartbeat, edgeBeat("e1", "10.0.0.1:5070"));
    s.bus.publish(Subjects.edgeHeartbeat, edgeBeat("e2", "10.0.0.2:5070"));
    await s.bus.flush();
    expect(s.events).toEqual([]); // joining is not news
    s.bus.publish(Subjects.memberLeave, { id: "e1", role: "edge" });
    await s.bus.flush();
    await s.bus.flush();
    expect(s.events).toEqual([{ edge: "10.0.0.1:5070", at: 42 }]);
    expect(s.keys).toEqual([edgeDownKey("10.0.0.1:5070")]);
    s.p.stop();
  });

  it("a non-owner does not publish while the owner is alive", async () => {
    const s = setup({ self: "w2", owner: () => "w1", live: () => true });
    s.bus.publish(Subjects.edgeHeartbeat, edgeBeat("e1", "10.0.0.1:5070"));
    await s.bus.flush();
    s.bus.publish(Subjects.memberLeave, { id: "e1", role: "edge" });
    await s.bus.flush();
    expect(s.timers.pending()).toBe(1);
    s.timers.fire();
    await s.bus.flush();
    expect(s.events).toEqual([]);
  });

  it("a non-owner publishes after the grace when the owner died too and it now owns the key", async () => {
    let owner = "w1";
    const s = setup({ self: "w2", owner: () => owner, live: (id) => id !== "w1" });
    s.bus.publish(Subjects.edgeHeartbeat, edgeBeat("e1", "10.0.0.1:5070"));
    await s.bus.flush();
    s.bus.publish(Subjects.memberLeave, { id: "e1", role: "edge" });
    await s.bus.flush();
    expect(s.events).toEqual([]);
    owner = "w2"; // w1 left the ring meanwhile
    s.timers.fire();
    await s.bus.flush();
    expect(s.events.map((e) => e.edge)).toEqual(["10.0.0.1:5070"]);
  });

  it("an edge that comes back within the grace is not reported", async () => {
    let owner = "w1";
    const s = setup({ self: "w2", owner: () => owner, live: () => false });
    s.bus.publish(Subjects.edgeHeartbeat, edgeBeat("e1", "10.0.0.1:5070"));
    await s.bus.flush();
    s.bus.publish(Subjects.memberLeave, { id: "e1", role: "edge" });
    await s.bus.flush();
    s.bus.publish(Subjects.edgeHeartbeat, edgeBeat("e1", "10.0.0.1:5070", 2));
    await s.bus.flush();
    expect(s.timers.pending()).toBe(0);
    owner = "w2";
    s.timers.fire();
    await s.bus.flush();
    expect(s.events).toEqual([]);
  });
});

import { describe, expect, it } from "vitest";
import { InProcessBus } from "./bus.js";
import { EdgeDownPublisher, edgeDownKey, type EdgeDownTimers } from "./edge-down.js";
import { Membership, type Timers } from "./membership.js";
import { Subjects, type EdgeDown, type EdgeUp } from "./subjects.js";

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

describe("EdgeDownPublisher: the way back (edgeUp)", () => {
  const beat = (id: string, addr: string, startedAt: number, seq: number) => ({ id, role: "edge", sipAddress: addr, startedAt, seq });

  function upSetup(self: string, owner: string) {
    const s = setup({ self, owner: () => owner });
    const ups: EdgeUp[] = [];
    s.bus.subscribe(Subjects.edgeUp, (m) => ups.push(m.json<EdgeUp>()));
    return { ...s, ups };
  }

  it("an edge reported down that heartbeats again is published as up, with its new process start", async () => {
    const s = upSetup("w1", "w1");
    s.bus.publish(Subjects.edgeHeartbeat, beat("e1", "10.0.0.1:5070", 100, 1));
    await s.bus.flush();
    expect(s.ups).toEqual([]); // first sight is not a return
    s.bus.publish(Subjects.memberLeave, { id: "e1", role: "edge" });
    await s.bus.flush();
    await s.bus.flush();
    expect(s.events).toEqual([{ edge: "10.0.0.1:5070", at: 42 }]);
    s.bus.publish(Subjects.edgeHeartbeat, beat("e1", "10.0.0.1:5070", 200, 1));
    await s.bus.flush();
    expect(s.ups).toEqual([{ edge: "10.0.0.1:5070", startedAt: 200, at: 42 }]);
    // Further heartbeats of the same process are not news.
    s.bus.publish(Subjects.edgeHeartbeat, beat("e1", "10.0.0.1:5070", 200, 2));
    await s.bus.flush();
    expect(s.ups).toHaveLength(1);
    s.p.stop();
  });

  it("a restart in place (new startedAt, never reported down) is published as up", async () => {
    const s = upSetup("w1", "w1");
    s.bus.publish(Subjects.edgeHeartbeat, beat("e1", "10.0.0.1:5070", 100, 5));
    await s.bus.flush();
    s.bus.publish(Subjects.edgeHeartbeat, beat("e1", "10.0.0.1:5070", 300, 1));
    await s.bus.flush();
    expect(s.events).toEqual([]);
    expect(s.ups).toEqual([{ edge: "10.0.0.1:5070", startedAt: 300, at: 42 }]);
    s.p.stop();
  });

  it("an edgeDown heard from another worker counts; only the owner publishes the return", async () => {
    const owner = upSetup("w1", "w1");
    const other = upSetup("w2", "w1");
    for (const s of [owner, other]) {
      s.bus.publish(Subjects.edgeDown, { edge: "10.0.0.9:5070", at: 1 });
      await s.bus.flush();
      s.bus.publish(Subjects.edgeHeartbeat, beat("e9", "10.0.0.9:5070", 500, 1));
      await s.bus.flush();
    }
    expect(owner.ups).toEqual([{ edge: "10.0.0.9:5070", startedAt: 500, at: 42 }]);
    expect(other.ups).toEqual([]);
    owner.p.stop();
    other.p.stop();
  });
});

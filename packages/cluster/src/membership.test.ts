import { describe, expect, it } from "vitest";
import { InProcessBus } from "./bus.js";
import { Heartbeater, Membership, isMemberHeartbeat, type Timers } from "./membership.js";
import { Subjects, type MemberHeartbeat } from "./subjects.js";

/** Manual clock and interval timers: tests decide when time passes. */
function fakeTime(): { now: () => number; advance(ms: number): void; stall(ms: number): void; timers: Timers; active(): number } {
  let t = 1_000_000;
  const intervals = new Map<number, { cb: () => void; ms: number; next: number }>();
  let ids = 0;
  return {
    now: () => t,
    advance(ms) {
      const end = t + ms;
      for (;;) {
        let due: { cb: () => void; ms: number; next: number } | undefined;
        for (const i of intervals.values()) if (i.next <= end && (due === undefined || i.next < due.next)) due = i;
        if (due === undefined) break;
        // Like Node: a late timer fires once, then runs on from when it fired.
        t = Math.max(t, due.next);
        due.next = t + due.ms;
        due.cb();
      }
      t = end;
    },
    /** The process did not run for `ms`: time moves, no timer fires until the next advance. */
    stall(ms) {
      t += ms;
    },
    timers: {
      setInterval(cb, ms) {
        const id = ++ids;
        intervals.set(id, { cb, ms, next: t + ms });
        return id;
      },
      clearInterval(h) {
        intervals.delete(h as number);
      },
    },
    active: () => intervals.size,
  };
}

const hb = (id: string, over: Partial<MemberHeartbeat> = {}): MemberHeartbeat => ({
  id,
  role: "worker",
  sipAddress: `127.0.0.1:${5000 + id.length}`,
  startedAt: 1,
  seq: 1,
  ...over,
});

describe("Membership (DESIGN §4: heartbeats with TTL)", () => {
  it("adds members on heartbeat, sorted by id, and ignores the other role", async () => {
    const bus = new InProcessBus();
    const time = fakeTime();
    const m = new Membership(bus, { role: "worker", ttlMs: 3000, clock: time.now, timers: time.timers });
    const changes: string[][] = [];
    m.onChange((ms) => changes.push(ms.map((x) => x.id)));
    m.start();
    bus.publish(Subjects.workerHeartbeat, hb("w2"));
    bus.publish(Subjects.workerHeartbeat, hb("w1"));
    bus.publish(Subjects.edgeHeartbeat, hb("e1", { role: "edge" }));
    bus.publish(Subjects.workerHeartbeat, hb("w9", { role: "edge" })); // role mismatch on the worker subject
    await bus.flush();
    expect(m.members().map((x) => x.id)).toEqual(["w1", "w2"]);
    expect(changes).toEqual([["w2"], ["w1", "w2"]]);
  });

  it("a refresh with the same view emits nothing; a drain flag change emits", async () => {
    const bus = new InProcessBus();
    const time = fakeTime();
    const m = new Membership(bus, { role: "worker", clock: time.now, timers: time.timers });
    let n = 0;
    m.onChange(() => n++);
    m.start();
    bus.publish(Subjects.workerHeartbeat, hb("w1", { seq: 1 }));
    bus.publish(Subjects.workerHeartbeat, hb("w1", { seq: 2 }));
    await bus.flush();
    expect(n).toBe(1);
    bus.publish(Subjects.workerHeartbeat, hb("w1", { seq: 3, draining: true }));
    await bus.flush();
    expect(n).toBe(2);
    expect(m.members()[0]?.draining).toBe(true);
  });

  it("drops a member whose heartbeats lapse past the TTL (crash), keeps one that beats", async () => {
    const bus = new InProcessBus();
    const time = fakeTime();
    const m = new Membership(bus, { role: "worker", ttlMs: 3000, clock: time.now, timers: time.timers });
    m.start();
    bus.publish(Subjects.workerHeartbeat, hb("dead"));
    bus.publish(Subjects.workerHeartbeat, hb("alive"));
    await bus.flush();
    for (let s = 2; s <= 4; s++) {
      time.advance(1000);
      bus.publish(Subjects.workerHeartbeat, hb("alive", { seq: s }));
      await bus.flush();
    }
    // 3 s after its last beat "dead" is past the TTL; the expiry timer (ttl/4) has run.
    time.advance(750);
    expect(m.members().map((x) => x.id)).toEqual(["alive"]);
  });

  it("a stall of this process is not held against members whose beats are queued behind it", async () => {
    const bus = new InProcessBus();
    const time = fakeTime();
    const m = new Membership(bus, { role: "worker", ttlMs: 3000, clock: time.now, timers: time.timers });
    m.start();
    bus.publish(Subjects.workerHeartbeat, hb("w1"));
    await bus.flush();
    time.stall(5000); // event loop blocked: the member's beats wait in the socket
    time.advance(0); // the expiry timer runs first, late
    expect(m.members().map((x) => x.id)).toEqual(["w1"]);
    bus.publish(Subjects.workerHeartbeat, hb("w1", { seq: 2 }));
    await bus.flush();
    time.advance(2000);
    expect(m.members().map((x) => x.id)).toEqual(["w1"]);
    // A member that really stopped is still dropped once the TTL passes in running time.
    time.advance(2000);
    expect(m.members()).toEqual([]);
  });

  it("a graceful leave removes the member at once", async () => {
    const bus = new InProcessBus();
    const time = fakeTime();
    const m = new Membership(bus, { role: "worker", clock: time.now, timers: time.timers });
    m.start();
    bus.publish(Subjects.workerHeartbeat, hb("w1"));
    await bus.flush();
    bus.publish(Subjects.memberLeave, { id: "w1", role: "edge" }); // other role: not ours
    await bus.flush();
    expect(m.members()).toHaveLength(1);
    bus.publish(Subjects.memberLeave, { id: "w1", role: "worker" });
    await bus.flush();
    expect(m.members()).toEqual([]);
  });

  it("ignores a reordered older beat but takes a restart (new startedAt) whatever its seq", async () => {
    const bus = new InProcessBus();
    const time = fakeTime();
    const m = new Membership(bus, { role: "worker", clock: time.now, timers: time.timers });
    m.start();
    bus.publish(Subjects.workerHeartbeat, hb("w1", { seq: 5, sipAddress: "10.0.0.1:5070" }));
    bus.publish(Subjects.workerHeartbeat, hb("w1", { seq: 4, sipAddress: "10.0.0.9:5070" }));
    await bus.flush();
    expect(m.members()[0]?.sipAddress).toBe("10.0.0.1:5070");
    bus.publish(Subjects.workerHeartbeat, hb("w1", { seq: 1, startedAt: 2, sipAddress: "10.0.0.2:5070" }));
    await bus.flush();
    expect(m.members()[0]?.sipAddress).toBe("10.0.0.2:5070");
  });

  it("ignores payloads that are not heartbeats", async () => {
    const bus = new InProcessBus();
    const m = new Membership(bus, { role: "worker" });
    m.start();
    bus.publish(Subjects.workerHeartbeat, "not json");
    bus.publish(Subjects.workerHeartbeat, { id: "", role: "worker", sipAddress: "x", startedAt: 1, seq: 1 });
    bus.publish(Subjects.workerHeartbeat, { id: "w", role: "worker", sipAddress: "x", startedAt: 1, seq: "1" });
    await bus.flush();
    expect(m.members()).toEqual([]);
    expect(isMemberHeartbeat(hb("ok"))).toBe(true);
    expect(isMemberHeartbeat({ ...hb("ok"), draining: "yes" })).toBe(false);
    m.stop();
  });

  it("stop() clears members and the expiry timer; rejects a non-positive TTL", async () => {
    const bus = new InProcessBus();
    const time = fakeTime();
    const m = new Membership(bus, { role: "worker", clock: time.now, timers: time.timers });
    m.start();
    expect(time.active()).toBe(1);
    bus.publish(Subjects.workerHeartbeat, hb("w1"));
    await bus.flush();
    m.stop();
    expect(time.active()).toBe(0);
    expect(m.members()).toEqual([]);
    expect(() => new Membership(bus, { role: "worker", ttlMs: 0 })).toThrow(RangeError);
  });
});

describe("Heartbeater", () => {
  it("beats at once and every interval with increasing seq; a Membership sees it", async () => {
    const bus = new InProcessBus();
    const time = fakeTime();
    const beats: MemberHeartbeat[] = [];
    bus.subscribe(Subjects.edgeHeartbeat, (m) => beats.push(m.json<MemberHeartbeat>()));
    const view = new Membership(bus, { role: "edge", ttlMs: 3000, clock: time.now, timers: time.timers });
    view.start();
    const h = new Heartbeater(bus, { id: "e1", role: "edge", sipAddress: "127.0.0.1:5080", startedAt: 7 }, 1000, { timers: time.timers });
    h.start();
    expect(h.running).toBe(true);
    time.advance(2000);
    await bus.flush();
    expect(beats.map((b) => b.seq)).toEqual([1, 2, 3]);
    expect(beats[0]).toEqual({ id: "e1", role: "edge", sipAddress: "127.0.0.1:5080", startedAt: 7, seq: 1 });
    expect(view.members().map((m) => m.id)).toEqual(["e1"]);
    // Long after: still a member because it keeps beating.
    for (let i = 0; i < 10; i++) {
      time.advance(1000);
      await bus.flush();
    }
    expect(view.members().map((m) => m.id)).toEqual(["e1"]);
  });

  it("DESIGN §5: setDraining beats at once with draining: true; graceful stop publishes a leave", async () => {
    const bus = new InProcessBus();
    const time = fakeTime();
    const seen: { subject: string; body: Record<string, unknown> }[] = [];
    bus.subscribe("edgepath.v1.member.>", (m) => seen.push({ subject: m.subject, body: m.json<Record<string, unknown>>() }));
    const h = new Heartbeater(bus, { id: "w1", role: "worker", sipAddress: "127.0.0.1:5070", startedAt: 1 }, 1000, { timers: time.timers });
    h.start();
    h.setDraining(true);
    h.setDraining(true); // no change: no extra beat
    h.stop(true);
    h.stop(true); // second stop: no second leave
    await bus.flush();
    expect(seen.map((s) => s.subject)).toEqual([Subjects.workerHeartbeat, Subjects.workerHeartbeat, Subjects.memberLeave]);
    expect(seen[1]?.body.draining).toBe(true);
    expect(seen[2]?.body).toEqual({ id: "w1", role: "worker" });
    expect(h.running).toBe(false);
  });

  it("a crash-style stop (not graceful) sends no leave, so peers expire it by TTL", async () => {
    const bus = new InProcessBus();
    const time = fakeTime();
    const view = new Membership(bus, { role: "worker", ttlMs: 3000, clock: time.now, timers: time.timers });
    view.start();
    const h = new Heartbeater(bus, { id: "w1", role: "worker", sipAddress: "127.0.0.1:5070", startedAt: 1 }, 1000, { timers: time.timers });
    h.start();
    await bus.flush();
    h.stop(false);
    await bus.flush();
    expect(view.members()).toHaveLength(1);
    time.advance(4000);
    expect(view.members()).toEqual([]);
  });

  it("skips beats while the bus is disconnected and rejects a non-positive interval", async () => {
    const bus = new InProcessBus();
    await bus.close();
    const h = new Heartbeater(bus, { id: "w1", role: "worker", sipAddress: "x:1", startedAt: 1 }, 1000, { timers: fakeTime().timers });
    expect(() => h.start()).not.toThrow();
    expect(() => h.stop(true)).not.toThrow();
    expect(() => new Heartbeater(bus, { id: "w", role: "worker", sipAddress: "x:1", startedAt: 1 }, 0)).toThrow(RangeError);
  });
});

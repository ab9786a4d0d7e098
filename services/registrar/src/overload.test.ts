/** QueueDelayGuard: pure logic with explicit clocks (the worker test drives it over real sockets). */
import { describe, expect, it } from "vitest";
import { overloadRetryAfter } from "@edgepath/cluster";
import { QueueDelayGuard } from "./overload.js";

const EDGE = "10.0.0.1:5070";

describe("QueueDelayGuard", () => {
  it("measures delay against the fastest recent request, so a constant clock offset is not a queue", () => {
    const g = new QueueDelayGuard(200);
    // the edge's clock runs 5 s behind ours: now - ts is 5,000 ms plus the real wait
    let now = 1_000_000;
    expect(g.delay(EDGE, now - 5_000, now)).toBe(0); // first sample is the baseline
    now += 10;
    expect(g.delay(EDGE, now - 5_003, now)).toBe(3);
    expect(g.shouldShed(3)).toBe(false);
    now += 10;
    const late = g.delay(EDGE, now - 5_350, now);
    expect(late).toBe(350);
    expect(g.shouldShed(late)).toBe(true);
    // a faster request lowers the baseline
    now += 10;
    expect(g.delay(EDGE, now - 4_990, now)).toBe(0);
    expect(g.delay(EDGE, now - 5_000, now)).toBe(10);
  });

  it("keeps a baseline per edge", () => {
    const g = new QueueDelayGuard(200);
    const now = 2_000_000;
    g.delay("10.0.0.1:5070", now - 100, now);
    g.delay("10.0.0.2:5070", now + 900, now); // that edge's clock is ahead
    expect(g.delay("10.0.0.1:5070", now - 150, now)).toBe(50);
    expect(g.delay("10.0.0.2:5070", now + 600, now)).toBe(300);
  });

  it("the baseline forgets old minima after the window (10 x 30 s)", () => {
    const g = new QueueDelayGuard(200);
    let now = 0;
    g.delay(EDGE, now, now); // offset 0
    for (let i = 0; i < 11; i++) {
      now += 30_000;
      g.delay(EDGE, now - 100, now); // offset 100 in every later bucket
    }
    expect(g.delay(EDGE, now - 100, now)).toBe(0);
  });

  it("takes a standing 'delay' that outlasts 5 s of shedding for a clock step and re-bases", () => {
    const g = new QueueDelayGuard(200);
    let now = 5_000_000;
    g.delay(EDGE, now, now);
    // the edge's clock steps back by 2 s: every request now looks 2 s late
    const seen: number[] = [];
    for (let t = 0; t <= 6_000; t += 100) {
      now += 100;
      seen.push(g.delay(EDGE, now - 2_000, now));
    }
    expect(seen[0]).toBe(2_000);
    expect(seen.slice(0, 40).every((d) => g.shouldShed(d))).toBe(true);
    // after the re-base the same requests are on time again
    expect(seen[seen.length - 1]).toBe(0);
    now += 100;
    expect(g.delay(EDGE, now - 2_000, now)).toBe(0);
  });

  it("does not re-base while real queueing comes and goes (some requests under the target)", () => {
    const g = new QueueDelayGuard(200);
    let now = 7_000_000;
    g.delay(EDGE, now, now);
    for (let t = 0; t < 10_000; t += 100) {
      now += 100;
      g.delay(EDGE, now - (t % 1_000 === 0 ? 50 : 400), now);
    }
    now += 100;
    expect(g.delay(EDGE, now - 400, now)).toBe(400);
  });

  it("target 0 turns it off; a negative or non-finite target is refused with the setting's meaning", () => {
    const off = new QueueDelayGuard(0);
    expect(off.enabled).toBe(false);
    expect(off.shouldShed(10_000)).toBe(false);
    expect(() => new QueueDelayGuard(-1)).toThrow(/queue delay target must be >= 0 ms/);
    expect(() => new QueueDelayGuard(Number.NaN)).toThrow(/queue delay target/);
  });

  it("Retry-After is spread over 1..5 s", () => {
    const seen = new Set<number>();
    for (let i = 0; i < 500; i++) seen.add(overloadRetryAfter());
    expect([...seen].sort()).toEqual([1, 2, 3, 4, 5]);
  });
});

describe("QueueDelayGuard service time", () => {
  it("time still to be spent inside the worker counts towards the target, and goes stale after 1 s without completions", () => {
    const g = new QueueDelayGuard(200);
    let t = 10_000;
    expect(g.shouldShed(150, t)).toBe(false);
    g.noteServiceTime(120, t); // first sample is taken as is
    expect(g.shouldShed(50, t)).toBe(false);
    expect(g.shouldShed(100, t)).toBe(true); // 100 + 120 > 200
    // the average moves 1/16 of the way per sample
    g.noteServiceTime(8, t + 1);
    expect(g.shouldShed(86, t + 1)).toBe(false); // 86 + 113 = 199
    expect(g.shouldShed(88, t + 1)).toBe(true);
    // nothing completed for over a second: nothing is queued behind it
    t += 1_002;
    expect(g.shouldShed(150, t)).toBe(false);
  });
});

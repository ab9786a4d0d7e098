/** QueueDelayGuard: pure logic with explicit clocks (the worker test drives it over real sockets). */
import { describe, expect, it } from "vitest";
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

  it("a standing queue stays a queue (monotonic clocks: nothing is re-based away) until the 5-minute window has passed", () => {
    const g = new QueueDelayGuard(200);
    let now = 5_000_000;
    g.delay(EDGE, now, now);
    // every request from now on waited 400 ms: shed for as long as it lasts within the window
    const seen: number[] = [];
    for (let t = 0; t < 60_000; t += 100) {
      now += 100;
      seen.push(g.delay(EDGE, now - 400, now));
    }
    expect(seen.every((d) => d === 400 && g.shouldShed(d))).toBe(true);
    // after the whole window (10 x 30 s) the old minimum has aged out
    for (let t = 0; t < 300_000; t += 1_000) {
      now += 1_000;
      g.delay(EDGE, now - 400, now);
    }
    expect(g.delay(EDGE, now - 400, now)).toBe(0);
  });

  it("target 0 turns it off; a negative or non-finite target is refused with the setting's meaning", () => {
    const off = new QueueDelayGuard(0);
    expect(off.enabled).toBe(false);
    expect(off.shouldShed(10_000)).toBe(false);
    expect(() => new QueueDelayGuard(-1)).toThrow(/queue delay target must be >= 0 ms/);
    expect(() => new QueueDelayGuard(Number.NaN)).toThrow(/queue delay target/);
  });
});

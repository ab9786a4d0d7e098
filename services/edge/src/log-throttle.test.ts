import { describe, expect, it } from "vitest";
import { LogThrottle } from "./log-throttle.js";

describe("LogThrottle", () => {
  it("DESIGN §6: one line per key per interval, reporting how many were suppressed", () => {
    let now = 0;
    const t = new LogThrottle(1000, 100, () => now);
    expect(t.allow("a")).toBe(0);
    expect(t.allow("a")).toBeUndefined();
    expect(t.allow("a")).toBeUndefined();
    expect(t.allow("b")).toBe(0);
    now = 1000;
    expect(t.allow("a")).toBe(2);
    expect(t.allow("a")).toBeUndefined();
  });

  it("stays bounded: past maxKeys new keys share one overflow line per interval", () => {
    let now = 0;
    const t = new LogThrottle(1000, 2, () => now);
    expect(t.allow("a")).toBe(0);
    expect(t.allow("b")).toBe(0);
    expect(t.allow("c")).toBe(0); // the overflow line
    expect(t.allow("d")).toBeUndefined();
    now = 2000; // expired entries are swept to make room
    expect(t.allow("e")).toBe(0);
  });
});

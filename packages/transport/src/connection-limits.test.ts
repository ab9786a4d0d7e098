import { describe, expect, it } from "vitest";
import { ConnectionLimiter } from "./connection-limits.js";

describe("ConnectionLimiter (DESIGN §6 connection limits)", () => {
  it("enforces the per-IP cap without affecting other IPs", () => {
    const l = new ConnectionLimiter(10, 2);
    expect(l.tryAcquire("192.0.2.1")).toBe("ok");
    expect(l.tryAcquire("192.0.2.1")).toBe("ok");
    expect(l.tryAcquire("192.0.2.1")).toBe("per-ip");
    expect(l.tryAcquire("192.0.2.2")).toBe("ok");
    expect(l.count).toBe(3);
    l.release("192.0.2.1");
    expect(l.tryAcquire("192.0.2.1")).toBe("ok");
  });

  it("enforces the total cap and frees slots on release", () => {
    const l = new ConnectionLimiter(2, 5);
    expect(l.tryAcquire("a")).toBe("ok");
    expect(l.tryAcquire("b")).toBe("ok");
    expect(l.tryAcquire("c")).toBe("total");
    l.release("a");
    expect(l.countFor("a")).toBe(0);
    expect(l.tryAcquire("c")).toBe("ok");
  });

  it("ignores a release for an IP it does not count", () => {
    const l = new ConnectionLimiter(1, 1);
    l.release("x");
    expect(l.count).toBe(0);
    expect(l.tryAcquire("x")).toBe("ok");
  });
});

import { describe, it, expect } from "vitest";
import { NonceCodec } from "./nonce.js";

const SECRET = "unit-test-secret-0123456789";

describe("NonceCodec", () => {
  it("a nonce issued by one worker verifies on another with the same secret (DESIGN §6)", () => {
    let now = 1_700_000_000_000;
    const a = new NonceCodec({ secret: SECRET, clock: () => now });
    const b = new NonceCodec({ secret: SECRET, clock: () => now });
    const n = a.issue("example.com");
    now += 1000;
    expect(b.verify(n, "example.com")).toEqual({ ok: true, issuedAt: now - 1000 });
    expect(n).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  });

  it("RFC 2617 §3.2.1: an authentic nonce past its lifetime is stale, not invalid", () => {
    let now = 1_700_000_000_000;
    const c = new NonceCodec({ secret: SECRET, ttlMs: 10_000, clock: () => now });
    const n = c.issue("example.com");
    now += 10_001;
    expect(c.verify(n, "example.com")).toMatchObject({ ok: false, why: "stale" });
  });

  it("refuses a nonce signed with another secret, for another realm, tampered, or from the future", () => {
    let now = 1_700_000_000_000;
    const c = new NonceCodec({ secret: SECRET, clock: () => now });
    const other = new NonceCodec({ secret: "another-secret-0123456789", clock: () => now });
    const n = c.issue("example.com");
    expect(other.verify(n, "example.com")).toEqual({ ok: false, why: "invalid" });
    expect(c.verify(n, "example.org")).toEqual({ ok: false, why: "invalid" });
    const flipped = (n[3] === "A" ? "B" : "A");
    expect(c.verify(n.slice(0, 3) + flipped + n.slice(4), "example.com")).toEqual({ ok: false, why: "invalid" });
    expect(c.verify("garbage", "example.com")).toEqual({ ok: false, why: "invalid" });
    now -= 60_000; // verifier's clock far behind the issuer's
    expect(c.verify(n, "example.com")).toEqual({ ok: false, why: "invalid" });
  });

  it("every nonce is different", () => {
    const c = new NonceCodec({ secret: SECRET });
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) seen.add(c.issue("example.com"));
    expect(seen.size).toBe(1000);
  });
});

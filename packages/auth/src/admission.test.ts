import { describe, it, expect } from "vitest";
import { parseMessage } from "@edgepath/sip";
import type { SipRequest } from "@edgepath/sip";
import { checkMessageLimits, DEFAULT_MESSAGE_LIMITS, SourceRateLimiter } from "./admission.js";

function request(extra: string[]): SipRequest {
  const text = [
    "OPTIONS sip:bob@example.com SIP/2.0",
    "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1",
    ...extra,
    "From: <sip:alice@example.com>;tag=1",
    "To: <sip:bob@example.com>",
    "Call-ID: c1",
    "CSeq: 1 OPTIONS",
    "Max-Forwards: 70",
    "Content-Length: 0",
    "",
    "",
  ].join("\r\n");
  const r = parseMessage(Buffer.from(text));
  if (!r.ok || r.message.kind !== "request") throw new Error("fixture did not parse");
  return r.message;
}

describe("SourceRateLimiter", () => {
  it("allows a burst, then refuses with Retry-After until tokens refill", () => {
    const l = new SourceRateLimiter({ ratePerSec: 2, burst: 3 });
    const t = 1_000_000;
    expect([1, 2, 3].map(() => l.take("10.0.0.1", t).ok)).toEqual([true, true, true]);
    const r = l.take("10.0.0.1", t);
    expect(r).toEqual({ ok: false, retryAfterSec: 1 });
    expect(l.take("10.0.0.2", t).ok).toBe(true); // another source is unaffected
    expect(l.take("10.0.0.1", t + 500).ok).toBe(true); // one token back after 0.5 s at 2/s
    expect(l.take("10.0.0.1", t + 500).ok).toBe(false);
  });

  it("is a no-op at rate 0 and stays bounded in sources", () => {
    expect(new SourceRateLimiter({ ratePerSec: 0 }).take("x", 0).ok).toBe(true);
    const l = new SourceRateLimiter({ ratePerSec: 1, maxSources: 10 });
    for (let i = 0; i < 100; i++) l.take(`10.0.0.${i}`, 0);
    expect(l.trackedSources).toBe(10);
  });
});

describe("checkMessageLimits", () => {
  it("passes an ordinary request", () => {
    expect(checkMessageLimits(request([]), DEFAULT_MESSAGE_LIMITS)).toBeUndefined();
  });

  it("refuses too many header lines with 400", () => {
    const extra = Array.from({ length: 20 }, (_, i) => `X-Pad-${i}: x`);
    expect(checkMessageLimits(request(extra), { maxHeaders: 20, maxVia: 10, maxRoute: 10 })).toMatchObject({ status: 400, why: "too-many-headers" });
  });

  it("RFC 3261 §21.4.20: Via depth beyond the limit is 483, counting comma-joined values too", () => {
    const vias = ["Via: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK2, SIP/2.0/UDP 10.0.0.3;branch=z9hG4bK3, SIP/2.0/UDP 10.0.0.4;branch=z9hG4bK4"];
    expect(checkMessageLimits(request(vias), { maxHeaders: 100, maxVia: 3, maxRoute: 10 })).toMatchObject({ status: 483, why: "via-depth" });
    expect(checkMessageLimits(request(vias), { maxHeaders: 100, maxVia: 4, maxRoute: 10 })).toBeUndefined();
  });

  it("Route depth beyond the limit is 400", () => {
    const routes = ["Route: <sip:a.example;lr>, <sip:b.example;lr>", "Route: <sip:c.example;lr>"];
    expect(checkMessageLimits(request(routes), { maxHeaders: 100, maxVia: 10, maxRoute: 2 })).toMatchObject({ status: 400, why: "route-depth" });
    expect(checkMessageLimits(request(routes), { maxHeaders: 100, maxVia: 10, maxRoute: 3 })).toBeUndefined();
  });
});

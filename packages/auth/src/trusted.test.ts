import { createHmac } from "node:crypto";
import { describe, it, expect } from "vitest";
import { AuthError } from "./errors.js";
import { SourceStamp, TrustedNetworks } from "./trusted.js";

describe("TrustedNetworks", () => {
  it("matches IPv4 and IPv6 CIDRs, bare addresses and v4-mapped IPv6", () => {
    const t = new TrustedNetworks(["10.1.0.0/16", "192.0.2.7", "2001:db8::/32"]);
    expect(t.has("10.1.200.3")).toBe(true);
    expect(t.has("10.2.0.1")).toBe(false);
    expect(t.has("192.0.2.7")).toBe(true);
    expect(t.has("192.0.2.8")).toBe(false);
    expect(t.has("2001:db8:1::5")).toBe(true);
    expect(t.has("2001:db9::1")).toBe(false);
    expect(t.has("::ffff:10.1.0.9")).toBe(true);
    expect(t.has("not-an-ip")).toBe(false);
  });

  it("names the setting on a bad entry", () => {
    expect(() => new TrustedNetworks(["10.0.0.0/33"])).toThrow(AuthError);
    expect(() => new TrustedNetworks(["example.com"])).toThrow(/EDGEPATH_TRUSTED_CIDRS/);
  });
});

describe("SourceStamp", () => {
  it("verifies its own stamp and refuses a forged, re-used or unsigned one", () => {
    const s = new SourceStamp("cluster-secret-0123456789");
    const v = s.value("203.0.113.9", "call-1", 7);
    expect(s.verify(v, "call-1", 7)).toBe("203.0.113.9");
    expect(s.verify(v, "call-2", 7)).toBeUndefined(); // bound to the request
    expect(s.verify(v, "call-1", 8)).toBeUndefined();
    expect(s.verify(v.replace("203.0.113.9", "10.0.0.1"), "call-1", 7)).toBeUndefined();
    expect(s.verify("10.0.0.1", "call-1", 7)).toBeUndefined();
    expect(new SourceStamp("other-secret-0123456789").verify(v, "call-1", 7)).toBeUndefined();
  });
});

describe("SourceStamp HMAC (RFC 2104)", () => {
  function reference(secret: string, address: string, callId: string, cseq: number): string {
    return createHmac("sha256", Buffer.from(`edgepath-source|${secret}`, "utf8")).update(`${address}|${callId}|${cseq}`).digest().subarray(0, 12).toString("base64url");
  }

  it("RFC 2104: the signature is HMAC-SHA256 truncated to 96 bits, identical to createHmac's (edges and workers of mixed versions agree)", () => {
    const cases: Array<[string, string, string, number]> = [
      ["cluster-secret-0123456789", "203.0.113.9", "call-1", 7],
      ["s", "2001:db8::1", "a84b4c76e66710@pc33.atlanta.com", 314159],
      ["x".repeat(200), "192.0.2.1", "long-key-is-hashed-first", 1], // RFC 2104 §2: key longer than B
      ["k".repeat(64), "192.0.2.1", "key-exactly-one-block", 2],
      ["cluster-secret", "198.51.100.4", "c".repeat(400) + "ü", 4294967295], // scratch buffer grows
    ];
    for (const [secret, address, callId, cseq] of cases) {
      const s = new SourceStamp(secret);
      expect(s.value(address, callId, cseq)).toBe(`${address};sig=${reference(secret, address, callId, cseq)}`);
      // A second signature from the same (reused) buffers is not contaminated by the first.
      expect(s.value(address, "x", 1)).toBe(`${address};sig=${reference(secret, address, "x", 1)}`);
      expect(s.verify(s.value(address, callId, cseq), callId, cseq)).toBe(address);
    }
  });

  it("refuses a truncated or padded signature", () => {
    const s = new SourceStamp("cluster-secret-0123456789");
    const v = s.value("203.0.113.9", "call-1", 7);
    expect(s.verify(v.slice(0, -2), "call-1", 7)).toBeUndefined();
    expect(s.verify(v + "AA", "call-1", 7)).toBeUndefined();
  });
});

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

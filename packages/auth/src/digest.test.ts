import { describe, it, expect } from "vitest";
import { challengeValue, computeDigestResponse, computeHa1, parseAlgorithm, parseNonceCount } from "./digest.js";
import { parseAuthParams } from "@edgepath/sip";

describe("digest", () => {
  it("RFC 2617 §3.5: the MD5 qop=auth example response", () => {
    const ha1 = computeHa1("MD5", "Mufasa", "testrealm@host.com", "Circle Of Life");
    const r = computeDigestResponse({
      algorithm: "MD5",
      ha1,
      method: "GET",
      uri: "/dir/index.html",
      nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
      nc: "00000001",
      cnonce: "0a4f113b",
      qop: "auth",
    });
    expect(r).toBe("6629fae49393a05397450978507c4ef1");
  });

  it("RFC 7616 §3.9.1: the SHA-256 and MD5 example responses (RFC 8760 uses the same computation)", () => {
    const common = {
      method: "GET",
      uri: "/dir/index.html",
      nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
      nc: "00000001",
      cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
      qop: "auth" as const,
    };
    const sha = computeDigestResponse({ ...common, algorithm: "SHA-256", ha1: computeHa1("SHA-256", "Mufasa", "http-auth@example.org", "Circle of Life") });
    expect(sha).toBe("753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
    const md5 = computeDigestResponse({ ...common, algorithm: "MD5", ha1: computeHa1("MD5", "Mufasa", "http-auth@example.org", "Circle of Life") });
    expect(md5).toBe("8ca523f5e9506fed4657c9700eebdbec");
  });

  it("RFC 2617 §3.2.2: algorithm defaults to MD5, is case-insensitive, and -sess is refused", () => {
    expect(parseAlgorithm(undefined)).toBe("MD5");
    expect(parseAlgorithm("sha-256")).toBe("SHA-256");
    expect(parseAlgorithm("MD5-sess")).toBeUndefined();
    expect(parseAlgorithm("SHA-512-256")).toBeUndefined();
  });

  it("RFC 2617 §3.2.2: nc is exactly 8 hex digits", () => {
    expect(parseNonceCount("0000000a")).toBe(10);
    expect(parseNonceCount("1")).toBeUndefined();
    expect(parseNonceCount("0000000g")).toBeUndefined();
    expect(parseNonceCount(undefined)).toBeUndefined();
  });

  it("RFC 3261 §22.4: a challenge value parses back with realm, nonce, algorithm, qop and stale", () => {
    const v = challengeValue({ realm: "example.com", nonce: "abc.def", algorithm: "SHA-256", stale: true });
    const a = parseAuthParams(v);
    expect(a.scheme).toBe("Digest");
    expect(a.params.get("realm")).toBe("example.com");
    expect(a.params.get("nonce")).toBe("abc.def");
    expect(a.params.get("algorithm")).toBe("SHA-256");
    expect(a.params.get("qop")).toBe("auth");
    expect(a.params.get("stale")).toBe("true");
    expect(parseAuthParams(challengeValue({ realm: "r", nonce: "n", algorithm: "MD5", stale: false })).params.has("stale")).toBe(false);
  });
});

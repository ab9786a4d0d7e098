import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { FlowTokenCodec, FlowTokenError, sameFlow } from "./flow-token.js";
import type { FlowDescriptor, FlowTransport } from "./flow-token.js";

const SECRET = "0123456789abcdef-cluster-secret";
const codec = new FlowTokenCodec(SECRET);
const TRANSPORTS: FlowTransport[] = ["udp", "tcp", "tls", "ws", "wss"];

const v4: FlowDescriptor = {
  transport: "udp",
  localAddress: "10.0.0.1",
  localPort: 5060,
  remoteAddress: "203.0.113.7",
  remotePort: 40123,
  connectionId: 0,
};

function decodeOk(token: string): FlowDescriptor {
  const r = codec.decode(token);
  if (!r.ok) throw new Error(`decode failed: ${r.reason}`);
  return r.flow;
}

describe("FlowTokenCodec round trip (RFC 5626 §5.2 flow token)", () => {
  it.each(TRANSPORTS)("IPv4 over %s", (transport) => {
    const flow = { ...v4, transport, connectionId: transport === "udp" ? 0 : 4242 };
    expect(decodeOk(codec.encode(flow))).toEqual(flow);
  });

  it.each(TRANSPORTS)("IPv6 over %s", (transport) => {
    const flow: FlowDescriptor = {
      transport,
      localAddress: "2001:db8::1",
      localPort: 5061,
      remoteAddress: "2001:db8:0:1:2:3:4:5",
      remotePort: 65535,
      connectionId: transport === "udp" ? 0 : 0xffffffff,
    };
    expect(decodeOk(codec.encode(flow))).toEqual(flow);
  });

  it("mixed families: IPv4 local, IPv6 remote", () => {
    const flow = { ...v4, remoteAddress: "::1", transport: "tcp" as const, connectionId: 1 };
    expect(decodeOk(codec.encode(flow))).toEqual(flow);
  });

  it("IPv6 text comes back in RFC 5952 canonical form", () => {
    const flow = { ...v4, localAddress: "[2001:DB8:0:0:0:0:0:1]", remoteAddress: "0:0:0:0:0:ffff:c000:0201" };
    const out = decodeOk(codec.encode(flow));
    expect(out.localAddress).toBe("2001:db8::1");
    expect(out.remoteAddress).toBe("::ffff:192.0.2.1");
    expect(sameFlow(out, flow)).toBe(true);
  });

  it("RFC 5952 §4.2.3: the first of two equal zero runs is compressed", () => {
    const out = decodeOk(codec.encode({ ...v4, remoteAddress: "2001:db8:0:0:1:0:0:1" }));
    expect(out.remoteAddress).toBe("2001:db8::1:0:0:1");
  });

  it("RFC 5952 §4.2.2: a single zero group is not compressed", () => {
    const out = decodeOk(codec.encode({ ...v4, remoteAddress: "2001:db8:0:1:1:1:1:1" }));
    expect(out.remoteAddress).toBe("2001:db8:0:1:1:1:1:1");
  });

  it("round trips arbitrary descriptors (property, seeded)", () => {
    const addr = fc.oneof(fc.ipV4(), fc.ipV6());
    fc.assert(
      fc.property(
        fc.constantFrom(...TRANSPORTS),
        addr,
        fc.integer({ min: 0, max: 65535 }),
        addr,
        fc.integer({ min: 0, max: 65535 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        (transport, localAddress, localPort, remoteAddress, remotePort, connectionId) => {
          const flow = { transport, localAddress, localPort, remoteAddress, remotePort, connectionId };
          const out = decodeOk(codec.encode(flow));
          expect(sameFlow(out, flow)).toBe(true);
          // Decoding is canonical: re-encoding the decoded flow gives the same token.
          expect(codec.encode(out)).toBe(codec.encode(flow));
        },
      ),
      { seed: 5626, numRuns: 500 },
    );
  });

  it("IPv4/UDP token is compact (42 chars)", () => {
    expect(codec.encode(v4)).toHaveLength(42);
  });
});

describe("FlowTokenCodec verification", () => {
  const token = codec.encode({ ...v4, transport: "tls", connectionId: 77 });

  it("RFC 3261 §25.1: token uses only base64url chars (valid URI user part, unreserved)", () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.integer({ min: 0, max: 0xffffffff }), (ip, id) => {
        const t = codec.encode({ ...v4, remoteAddress: ip, transport: "tcp", connectionId: id });
        expect(t).toMatch(/^[A-Za-z0-9_-]+$/);
      }),
      { seed: 1, numRuns: 200 },
    );
  });

  it("tampering any byte of the token fails verification", () => {
    const bytes = Buffer.from(token, "base64url");
    for (let i = 0; i < bytes.length; i++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const t = Buffer.from(bytes);
        t[i] = t[i]! ^ mask;
        const r = codec.decode(t.toString("base64url"));
        expect(r.ok, `byte ${i} mask ${mask}`).toBe(false);
        if (i === 0) expect(r).toEqual({ ok: false, reason: "bad-version" });
        else expect(r).toEqual({ ok: false, reason: "bad-signature" });
      }
    }
  });

  it("changing any character of the token string fails", () => {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (let i = 0; i < token.length; i++) {
      for (const c of alphabet) {
        if (c === token[i]) continue;
        const t = token.slice(0, i) + c + token.slice(i + 1);
        expect(codec.decode(t).ok, `char ${i} -> ${c}`).toBe(false);
      }
    }
  });

  it("truncated or extended tokens fail", () => {
    expect(codec.decode(token.slice(0, -1)).ok).toBe(false);
    expect(codec.decode(token.slice(0, -4)).ok).toBe(false);
    expect(codec.decode(token + "AAAA").ok).toBe(false);
  });

  it("a token signed with another secret is rejected as bad-signature", () => {
    const other = new FlowTokenCodec("another-cluster-secret-0000");
    expect(other.decode(token)).toEqual({ ok: false, reason: "bad-signature" });
    expect(new FlowTokenCodec(Buffer.from(SECRET)).decode(token).ok).toBe(true);
  });

  it("an unknown version byte is bad-version", () => {
    const bytes = Buffer.from(token, "base64url");
    bytes[0] = 2;
    expect(codec.decode(bytes.toString("base64url"))).toEqual({ ok: false, reason: "bad-version" });
  });

  it("garbage never throws (property, seeded)", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: "binary" }), fc.base64String(), fc.uint8Array().map((u) => Buffer.from(u).toString("base64url"))), (s) => {
        const r = codec.decode(s);
        expect(r.ok).toBe(false);
      }),
      { seed: 42, numRuns: 1000 },
    );
    // Well-formed base64url of plausible lengths with a valid version byte: the
    // signature check is reached and must fail cleanly.
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 31, maxLength: 59 }), (u) => {
        u[0] = 1;
        expect(codec.decode(Buffer.from(u).toString("base64url"))).toEqual({ ok: false, reason: "bad-signature" });
      }),
      { seed: 43, numRuns: 500 },
    );
    for (const s of ["", "=", "!!!!", "a".repeat(10_000), token + "=", ` ${token}`, "%41%42"]) {
      expect(codec.decode(s).ok).toBe(false);
    }
    expect(codec.decode(undefined as unknown as string)).toEqual({ ok: false, reason: "malformed" });
  });

  it("padding or non-canonical trailing bits are malformed, not accepted", () => {
    // 31 bytes -> 42 chars, 42 % 4 === 2: the last char carries 4 unused bits.
    const bytes = Buffer.from(codec.encode(v4), "base64url");
    const canonical = bytes.toString("base64url");
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const lastVal = alphabet.indexOf(canonical.at(-1)!);
    const sloppy = canonical.slice(0, -1) + alphabet[lastVal | 1]!;
    expect(Buffer.from(sloppy, "base64url").equals(bytes)).toBe(true); // Node itself would accept it
    expect(codec.decode(sloppy)).toEqual({ ok: false, reason: "malformed" });
  });
});

describe("FlowTokenCodec encode errors", () => {
  it("rejects what cannot be represented with typed errors", () => {
    const cases: [Partial<FlowDescriptor>, string][] = [
      [{ localAddress: "example.com" }, "bad-address"],
      [{ remoteAddress: "fe80::1%eth0" }, "bad-address"],
      [{ remoteAddress: "1.2.3.256" }, "bad-address"],
      [{ remoteAddress: "01.2.3.4" }, "bad-address"],
      [{ remoteAddress: "1:2:3" }, "bad-address"],
      [{ remoteAddress: "1::2::3" }, "bad-address"],
      [{ localPort: 70000 }, "bad-port"],
      [{ remotePort: -1 }, "bad-port"],
      [{ connectionId: 2 ** 32 }, "bad-connection-id"],
      [{ connectionId: 1.5 }, "bad-connection-id"],
      [{ transport: "sctp" as FlowTransport }, "bad-transport"],
    ];
    for (const [patch, code] of cases) {
      let err: unknown;
      try {
        codec.encode({ ...v4, ...patch });
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(patch)).toBeInstanceOf(FlowTokenError);
      expect((err as FlowTokenError).code).toBe(code);
      expect((err as FlowTokenError).name).toBe("FlowTokenError");
    }
  });

  it("rejects an empty secret", () => {
    expect(() => new FlowTokenCodec("")).toThrow(FlowTokenError);
  });
});

describe("sameFlow", () => {
  it("compares every field and addresses by value", () => {
    expect(sameFlow(v4, { ...v4 })).toBe(true);
    expect(sameFlow(v4, { ...v4, remotePort: 1 })).toBe(false);
    expect(sameFlow(v4, { ...v4, localPort: 1 })).toBe(false);
    expect(sameFlow(v4, { ...v4, transport: "tcp" })).toBe(false);
    expect(sameFlow(v4, { ...v4, connectionId: 3 })).toBe(false);
    expect(sameFlow(v4, { ...v4, remoteAddress: "203.0.113.8" })).toBe(false);
    expect(sameFlow(v4, { ...v4, localAddress: "10.0.0.2" })).toBe(false);
    const a = { ...v4, remoteAddress: "::1" };
    expect(sameFlow(a, { ...v4, remoteAddress: "0:0:0:0:0:0:0:1" })).toBe(true);
    expect(sameFlow(a, { ...v4, remoteAddress: "[::1]" })).toBe(true);
    expect(sameFlow(a, { ...v4, remoteAddress: "::2" })).toBe(false);
    // IPv4 and IPv4-mapped IPv6 are different socket families, hence different flows.
    expect(sameFlow(v4, { ...v4, remoteAddress: "::ffff:203.0.113.7" })).toBe(false);
  });
});

describe("FlowTokenCodec result caches", () => {
  const uncached = new FlowTokenCodec(SECRET, { cacheSize: 0 });
  const flowN = (i: number): FlowDescriptor => ({ ...v4, remotePort: 1024 + (i % 60_000), remoteAddress: `198.51.100.${i % 200}` });

  it("a cached encode is byte-identical to a fresh one, also across evictions (HMAC is deterministic)", () => {
    const small = new FlowTokenCodec(SECRET, { cacheSize: 8 });
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 50; i++) expect(small.encode(flowN(i))).toBe(uncached.encode(flowN(i)));
    }
  });

  it("a cached decode returns the same verified flow, frozen so no caller can alter the cache", () => {
    const c = new FlowTokenCodec(SECRET, { cacheSize: 4 });
    const token = c.encode(v4);
    const first = c.decode(token);
    const second = c.decode(token);
    expect(first).toEqual({ ok: true, flow: v4 });
    expect(second).toBe(first);
    expect(Object.isFrozen(second)).toBe(true);
    if (second.ok) expect(Object.isFrozen(second.flow)).toBe(true);
    // Evict it (more than two generations of other tokens), then it verifies afresh.
    for (let i = 0; i < 10; i++) c.decode(c.encode(flowN(i)));
    expect(c.decode(token)).toEqual(first);
  });

  it("RFC 5626 §5.2: a tampered token still fails after the genuine one was cached", () => {
    const c = new FlowTokenCodec(SECRET);
    const token = c.encode(v4);
    expect(c.decode(token).ok).toBe(true);
    const last = token[token.length - 2] === "A" ? "B" : "A";
    const tampered = `${token.slice(0, -2)}${last}${token.slice(-1)}`;
    expect(c.decode(tampered).ok).toBe(false);
    expect(c.decode(tampered).ok).toBe(false); // and failures are never cached as successes
    expect(new FlowTokenCodec("another-secret-entirely-0123456789").decode(token)).toEqual({ ok: false, reason: "bad-signature" });
  });

  it("a bad descriptor throws every time (never cached)", () => {
    const c = new FlowTokenCodec(SECRET);
    const bad = { ...v4, localPort: 70_000 };
    expect(() => c.encode(bad)).toThrow(FlowTokenError);
    expect(() => c.encode(bad)).toThrow(FlowTokenError);
  });

  it("rejects a negative or fractional cacheSize", () => {
    expect(() => new FlowTokenCodec(SECRET, { cacheSize: -1 })).toThrow(RangeError);
    expect(() => new FlowTokenCodec(SECRET, { cacheSize: 1.5 })).toThrow(RangeError);
  });
});

describe("FlowTokenCodec edge marks (an edge's internal Record-Route entry)", () => {
  it("is deterministic per address and secret, and verifies only for that address", () => {
    const a = new FlowTokenCodec("cluster-secret-0123456789abcdef");
    const b = new FlowTokenCodec("cluster-secret-0123456789abcdef");
    const other = new FlowTokenCodec("another-secret-0123456789abcdef");
    const mark = a.edgeMark("10.0.0.6:5070");
    expect(mark).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(b.isEdgeMark("10.0.0.6:5070", mark)).toBe(true);
    expect(b.isEdgeMark("10.0.0.7:5070", mark)).toBe(false);
    expect(other.isEdgeMark("10.0.0.6:5070", mark)).toBe(false);
    expect(b.isEdgeMark("10.0.0.6:5070", `${mark.slice(0, -1)}A`)).toBe(mark.endsWith("A"));
    expect(b.isEdgeMark("10.0.0.6:5070", "")).toBe(false);
    // A mark is not a flow token and a flow token is not a mark.
    expect(a.decode(mark).ok).toBe(false);
    const token = a.encode({ transport: "udp", localAddress: "10.0.0.6", localPort: 5070, remoteAddress: "10.0.0.9", remotePort: 5070, connectionId: 0 });
    expect(a.isEdgeMark("10.0.0.6:5070", token)).toBe(false);
  });
});

import { describe, expect, it } from "vitest";
import { canonicalAor, formatUri, parseSipUri, parseTelUri, parseUri, SipParseError } from "./index.js";
import type { SipUri } from "./index.js";
import { parseUriAt } from "./uri.js";

function err(fn: () => unknown): SipParseError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SipParseError);
    return e as SipParseError;
  }
  throw new Error("did not throw");
}

describe("SIP / SIPS URI (RFC 3261 §19.1)", () => {
  it("RFC 3261 §19.1.1: user, password, host, port, params, headers", () => {
    const u = parseSipUri("sip:alice:secret@Example.COM:5070;transport=TCP;lr;maddr=10.0.0.1?subject=project%20x&priority=urgent");
    expect(u.scheme).toBe("sip");
    expect(u.user).toBe("alice");
    expect(u.password).toBe("secret");
    expect(u.host).toBe("example.com");
    expect(u.hostType).toBe("name");
    expect(u.port).toBe(5070);
    expect([...u.params]).toEqual([["transport", "TCP"], ["lr", null], ["maddr", "10.0.0.1"]]);
    expect([...u.headers]).toEqual([["subject", "project x"], ["priority", "urgent"]]);
  });

  it("RFC 3261 §19.1.1: sips scheme, case-insensitive", () => {
    expect(parseSipUri("SIPS:bob@example.com").scheme).toBe("sips");
    expect(parseSipUri("Sip:bob@example.com").scheme).toBe("sip");
  });

  it("RFC 3261 §19.1.1: host only, IPv4 host", () => {
    const u = parseSipUri("sip:192.0.2.4");
    expect(u.user).toBeUndefined();
    expect(u.host).toBe("192.0.2.4");
    expect(u.hostType).toBe("ipv4");
    expect(u.port).toBeUndefined();
  });

  it("RFC 5118 §4.1, §4.4: IPv6 reference with and without port", () => {
    const a = parseSipUri("sip:user@[2001:DB8::10]:5070");
    expect(a.host).toBe("2001:db8::10");
    expect(a.hostType).toBe("ipv6");
    expect(a.port).toBe(5070);
    expect(parseSipUri("sip:[::ffff:192.0.2.1]").host).toBe("::ffff:192.0.2.1");
  });

  it("RFC 5118 §4.3: [2001:db8::10:5070] is an address, not a port", () => {
    const u = parseSipUri("sip:user@[2001:db8::10:5070]");
    expect(u.host).toBe("2001:db8::10:5070");
    expect(u.port).toBeUndefined();
  });

  it("RFC 5118 §4.2: IPv6 without brackets is 400", () => {
    expect(err(() => parseSipUri("sip:user@2001:db8::10")).sipStatus).toBe(400);
  });

  it("RFC 5118 §4.10: a malformed IPv6 reference is 400", () => {
    for (const s of ["sip:[2001:db8:::1]", "sip:[1:2:3:4:5:6:7:8:9]", "sip:[2001:db8::1", "sip:[zz::1]"]) {
      expect(err(() => parseSipUri(s)).code, s).toBe("bad-uri");
    }
  });

  it("RFC 3261 §19.1.2: %-escapes in user, password, params and headers are decoded", () => {
    const u = parseSipUri("sip:%61lice%20b:p%40ss@h.example.com;n%61me=v%61lue%25%34%31?h%65ader=a%26b");
    expect(u.user).toBe("alice b");
    expect(u.password).toBe("p@ss");
    expect(u.params.get("name")).toBe("value%41");
    expect(u.headers.get("header")).toBe("a&b");
  });

  it("RFC 4475 §3.1.1.4: escaped NULs are kept, not truncated", () => {
    expect(parseSipUri("sip:%00%00@h.example.com").user).toBe("\u0000\u0000");
  });

  it("RFC 3261 §19.1.2: UTF-8 escapes decode as text", () => {
    expect(parseSipUri("sip:j%C3%B6rg@h").user).toBe("jörg");
  });

  it("RFC 3261 §19.1.2: an invalid escape is 400", () => {
    expect(err(() => parseSipUri("sip:a%zz@h")).sipStatus).toBe(400);
    expect(err(() => parseSipUri("sip:a%4@h")).sipStatus).toBe(400);
  });

  it("RFC 3261 §19.1.1: bad port, empty host, stray characters are 400", () => {
    for (const s of ["sip:h:99999", "sip:h:", "sip:", "sip:a@", "sip:h h", "sip:h;p=a b", "sip:h?noequals", "sip:@h"]) {
      expect(err(() => parseSipUri(s)).sipStatus, s).toBe(400);
    }
  });

  it("RFC 3261 §8.2.2.1: another scheme is 416 from parseUri; garbage is 400", () => {
    const e = err(() => parseUri("mailto:a@example.com"));
    expect(e.sipStatus).toBe(416);
    expect(e.code).toBe("unsupported-uri-scheme");
    expect(err(() => parseSipUri("http://example.com")).sipStatus).toBe(416);
    expect(err(() => parseUri("not a uri")).sipStatus).toBe(400);
  });

  it("RFC 3261 §19.1.4: formatUri re-escapes what needs it and round-trips", () => {
    const u = parseSipUri("sip:al%20ice:p%40ss@[2001:db8::1]:5060;tr%3Bx=a%20b;lr?h=a%26b");
    const s = formatUri(u);
    expect(s).toBe("sip:al%20ice:p%40ss@[2001:db8::1]:5060;tr%3Bx=a%20b;lr?h=a%26b");
    const back = parseSipUri(s);
    expect(back.user).toBe(u.user);
    expect(back.params.get("tr;x")).toBe("a b");
  });

  it("RFC 3261 §19.1.4: formatUri keeps user-unreserved characters unescaped", () => {
    const u: SipUri = { scheme: "sip", user: "+1-555;isub=1", password: undefined, host: "h", hostType: "name", port: undefined, params: new Map(), headers: new Map() };
    expect(formatUri(u)).toBe("sip:+1-555;isub=1@h");
  });
});

describe("tel URI (RFC 3966)", () => {
  it("RFC 3966 §3: global number with params", () => {
    const t = parseTelUri("tel:+1-201-555-0123;ext=1234");
    expect(t.scheme).toBe("tel");
    expect(t.number).toBe("+1-201-555-0123");
    expect(t.params.get("ext")).toBe("1234");
    expect(formatUri(t)).toBe("tel:+1-201-555-0123;ext=1234");
  });

  it("RFC 3966 §3: local number with phone-context", () => {
    const t = parseUri("TEL:7042;phone-context=example.com");
    if (t.scheme !== "tel") throw new Error("tel expected");
    expect(t.number).toBe("7042");
    expect(t.params.get("phone-context")).toBe("example.com");
  });

  it("RFC 3966 §3: empty or non-digit numbers are 400", () => {
    expect(err(() => parseTelUri("tel:")).sipStatus).toBe(400);
    expect(err(() => parseTelUri("tel:abc@x")).sipStatus).toBe(400);
  });
});

describe("canonical AOR (RFC 3261 §10.3 step 5)", () => {
  it("RFC 3261 §10.3: drops port, params, password; lower-cases host; sips -> sip", () => {
    expect(canonicalAor("sips:Alice:pw@EXAMPLE.com:5061;transport=tls?x=y")).toBe("sip:Alice@example.com");
  });

  it("RFC 3261 §19.1.4: equivalent escaped spellings give one AOR", () => {
    expect(canonicalAor("sip:%61lice@example.com")).toBe(canonicalAor("sip:alice@example.com"));
  });

  it("RFC 3261 §10.3: an already-canonical AOR string gives the same key as the full parse", () => {
    const cases = [
      "sip:alice@example.com", "sip:a.b-c_d!~*'()@host-1.example.com", "sip:bob@192.0.2.1", "sip:x@...",
      "sip:Alice@Example.com", "sip:alice@example.com:5060", "sip:alice@example.com;transport=tcp",
      "sip:al%69ce@example.com", "sip:a;b@example.com", "SIP:alice@example.com", "sips:alice@example.com",
      "sip:example.com", "sip:alice@exa_mple.com",
    ];
    for (const s of cases) expect(canonicalAor(s), s).toBe(canonicalAor(parseSipUri(s)));
    expect(() => canonicalAor("sip:alice@exa mple.com")).toThrow(SipParseError);
    expect(() => canonicalAor("sip:alice@")).toThrow(SipParseError);
    expect(() => canonicalAor("sip:@example.com")).toThrow(SipParseError);
  });

  it("RFC 3261 §10.3: IPv6 host keeps its brackets, host-only AOR", () => {
    expect(canonicalAor("sip:[2001:DB8::1]")).toBe("sip:[2001:db8::1]");
  });

  it("RFC 3261 §10.3: a tel or other URI is not an AOR (400)", () => {
    expect(err(() => canonicalAor("tel:+15551234")).sipStatus).toBe(400);
  });
});

describe("parseUriAt (the parser's Request-URI, read in the message octets)", () => {
  it("gives parseUri's result or error for every URI", () => {
    const uris = [
      "sip:example.com", "SIP:Example.COM", "sips:a@b", "sip:alice:pw@example.com", "sip::pw@h", "sip:@h", "sip:a@",
      "sip:%61lice@h", "sip:a%zz@h", "sip:a@h:5060", "sip:a@h:65536", "sip:a@h:123456", "sip:a@h:", "sip:a@h:0080",
      "sip:h;transport=tcp", "sip:h;lr;x=y?a=b", "sip:h?a=b", "sip:h;=x", "sip:1.2.3.4:5", "sip:1.2.3", "sip:999.1.1.1",
      "sip:[2001:db8::1]:5060", "sip:[::1", "sip:h!x", "sip:a@b@c", "sip:a@h:5x", "tel:+1555", "mailto:a@b", "sip", "sip:",
      "sip:a@h\u00e9", "sip:A@H.COM:5060;Transport=TCP?X=Y&Z=W",
    ];
    const outcome = (f: () => unknown): unknown => {
      try {
        return f();
      } catch (e) {
        return e instanceof SipParseError ? { status: e.sipStatus, reason: e.reason, message: e.message } : e;
      }
    };
    for (const uri of uris) {
      const text = `REGISTER ${uri} SIP/2.0\r\n`;
      const at = outcome(() => parseUriAt(Buffer.from(text, "latin1"), text, 9, 9 + uri.length, uri));
      expect(at, uri).toEqual(outcome(() => parseUri(uri)));
    }
  });
});

import { describe, expect, it } from "vitest";
import {
  canonicalName, formatNameAddr, headerDisplayName, isListHeader, parseAuthParams, parseNameAddr, parseVia, SipParseError,
  splitList, viaWithReceived,
} from "./index.js";

function err(fn: () => unknown): SipParseError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SipParseError);
    return e as SipParseError;
  }
  throw new Error("did not throw");
}

describe("header names (RFC 3261 §7.3.3)", () => {
  it("RFC 3261 §7.3.3: compact forms expand to canonical long names", () => {
    const pairs: [string, string][] = [
      ["v", "via"], ["f", "from"], ["t", "to"], ["i", "call-id"], ["m", "contact"], ["l", "content-length"], ["k", "supported"],
      ["c", "content-type"], ["s", "subject"], ["e", "content-encoding"], ["o", "event"], ["u", "allow-events"], ["r", "refer-to"],
      ["x", "session-expires"], ["b", "referred-by"], ["V", "via"],
    ];
    for (const [c, long] of pairs) expect(canonicalName(c), c).toBe(long);
  });

  it("RFC 3261 §7.3.1: canonical names are lower-case; display names as registered", () => {
    expect(canonicalName("CALL-ID")).toBe("call-id");
    expect(canonicalName("X-Foo-Bar")).toBe("x-foo-bar");
    expect(headerDisplayName("call-id")).toBe("Call-ID");
    expect(headerDisplayName("www-authenticate")).toBe("WWW-Authenticate");
    expect(headerDisplayName("x-foo-bar")).toBe("X-Foo-Bar");
  });

  it("RFC 3261 §7.3.1: only list-grammar headers are lists", () => {
    for (const h of ["via", "route", "record-route", "path", "contact", "supported", "require", "proxy-require", "unsupported", "allow"]) {
      expect(isListHeader(h), h).toBe(true);
    }
    for (const h of ["www-authenticate", "authorization", "date", "from", "to", "call-id", "cseq", "user-agent", "x-unknown"]) {
      expect(isListHeader(h), h).toBe(false);
    }
  });
});

describe("splitList (RFC 3261 §7.3.1)", () => {
  it("RFC 3261 §7.3.1: splits at top-level commas and trims", () => {
    expect(splitList(" a ,b,  c ")).toEqual(["a", "b", "c"]);
  });
  it("RFC 3261 §7.3.1: commas in quoted strings (with \\\" escapes) and <> stay", () => {
    expect(splitList('"x, \\"y, z" <sip:a@h;p=1,2>;q=1, <sip:b@h>')).toEqual(['"x, \\"y, z" <sip:a@h;p=1,2>;q=1', "<sip:b@h>"]);
  });
  it("RFC 3261 §7.3.1: empty elements are dropped", () => {
    expect(splitList("a,,b, ,")).toEqual(["a", "b"]);
    expect(splitList("")).toEqual([]);
  });
});

describe("name-addr / addr-spec (RFC 3261 §20.10, §25.1)", () => {
  it("RFC 3261 §25.1: quoted display name with quoted-pairs", () => {
    const n = parseNameAddr('"Alice \\"Al\\" Smith" <sip:alice@example.com>;tag=1');
    expect(n.displayName).toBe('Alice "Al" Smith');
    expect(n.uri).toBe("sip:alice@example.com");
    expect(n.params.get("tag")).toBe("1");
  });

  it("RFC 3261 §25.1: token display name, several tokens", () => {
    const n = parseNameAddr("Alice  Smith <sip:alice@example.com>");
    expect(n.displayName).toBe("Alice  Smith");
  });

  it("RFC 4475 §3.1.1.6: no LWS between display name and <", () => {
    expect(parseNameAddr('"caller"<sip:caller@example.com>').displayName).toBe("caller");
    expect(parseNameAddr("caller<sip:caller@example.com>").displayName).toBe("caller");
  });

  it("RFC 3261 §20.10: URI params inside <> stay URI params; header params outside", () => {
    const n = parseNameAddr("<sip:a@h;transport=tcp;lr>;expires=60;Flag");
    expect(n.uri).toBe("sip:a@h;transport=tcp;lr");
    expect([...n.params]).toEqual([["expires", "60"], ["flag", null]]);
  });

  it("RFC 3261 §20.10: addr-spec form: params after the URI are header params", () => {
    const n = parseNameAddr("sip:a@h;tag=xyz");
    expect(n.displayName).toBeUndefined();
    expect(n.uri).toBe("sip:a@h");
    expect(n.params.get("tag")).toBe("xyz");
  });

  it("RFC 3261 §25.1: LWS around ; and = in header params", () => {
    const n = parseNameAddr("<sip:a@h> ;  tag =  abc ; q = 0.5");
    expect(n.params.get("tag")).toBe("abc");
    expect(n.params.get("q")).toBe("0.5");
  });

  it("RFC 3261 §25.1: quoted header param values keep their quotes", () => {
    expect(parseNameAddr('<sip:a@h>;+sip.instance="<urn:uuid:1>"').params.get("+sip.instance")).toBe('"<urn:uuid:1>"');
  });

  it("RFC 4475 §3.1.2.6: unterminated quote is 400", () => {
    expect(err(() => parseNameAddr('"Alice <sip:a@h>')).sipStatus).toBe(400);
  });

  it("RFC 4475 §3.1.2.14: whitespace inside <> is 400", () => {
    expect(err(() => parseNameAddr("<sip:a @h>")).sipStatus).toBe(400);
  });

  it("RFC 4475 §3.1.2.15: non-token display name is 400", () => {
    expect(err(() => parseNameAddr("Smith, John <sip:a@h>")).sipStatus).toBe(400);
  });

  it("RFC 3261 §20.10: missing >, no scheme, bad params are 400", () => {
    for (const s of ["<sip:a@h", "<a@h>", "<sip:a@h>;", "<sip:a@h>;=x", "<sip:a@h>;p=", "<sip:a@h> junk", "sip:a@h?x=y"]) {
      expect(err(() => parseNameAddr(s)).sipStatus, s).toBe(400);
    }
  });

  it("formatNameAddr quotes the display name and keeps <>", () => {
    const n = parseNameAddr('"A \\"q\\"" <sip:a@h;lr>;tag=1;x');
    expect(formatNameAddr(n)).toBe('"A \\"q\\"" <sip:a@h;lr>;tag=1;x');
    expect(formatNameAddr(parseNameAddr("sip:a@h"))).toBe("<sip:a@h>");
  });
});

describe("Via (RFC 3261 §20.42, RFC 3581)", () => {
  it("RFC 3261 §20.42: sent-protocol, sent-by host and port, branch", () => {
    const v = parseVia("SIP/2.0/UDP pc33.Example.COM:5066;branch=z9hG4bK776asdhds");
    expect(v.transport).toBe("UDP");
    expect(v.host).toBe("pc33.example.com");
    expect(v.port).toBe(5066);
    expect(v.branch).toBe("z9hG4bK776asdhds");
    expect(v.received).toBeUndefined();
    expect(v.rport).toBeUndefined();
  });

  it("RFC 4475 §3.1.1.1: LWS around / : ; = is allowed", () => {
    const v = parseVia("SIP  /  2.0  /  tcp  h.example.com : 5070 ; branch = z9hG4bKx ; received = 192.0.2.1");
    expect(v.transport).toBe("TCP");
    expect(v.port).toBe(5070);
    expect(v.branch).toBe("z9hG4bKx");
    expect(v.received).toBe("192.0.2.1");
  });

  it("RFC 3581 §4: rport with and without a value", () => {
    expect(parseVia("SIP/2.0/UDP h;rport").rport).toBeNull();
    expect(parseVia("SIP/2.0/UDP h;rport=5061").rport).toBe(5061);
    expect(err(() => parseVia("SIP/2.0/UDP h;rport=99999")).reason).toBe("Bad Header: Via");
  });

  it("RFC 5118 §4.5: IPv6 sent-by and received with or without brackets", () => {
    const v = parseVia("SIP/2.0/UDP [2001:db8::9:1]:5060;received=[2001:db8::9:255];branch=z9hG4bK1");
    expect(v.host).toBe("2001:db8::9:1");
    expect(v.port).toBe(5060);
    expect(v.received).toBe("2001:db8::9:255");
    expect(parseVia("SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255").received).toBe("2001:db8::9:255");
  });

  it("RFC 3261 §20.42: params map keeps every param, keys lower-case", () => {
    const v = parseVia("SIP/2.0/UDP h;Branch=z9hG4bK1;maddr=224.2.0.1;ttl=16;alias;x=\"q\"");
    expect([...v.params]).toEqual([["branch", "z9hG4bK1"], ["maddr", "224.2.0.1"], ["ttl", "16"], ["alias", null], ["x", '"q"']]);
    expect(v.branch).toBe("z9hG4bK1");
  });

  it("RFC 3261 §20.42: malformed Via values are 400 naming Via", () => {
    for (const s of ["HTTP/1.1/TCP h", "SIP/3.0/UDP h", "SIP/2.0/UDP", "SIP/2.0/UDP h:port", "SIP/2.0/UDP h;;branch=1", "SIP/2.0/UDP h;branch", "SIP/2.0 UDP h", "SIP/2.0/UDP [::1"]) {
      expect(err(() => parseVia(s)).reason, s).toBe("Bad Header: Via");
    }
  });

  it("RFC 3261 §18.2.1: received added when sent-by differs from the source", () => {
    const v = parseVia("SIP/2.0/UDP ua.example.com:5060;branch=z9hG4bK1");
    expect(viaWithReceived(v, "192.0.2.7", 5060)).toBe("SIP/2.0/UDP ua.example.com:5060;branch=z9hG4bK1;received=192.0.2.7");
  });

  it("RFC 3261 §18.2.1: nothing added when sent-by is the source address", () => {
    const v = parseVia("SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK1");
    expect(viaWithReceived(v, "192.0.2.7", 5060)).toBe(v.raw);
    expect(viaWithReceived(v, "::ffff:192.0.2.7", 5060)).toBe(v.raw);
  });

  it("RFC 3581 §4: rport filled and received always added when rport is present", () => {
    const v = parseVia("SIP/2.0/UDP 192.0.2.7:5060;rport;branch=z9hG4bK1");
    expect(viaWithReceived(v, "192.0.2.7", 40000)).toBe("SIP/2.0/UDP 192.0.2.7:5060;rport=40000;branch=z9hG4bK1;received=192.0.2.7");
  });

  it("RFC 3261 §18.2.1: an existing received is replaced", () => {
    const v = parseVia("SIP/2.0/UDP h;received=10.0.0.1;rport=1;branch=z9hG4bK1");
    expect(viaWithReceived(v, "192.0.2.8", 2000)).toBe("SIP/2.0/UDP h;received=192.0.2.8;rport=2000;branch=z9hG4bK1");
  });
});

describe("authentication headers (RFC 3261 §25.1, §22)", () => {
  it("RFC 3261 §25.1: Digest credentials, quoted and token values, LWS around = and ,", () => {
    const a = parseAuthParams('Digest  username = "bob" ,realm="biloxi.com",nonce="dcd98b",uri="sip:bob@biloxi.com",qop=auth,nc=00000001,cnonce="0a4f113b",response="6629fae4",opaque="5ccc069c"');
    expect(a.scheme).toBe("Digest");
    expect(a.params.get("username")).toBe("bob");
    expect(a.params.get("qop")).toBe("auth");
    expect(a.params.get("opaque")).toBe("5ccc069c");
    expect(a.params.size).toBe(9);
  });

  it("RFC 3261 §25.1: quoted-pairs in values are resolved; keys lower-case", () => {
    const a = parseAuthParams('Digest Realm="a \\"b\\"", NONCE=x');
    expect(a.params.get("realm")).toBe('a "b"');
    expect(a.params.get("nonce")).toBe("x");
  });

  it("RFC 4475 §3.3.7: unknown scheme is kept", () => {
    expect(parseAuthParams("NoOneKnowsThisScheme opaque-data=here").scheme).toBe("NoOneKnowsThisScheme");
  });

  it("RFC 7235 §2.1: token68 credentials", () => {
    expect(parseAuthParams("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==").params.get("token68")).toBe("QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
  });

  it("RFC 3261 §25.1: unterminated quote or missing scheme is 400", () => {
    expect(err(() => parseAuthParams('Digest realm="x')).sipStatus).toBe(400);
    expect(err(() => parseAuthParams("")).sipStatus).toBe(400);
  });
});

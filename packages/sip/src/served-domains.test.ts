import { describe, expect, it } from "vitest";
import { parseSipUri, SipParseError } from "./index.js";
import { ServedDomains } from "./served-domains.js";

describe("ServedDomains (RFC 3261 §10.3 step 1, §16.5; Kamailio's alias)", () => {
  const served = new ServedDomains(["Example.com", "voice.example.net"], [["203.0.113.7", "example.com"], ["[2001:DB8::7]", "voice.example.net"], ["sip.carrier.example", "example.com"]]);

  it("names the domain a host means: itself, the domain it aliases, or nothing", () => {
    expect(served.domainOf("EXAMPLE.COM")).toBe("example.com");
    expect(served.domainOf("203.0.113.7")).toBe("example.com");
    expect(served.domainOf("2001:db8::7")).toBe("voice.example.net");
    expect(served.domainOf("[2001:db8::7]")).toBe("voice.example.net");
    expect(served.domainOf("198.51.100.1")).toBeUndefined();
    expect(served.has("sip.carrier.example")).toBe(true);
    expect(served.has("other.example")).toBe(false);
    expect([...served.domains]).toEqual(["example.com", "voice.example.net"]);
  });

  it("the AOR of a URI at an alias is the domain's AOR (user, no port or params)", () => {
    expect(served.aorOf("sip:+15551234@203.0.113.7:5060;user=phone")).toBe("sip:+15551234@example.com");
    expect(served.aorOf(parseSipUri("sips:alice@[2001:db8::7]"))).toBe("sip:alice@voice.example.net");
    expect(served.aorOf("sip:bob@example.com;transport=tcp")).toBe("sip:bob@example.com");
    // not served: the URI's own AOR (the caller decides whether that is a 404)
    expect(served.aorOf("sip:carol@198.51.100.1")).toBe("sip:carol@198.51.100.1");
  });

  it("an IPv6 domain keeps its brackets in the AOR", () => {
    const v6 = new ServedDomains(["2001:db8::1"], [["v6.example", "2001:db8::1"]]);
    expect(v6.aorOf("sip:dave@v6.example")).toBe("sip:dave@[2001:db8::1]");
  });

  it("without aliases it is canonicalAor; bad input throws the parser's error", () => {
    const plain = new ServedDomains(["example.com"]);
    expect(plain.aorOf("sip:Alice@EXAMPLE.com:5070")).toBe("sip:Alice@example.com");
    expect(() => served.aorOf("tel:+15551234")).toThrow(SipParseError);
  });

  it("an alias must name a served domain", () => {
    expect(() => new ServedDomains(["example.com"], [["203.0.113.7", "other.example"]])).toThrow(/not a served domain/);
  });
});

describe("ServedDomains: IPv6 spellings (RFC 5952)", () => {
  it("an alias or domain written one way matches the other spellings of the same address", () => {
    const served = new ServedDomains(["example.com", "2001:DB8:0::1"], [["2001:db8:0:0::7", "example.com"]]);
    expect(served.domainOf("[2001:db8::7]")).toBe("example.com");
    expect(served.domainOf("2001:0db8:0000::0007")).toBe("example.com");
    expect(served.has("2001:db8::1")).toBe(true);
    expect(served.aorOf("sip:a@[2001:DB8::7]")).toBe("sip:a@example.com");
    // the IPv6 domain's AOR in one spelling, whatever the URI wrote
    expect(served.aorOf("sip:b@[2001:db8:0:0:0:0:0:1]")).toBe("sip:b@[2001:db8::1]");
  });
});

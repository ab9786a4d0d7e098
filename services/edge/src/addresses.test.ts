import { describe, expect, it } from "vitest";
import { parseSipUri } from "@edgepath/sip";
import { defaultPort, formatHostPort, OwnAddresses, parseHostPort, uriTransport } from "./addresses.js";

describe("host:port", () => {
  it("parses IPv4, hostnames and bracketed IPv6, and formats them back", () => {
    expect(parseHostPort("10.0.0.1:5060")).toEqual({ host: "10.0.0.1", port: 5060 });
    expect(parseHostPort("Edge.Example.COM:5070")).toEqual({ host: "edge.example.com", port: 5070 });
    expect(parseHostPort("[fd00::1]:5060")).toEqual({ host: "fd00::1", port: 5060 });
    expect(formatHostPort({ host: "fd00::1", port: 5060 })).toBe("[fd00::1]:5060");
    expect(formatHostPort({ host: "10.0.0.1", port: 1 })).toBe("10.0.0.1:1");
  });

  it("rejects what is not host:port", () => {
    for (const bad of ["10.0.0.1", ":5060", "[fd00::1]5060", "[fd00::1", "h:99999", "h:-1", "h:5.5"]) expect(parseHostPort(bad)).toBeUndefined();
  });
});

describe("defaultPort / uriTransport (RFC 3261 §19.1.2, RFC 7118)", () => {
  it("5060 for sip/udp/tcp, 5061 for sips and tls, 80/443 for ws/wss", () => {
    expect(defaultPort("sip", undefined)).toBe(5060);
    expect(defaultPort("sip", "TCP")).toBe(5060);
    expect(defaultPort("sips", undefined)).toBe(5061);
    expect(defaultPort("sip", "tls")).toBe(5061);
    expect(defaultPort("sip", "ws")).toBe(80);
    expect(defaultPort("sip", "wss")).toBe(443);
  });

  it("transport from the URI", () => {
    expect(uriTransport(parseSipUri("sip:a@h"))).toBe("udp");
    expect(uriTransport(parseSipUri("sip:a@h;transport=tcp"))).toBe("tcp");
    expect(uriTransport(parseSipUri("sips:a@h"))).toBe("tls");
  });
});

describe("OwnAddresses", () => {
  it("RFC 3261 §16.4: recognises its URIs, applying the default port", () => {
    const own = new OwnAddresses();
    own.add("203.0.113.1", 5060);
    own.add("Edge.Example.com", 5061);
    expect(own.isOwnUri(parseSipUri("sip:203.0.113.1;lr"))).toBe(true);
    expect(own.isOwnUri(parseSipUri("sip:tok@203.0.113.1:5060;lr"))).toBe(true);
    expect(own.isOwnUri(parseSipUri("sip:203.0.113.1:5062;lr"))).toBe(false);
    expect(own.isOwnUri(parseSipUri("sips:edge.example.com;lr"))).toBe(true);
    expect(own.isOwnHost("203.0.113.1")).toBe(true);
    expect(own.isOwnHost("203.0.113.2")).toBe(false);
  });

  it("RFC 3261 §16.4 / RFC 3263: a served domain names the edge without a port or with a public port", () => {
    const own = new OwnAddresses();
    own.add("203.0.113.1", 5060);
    own.addServedDomain("Example.com", [5060, 5061]);
    expect(own.isOwnUri(parseSipUri("sip:example.com;lr"))).toBe(true);
    expect(own.isOwnUri(parseSipUri("sips:EXAMPLE.com;lr"))).toBe(true);
    expect(own.isOwnUri(parseSipUri("sip:example.com:5061;transport=tls;lr"))).toBe(true);
    // Another port at that name is some other server.
    expect(own.isOwnUri(parseSipUri("sip:example.com:5080;lr"))).toBe(false);
    expect(own.isOwnUri(parseSipUri("sip:other.example.com;lr"))).toBe(false);
  });
});

import { describe, expect, it } from "vitest";
import { parseMessage } from "@edgepath/sip";
import type { Via } from "@edgepath/sip";
import { formatHostPort, hopOfRoute, hopOfUri, isIpLiteral, responseTarget, viaTarget } from "./targets.js";

function via(value: string): Via {
  const r = parseMessage(Buffer.from(`OPTIONS sip:x@example.com SIP/2.0\r\nVia: ${value}\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:x@example.com>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`));
  if (!r.ok || r.message.kind !== "request") throw new Error("bad test message");
  return r.message.topVia();
}

describe("next hops (RFC 3261 §16.6 steps 6-7)", () => {
  it("§19.1.2: UDP and port 5060 by default; transport= picks TCP; sips means TLS on 5061", () => {
    expect(hopOfUri("sip:10.0.0.2;lr")).toMatchObject({ ok: true, target: { transport: "udp", address: "10.0.0.2", port: 5060 } });
    expect(hopOfUri("sip:tok@10.0.0.2:5070;transport=TCP;lr")).toMatchObject({ ok: true, target: { transport: "tcp", address: "10.0.0.2", port: 5070 } });
    expect(hopOfUri("sips:10.0.0.2;lr")).toMatchObject({ ok: true, target: { transport: "tls", address: "10.0.0.2", port: 5061 } });
  });

  it("§19.1.1: maddr overrides the host; IPv6 references work", () => {
    expect(hopOfUri("sip:edge.example.net;maddr=10.0.0.7;lr")).toMatchObject({ ok: true, target: { address: "10.0.0.7" } });
    expect(hopOfUri("sip:[2001:db8::1]:5080;lr")).toMatchObject({ ok: true, target: { address: "2001:db8::1", port: 5080 } });
  });

  it("a hostname is refused (workers do no RFC 3263 resolution), as is a broken URI", () => {
    const h = hopOfUri("sip:edge.example.net;lr");
    expect(h.ok).toBe(false);
    if (!h.ok) expect(h.reason).toMatch(/not an IP literal/);
    expect(hopOfRoute("<sip:broken").ok).toBe(false);
  });

  it("RFC 3327 §5.3: a Path name-addr is a next hop", () => {
    expect(hopOfRoute("<sip:TOKEN@127.0.0.1:45061;lr;ob>")).toMatchObject({ ok: true, target: { transport: "udp", address: "127.0.0.1", port: 45061 } });
  });
});

describe("response destinations (RFC 3261 §18.2.2, RFC 3581)", () => {
  const udp = { transport: "udp", remoteAddress: "10.0.0.1", remotePort: 40000 };
  it("RFC 3581 §4: received + rport value win; a bare rport means the source port", () => {
    expect(responseTarget(via("SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK1;received=10.0.0.1;rport=40000"), udp)).toEqual({ transport: "udp", address: "10.0.0.1", port: 40000 });
    expect(responseTarget(via("SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK1;rport"), udp)).toEqual({ transport: "udp", address: "10.0.0.9", port: 40000 });
  });

  it("§18.2.2: without rport, the sent-by port (default 5060); a hostname sent-by falls back to the source address", () => {
    expect(responseTarget(via("SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bK1"), udp)).toEqual({ transport: "udp", address: "10.0.0.9", port: 5070 });
    expect(responseTarget(via("SIP/2.0/UDP edge.example.net;branch=z9hG4bK1"), udp)).toEqual({ transport: "udp", address: "10.0.0.1", port: 5060 });
  });

  it("§18.2.2: over a connection the response goes back to the connection's remote end", () => {
    expect(responseTarget(via("SIP/2.0/TCP 10.0.0.9:5060;branch=z9hG4bK1"), { transport: "tcp", remoteAddress: "10.0.0.1", remotePort: 51000 }))
      .toEqual({ transport: "tcp", address: "10.0.0.1", port: 51000 });
  });

  it("§16.11: a stray response goes to the next Via's received/rport, never to a hostname", () => {
    expect(viaTarget(via("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;received=10.0.0.5;rport=6000"))).toEqual({ transport: "udp", address: "10.0.0.5", port: 6000 });
    expect(viaTarget(via("SIP/2.0/UDP edge.example.net:5060;branch=z9hG4bK1"))).toBeUndefined();
  });

  it("helpers: IP literal detection and host:port formatting with IPv6 brackets", () => {
    expect(isIpLiteral("10.1.2.3")).toBe(true);
    expect(isIpLiteral("::1")).toBe(true);
    expect(isIpLiteral("example.com")).toBe(false);
    expect(formatHostPort("::1", 5060)).toBe("[::1]:5060");
    expect(formatHostPort("10.0.0.1", 5060)).toBe("10.0.0.1:5060");
  });
});

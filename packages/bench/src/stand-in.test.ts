import { describe, expect, it } from "vitest";
import { answer200 } from "./stand-in.js";

const req = (body = ""): Buffer =>
  Buffer.from(
    "REGISTER sip:example.com SIP/2.0\r\n" +
      "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKep1.x\r\n" +
      "Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bK-1;rport=40000\r\n" +
      "From: <sip:bench1@example.com>;tag=1\r\nTo: <sip:bench1@example.com>\r\nCall-ID: 1@h\r\nCSeq: 7 REGISTER\r\n" +
      `Content-Length: ${body.length}\r\n\r\n${body}`,
  );

describe("stand-in answer200 (edge-alone bench)", () => {
  it("RFC 3261 §8.2.6.2: the 200 keeps every Via, From, To, Call-ID and CSeq of the request, in order", () => {
    const text = answer200(req())!.toString("latin1");
    expect(text.startsWith("SIP/2.0 200 OK\r\n")).toBe(true);
    expect(text).toContain("Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKep1.x\r\nVia: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bK-1;rport=40000\r\n");
    for (const h of ["From: <sip:bench1@example.com>;tag=1", "To: <sip:bench1@example.com>", "Call-ID: 1@h", "CSeq: 7 REGISTER"]) expect(text).toContain(`${h}\r\n`);
    expect(text.endsWith("Content-Length: 0\r\n\r\n")).toBe(true);
  });

  it("drops the request body and its Content-Length (long and compact form)", () => {
    const text = answer200(req("hello"))!.toString("latin1");
    expect(text).not.toContain("hello");
    expect(text.match(/Content-Length/g)).toHaveLength(1);
    const compact = Buffer.from("MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nl: 2\r\n\r\nhi");
    expect(answer200(compact)!.toString("latin1")).toBe("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n");
  });

  it("never answers a response or an unframed datagram", () => {
    expect(answer200(Buffer.from("SIP/2.0 200 OK\r\nVia: x\r\n\r\n"))).toBeUndefined();
    expect(answer200(Buffer.from("\r\n\r\n"))).toBeUndefined();
    expect(answer200(Buffer.from("REGISTER sip:a SIP/2.0\r\nVia: x\r\n"))).toBeUndefined();
  });
});

import { describe, expect, it } from "vitest";
import { parseMessage, type SipParseError } from "@edgepath/sip";
import { errorResponseForUnparsable } from "./unparsable.js";

function failure(text: string): { bytes: Buffer; error: SipParseError } {
  const bytes = Buffer.from(text, "latin1");
  const r = parseMessage(bytes);
  if (r.ok) throw new Error("expected the parser to reject the test message");
  return { bytes, error: r.error };
}

const HEADERS = [
  "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKx1;rport",
  "From: <sip:a@example.com>;tag=f1",
  "To: <sip:b@example.com>",
  "Call-ID: c1@x",
  "CSeq: 7 MESSAGE",
  "Max-Forwards: 70",
];
const msg = (start: string, headers: readonly string[] = HEADERS): string => `${start}\r\n${headers.join("\r\n")}\r\nContent-Length: 0\r\n\r\n`;

function answer(text: string): string | undefined {
  const { bytes, error } = failure(text);
  return errorResponseForUnparsable(bytes, error)?.toString("latin1");
}

describe("errorResponseForUnparsable", () => {
  it("RFC 3261 §8.2.6 / §21.5.7: SIP/3.0 gets 505, copying Via, From, To (+tag), Call-ID, CSeq", () => {
    const r = answer(msg("MESSAGE sip:b@example.com SIP/3.0"))!;
    expect(r.startsWith("SIP/2.0 505 Version Not Supported\r\n")).toBe(true);
    expect(r).toContain("Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKx1;rport\r\n");
    expect(r).toContain("Call-ID: c1@x\r\n");
    expect(r).toContain("CSeq: 7 MESSAGE\r\n");
    expect(r).toMatch(/\r\nTo: <sip:b@example\.com>;tag=ep[0-9a-z]+\r\n/);
    expect(r.endsWith("Content-Length: 0\r\n\r\n")).toBe(true);
    const parsed = parseMessage(Buffer.from(r, "latin1"));
    expect(parsed.ok).toBe(true);
  });

  it("RFC 3261 §8.2.6.2: the To tag is the same for a retransmission", () => {
    expect(answer(msg("MESSAGE sip:b@example.com SIP/3.0"))).toBe(answer(msg("MESSAGE sip:b@example.com SIP/3.0")));
  });

  it("RFC 3261 §8.1.1: a missing Call-ID is answered 400 naming it (Via and CSeq suffice to match)", () => {
    const r = answer(msg("MESSAGE sip:b@example.com SIP/2.0", HEADERS.filter((h) => !h.startsWith("Call-ID"))))!;
    expect(r.startsWith("SIP/2.0 400 Missing Header: Call-ID\r\n")).toBe(true);
    expect(r).not.toMatch(/\r\nCall-ID:/);
  });

  it("RFC 3261 §7.1: a bad Request-Line with usable headers is answered 400", () => {
    const r = answer(msg("MESSAGE  sip:b@example.com SIP/2.0"))!;
    expect(r.startsWith("SIP/2.0 400 ")).toBe(true);
  });

  it("drops what cannot be matched: no Via, no CSeq", () => {
    expect(answer(msg("MESSAGE sip:b@example.com SIP/3.0", HEADERS.filter((h) => !h.startsWith("Via"))))).toBeUndefined();
    expect(answer(msg("MESSAGE sip:b@example.com SIP/3.0", HEADERS.filter((h) => !h.startsWith("CSeq"))))).toBeUndefined();
  });

  it("RFC 3261 §17: never answers an ACK or a response", () => {
    expect(answer(msg("ACK sip:b@example.com SIP/3.0", HEADERS.map((h) => (h.startsWith("CSeq") ? "CSeq: 7 ACK" : h))))).toBeUndefined();
    expect(answer(msg("SIP/2.0 2000 OK"))).toBeUndefined();
  });

  it("drops garbage that is not a request line", () => {
    expect(answer("\u0016\u0003\u0001garbage\r\n\r\n")).toBeUndefined();
    expect(answer("HELLO\r\n\r\n")).toBeUndefined();
  });

  it("never copies a header value with control characters into the response", () => {
    const headers = HEADERS.map((h) => (h.startsWith("From") ? "From: <sip:a@example.com>;tag=f1\u0007evil" : h));
    const r = answer(msg("MESSAGE sip:b@example.com SIP/3.0", headers))!;
    expect(r).not.toContain("\u0007");
    expect(r).not.toContain("From:");
  });
});

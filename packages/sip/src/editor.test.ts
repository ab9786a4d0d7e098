import { describe, expect, it } from "vitest";
import { parseMessage } from "./index.js";
import type { SipMessage } from "./index.js";
import { INVITE } from "./bench/messages.js";

const crlf = (...lines: string[]): string => lines.join("\r\n");

function ok(b: Buffer | string): SipMessage {
  const r = parseMessage(typeof b === "string" ? Buffer.from(b, "utf8") : b);
  if (!r.ok) throw new Error(`unexpected parse error: ${r.error.message}`);
  return r.message;
}

/** Deliberately odd spellings: compact forms, odd case, extra LWS, folding. */
const ODD = crlf(
  "INVITE sip:bob@example.com SIP/2.0",
  "v:SIP/2.0/UDP a.example.com;branch=z9hG4bKa ,  SIP/2.0/UDP b.example.com;branch=z9hG4bKb",
  "Via  :   SIP/2.0/TCP c.example.com;branch=z9hG4bKc",
  "Route: <sip:p1.example.com;lr>,<sip:p2.example.com;lr>",
  "Route:   <sip:p3.example.com;lr>",
  "max-forwards:   12",
  "f: \"A\"<sip:alice@example.com>;tag=1",
  "t: <sip:bob@example.com>",
  "i: odd@example.com",
  "CSEQ:    1   INVITE",
  "X-Folded: one",
  "   two",
  "l: 4",
  "",
  "body",
);

describe("MessageEditor (RFC 3261 §16.6: change only what the proxy must)", () => {
  it("RFC 3261 §16.6 step 8: a new top Via goes before the first Via line; other bytes untouched", () => {
    const m = ok(ODD);
    const out = m.edit().prependHeader("Via", "SIP/2.0/UDP edge.example.net;branch=z9hG4bKnew").toBuffer().toString();
    expect(out).toBe(ODD.replace("v:SIP", "Via: SIP/2.0/UDP edge.example.net;branch=z9hG4bKnew\r\nv:SIP"));
    const back = ok(out);
    expect(back.topVia().host).toBe("edge.example.net");
    expect(back.vias()).toHaveLength(4);
  });

  it("RFC 3261 §16.7 step 3 / §18.2.2: removing the top Via removes one value of a list line", () => {
    const m = ok(ODD);
    const out = m.edit().removeTopValue("via").toBuffer().toString();
    const back = ok(out);
    expect(back.vias().map((v) => v.host)).toEqual(["b.example.com", "c.example.com"]);
    expect(out).toContain("Via  :   SIP/2.0/TCP c.example.com;branch=z9hG4bKc\r\n"); // untouched line kept exactly
    expect(out).toContain("v: SIP/2.0/UDP b.example.com;branch=z9hG4bKb\r\n"); // rewritten line keeps compact spelling
  });

  it("RFC 3261 §18.2.2: removing a Via that is alone on its line drops the line", () => {
    const m = ok(crlf("SIP/2.0 200 OK", "Via: SIP/2.0/UDP edge;branch=z9hG4bK1", "Via: SIP/2.0/UDP ua;branch=z9hG4bK2", "From: <sip:a@h>;tag=1", "To: <sip:b@h>;tag=2", "Call-ID: x", "CSeq: 1 INVITE", "Content-Length: 0", "", ""));
    const out = m.edit().removeTopValue("Via").toBuffer().toString();
    expect(out).toBe(crlf("SIP/2.0 200 OK", "Via: SIP/2.0/UDP ua;branch=z9hG4bK2", "From: <sip:a@h>;tag=1", "To: <sip:b@h>;tag=2", "Call-ID: x", "CSeq: 1 INVITE", "Content-Length: 0", "", ""));
  });

  it("RFC 3261 §16.6 step 4: prepend Record-Route (added before the first header when absent)", () => {
    const m = ok(ODD);
    const out = m.edit().prependHeader("Record-Route", "<sip:edge.example.net;lr>").toBuffer().toString();
    expect(out.split("\r\n")[1]).toBe("Record-Route: <sip:edge.example.net;lr>");
    expect(ok(out).recordRoutes()[0]?.uri).toBe("sip:edge.example.net;lr");
    const again = ok(out).edit().prependHeader("record-route", "<sip:second.example.net;lr>").toBuffer().toString();
    expect(ok(again).recordRoutes().map((r) => r.uri)).toEqual(["sip:second.example.net;lr", "sip:edge.example.net;lr"]);
  });

  it("RFC 3327 §5.2: prepend Path before existing Path values", () => {
    const m = ok(crlf("REGISTER sip:example.com SIP/2.0", "Via: SIP/2.0/UDP ua;branch=z9hG4bK1", "Path: <sip:outer.example.com;lr>", "From: <sip:a@example.com>;tag=1", "To: <sip:a@example.com>", "Call-ID: p", "CSeq: 1 REGISTER", "l: 0", "", ""));
    const out = m.edit().prependHeader("Path", "<sip:tok@edge.example.net;lr;ob>").toBuffer();
    expect(ok(out).paths().map((p) => p.uri)).toEqual(["sip:tok@edge.example.net;lr;ob", "sip:outer.example.com;lr"]);
  });

  it("RFC 3261 §16.4: pop the top Route, one value at a time, across lines", () => {
    let m = ok(ODD);
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      seen.push(m.routes()[0]!.uri);
      m = ok(m.edit().removeTopValue("route").toBuffer());
    }
    expect(seen).toEqual(["sip:p1.example.com;lr", "sip:p2.example.com;lr", "sip:p3.example.com;lr"]);
    expect(m.routes()).toEqual([]);
    expect(m.hasHeader("route")).toBe(false);
  });

  it("RFC 3261 §16.5: rewrite the Request-URI", () => {
    const m = ok(ODD);
    const out = m.edit().setRequestUri("sip:bob@192.0.2.44:5070;transport=tcp").toBuffer().toString();
    expect(out.startsWith("INVITE sip:bob@192.0.2.44:5070;transport=tcp SIP/2.0\r\nv:SIP/2.0/UDP a.example.com")).toBe(true);
    const back = ok(out);
    if (back.kind !== "request") throw new Error("request expected");
    expect(back.uri).toBe("sip:bob@192.0.2.44:5070;transport=tcp");
    expect(() => m.edit().setRequestUri("sip:a b")).toThrow(TypeError);
  });

  it("RFC 3261 §16.6 step 3: set Max-Forwards in place, keeping the line's position and spelling", () => {
    const m = ok(ODD);
    const out = m.edit().setMaxForwards((m.maxForwards() ?? 70) - 1).toBuffer().toString();
    expect(out).toBe(ODD.replace("max-forwards:   12", "max-forwards: 11"));
    expect(() => m.edit().setMaxForwards(256)).toThrow(RangeError);
  });

  it("RFC 3261 §16.6 step 3: Max-Forwards is added when absent", () => {
    const m = ok(ODD.replace("max-forwards:   12\r\n", ""));
    expect(ok(m.edit().setMaxForwards(70).toBuffer()).maxForwards()).toBe(70);
  });

  it("bytes of untouched headers are preserved exactly (folding, compact forms, case, LWS)", () => {
    const m = ok(ODD);
    const out = m
      .edit()
      .prependHeader("Via", "SIP/2.0/UDP edge;branch=z9hG4bKe")
      .prependHeader("Record-Route", "<sip:edge;lr>")
      .setMaxForwards(11)
      .removeTopValue("Route")
      .toBuffer()
      .toString();
    for (const line of ["Via  :   SIP/2.0/TCP c.example.com;branch=z9hG4bKc", "Route:   <sip:p3.example.com;lr>", 'f: "A"<sip:alice@example.com>;tag=1', "CSEQ:    1   INVITE", "X-Folded: one\r\n   two", "i: odd@example.com"]) {
      expect(out).toContain(line);
    }
    expect(out.endsWith("l: 4\r\n\r\nbody")).toBe(true);
  });

  it("header values with CR or LF are refused (no header injection)", () => {
    const m = ok(ODD);
    expect(() => m.edit().prependHeader("Via", "x\r\nEvil: 1")).toThrow(TypeError);
    expect(() => m.edit().setHeader("Subject", "a\nb")).toThrow(TypeError);
  });

  it("setHeader replaces every field of that name with one; removeHeader drops them all", () => {
    const m = ok(ODD);
    const a = ok(m.edit().setHeader("Route", "<sip:only;lr>").toBuffer());
    expect(a.routes().map((r) => r.uri)).toEqual(["sip:only;lr"]);
    const b = ok(m.edit().removeHeader("route").toBuffer());
    expect(b.hasHeader("route")).toBe(false);
  });

  it("replaceTopValue rewrites only the first value of a list line", () => {
    const m = ok(ODD);
    const v = ok(m.edit().replaceTopValue("Via", "SIP/2.0/UDP a.example.com;branch=z9hG4bKa;received=192.0.2.1").toBuffer()).vias();
    expect(v.map((x) => x.received)).toEqual(["192.0.2.1", undefined, undefined]);
  });

  it("appendHeader goes after the last header line", () => {
    const out = ok(ODD).edit().appendHeader("X-Trace", "abc").toBuffer().toString();
    expect(out).toContain("l: 4\r\nX-Trace: abc\r\n\r\nbody");
  });

  it("RFC 3261 §20.14: setBody fixes Content-Length and Content-Type", () => {
    const out = ok(ODD).edit().setBody(Buffer.from("hello world"), "text/plain").toBuffer();
    const back = ok(out);
    expect(back.contentLength()).toBe(11);
    expect(back.contentType()).toBe("text/plain");
    expect(back.body.toString()).toBe("hello world");
  });

  it("the proxy round trip (Via, Record-Route, Max-Forwards - 1) yields a parseable message with the original body", () => {
    const m = ok(INVITE);
    const out = m
      .edit()
      .prependHeader("Via", "SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bK-edge-1")
      .prependHeader("Record-Route", "<sip:203.0.113.1;lr>")
      .setMaxForwards((m.maxForwards() ?? 70) - 1)
      .toBuffer();
    const back = ok(out);
    expect(back.topVia().branch).toBe("z9hG4bK-edge-1");
    expect(back.vias()).toHaveLength(2);
    expect(back.recordRoutes()).toHaveLength(1);
    expect(back.maxForwards()).toBe(69);
    expect(back.body.equals(m.body)).toBe(true);
    expect(back.callId).toBe(m.callId);
  });

  it("a line made once is shared only where name, spelling and value all match (each message keeps its own spelling)", () => {
    const plain = ok(INVITE);
    const odd = ok(ODD); // "max-forwards:   12"
    const a = plain.edit().setMaxForwards(69).toBuffer().toString("latin1");
    const b = odd.edit().setMaxForwards(69).toBuffer().toString("latin1");
    const c = plain.edit().setMaxForwards(68).toBuffer().toString("latin1");
    const d = plain.edit().setMaxForwards(69).toBuffer().toString("latin1");
    expect(a).toBe(INVITE.replace("Max-Forwards: 70", "Max-Forwards: 69"));
    expect(b).toBe(ODD.replace("max-forwards:   12", "max-forwards: 69"));
    expect(c).toBe(INVITE.replace("Max-Forwards: 70", "Max-Forwards: 68"));
    expect(d).toBe(a);
    const rr1 = plain.edit().prependHeader("Record-Route", "<sip:e1.example.net;lr>").toBuffer().toString("latin1");
    const rr2 = plain.edit().prependHeader("Record-Route", "<sip:e2.example.net;lr>").toBuffer().toString("latin1");
    expect(ok(rr1).recordRoutes()[0]!.uri).toBe("sip:e1.example.net;lr");
    expect(ok(rr2).recordRoutes()[0]!.uri).toBe("sip:e2.example.net;lr");
  });

  it("edited messages are separate bytes: one message's buffer changing leaves the next one's alone", () => {
    const m = ok(INVITE);
    const first = m.edit().setMaxForwards(10).toBuffer();
    const second = m.edit().setMaxForwards(11).toBuffer();
    const secondText = second.toString("latin1");
    first.fill(0x78);
    expect(second.toString("latin1")).toBe(secondText);
    expect(ok(second).maxForwards()).toBe(11);
  });

  it("a message whose header block ends the datagram (no empty line) is written with one, body empty", () => {
    const bare = crlf("OPTIONS sip:bob@example.com SIP/2.0", "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1", "From: <sip:a@example.com>;tag=1", "To: <sip:bob@example.com>", "Call-ID: bare", "CSeq: 1 OPTIONS", "");
    const m = ok(bare);
    const out = m.edit().setMaxForwards(5).toBuffer().toString("latin1");
    expect(out).toBe(`${bare}Max-Forwards: 5\r\n\r\n`);
    const start = m.edit().setRequestUri("sip:bob@192.0.2.9").toBuffer().toString("latin1");
    expect(start).toBe(`${bare.replace("sip:bob@example.com SIP", "sip:bob@192.0.2.9 SIP")}\r\n`);
  });
});

import { describe, expect, it } from "vitest";
import {
  BRANCH_MAGIC_COOKIE, buildErrorResponse, buildRequest, buildResponse, generateBranch, generateTag, parseMessage, reasonPhrase,
  SipParseError,
} from "./index.js";
import type { SipMessage, SipRequest } from "./index.js";

const crlf = (...lines: string[]): string => lines.join("\r\n");

function ok(b: Buffer | string): SipMessage {
  const r = parseMessage(typeof b === "string" ? Buffer.from(b, "utf8") : b);
  if (!r.ok) throw new Error(`unexpected parse error: ${r.error.message}`);
  return r.message;
}
function request(b: string): SipRequest {
  const m = ok(b);
  if (m.kind !== "request") throw new Error("request expected");
  return m;
}

const INV = crlf(
  "INVITE sip:bob@example.com SIP/2.0",
  "Via: SIP/2.0/UDP edge.example.net;branch=z9hG4bKe1;received=192.0.2.1",
  "v: SIP/2.0/UDP ua.example.com:5060;branch=z9hG4bKu1, SIP/2.0/TCP first.example.com;branch=z9hG4bKf",
  "Max-Forwards: 69",
  "f: \"Alice\" <sip:alice@example.com>;tag=a1",
  "To: <sip:bob@example.com>",
  "Call-ID: build-1@example.com",
  "CSeq: 7 INVITE",
  "Timestamp: 54.2",
  "Record-Route: <sip:edge.example.net;lr>",
  "Contact: <sip:alice@192.0.2.1>",
  "Content-Length: 0",
  "",
  "",
);

describe("buildResponse (RFC 3261 §8.2.6)", () => {
  it("RFC 3261 §8.2.6.2: copies every Via in order, From, To, Call-ID, CSeq", () => {
    const res = ok(buildResponse(request(INV), 486));
    if (res.kind !== "response") throw new Error("response expected");
    expect(res.status).toBe(486);
    expect(res.reason).toBe("Busy Here");
    expect(res.vias().map((v) => v.branch)).toEqual(["z9hG4bKe1", "z9hG4bKu1", "z9hG4bKf"]);
    expect(res.topVia().received).toBe("192.0.2.1");
    expect(res.from().displayName).toBe("Alice");
    expect(res.fromTag()).toBe("a1");
    expect(res.to().uri).toBe("sip:bob@example.com");
    expect(res.callId).toBe("build-1@example.com");
    expect(res.cseq()).toEqual({ seq: 7, method: "INVITE" });
    expect(res.contentLength()).toBe(0);
    // not copied: Record-Route, Contact, Max-Forwards (RFC 3261 §8.2.6.2 lists what is)
    expect(res.hasHeader("record-route")).toBe(false);
    expect(res.hasHeader("contact")).toBe(false);
    expect(res.hasHeader("max-forwards")).toBe(false);
  });

  it("RFC 3261 §8.2.6.2: adds a To tag when the request has none (not on 100)", () => {
    const req = request(INV);
    expect(ok(buildResponse(req, 200, undefined, { toTag: "srv1" })).toTag()).toBe("srv1");
    expect(ok(buildResponse(req, 100, undefined, { toTag: "srv1" })).toTag()).toBeUndefined();
  });

  it("RFC 3261 §8.2.6.2: keeps an existing To tag", () => {
    const req = request(INV.replace("To: <sip:bob@example.com>", "To: <sip:bob@example.com>;tag=existing"));
    expect(ok(buildResponse(req, 200, undefined, { toTag: "other" })).toTag()).toBe("existing");
  });

  it("RFC 3261 §8.2.6.1: a 100 copies Timestamp", () => {
    expect(ok(buildResponse(request(INV), 100)).header("timestamp")).toBe("54.2");
    expect(ok(buildResponse(request(INV), 180)).header("timestamp")).toBeUndefined();
  });

  it("RFC 3261 §21: default reason phrases; custom reason; extra headers; body", () => {
    const res = ok(buildResponse(request(INV), 423, undefined, { headers: [["Min-Expires", "3600"], ["content-length", "999"]] }));
    if (res.kind !== "response") throw new Error("response expected");
    expect(res.reason).toBe("Interval Too Brief");
    expect(res.minExpires()).toBe(3600);
    expect(res.headerValues("content-length")).toEqual(["0"]);
    const custom = ok(buildResponse(request(INV), 400, "Bad Header: Via", { body: Buffer.from("oops"), contentType: "text/plain" }));
    if (custom.kind !== "response") throw new Error("response expected");
    expect(custom.reason).toBe("Bad Header: Via");
    expect(custom.body.toString()).toBe("oops");
    expect(custom.contentType()).toBe("text/plain");
  });

  it("refuses out-of-range statuses and CR/LF in reasons or headers", () => {
    expect(() => buildResponse(request(INV), 99)).toThrow(RangeError);
    expect(() => buildResponse(request(INV), 200, "OK\r\nEvil: 1")).toThrow(TypeError);
    expect(() => buildResponse(request(INV), 200, undefined, { headers: [["X", "a\nb"]] })).toThrow(TypeError);
  });

  it("reasonPhrase: known codes and class defaults", () => {
    expect(reasonPhrase(430)).toBe("Flow Failed");
    expect(reasonPhrase(483)).toBe("Too Many Hops");
    expect(reasonPhrase(499)).toBe("Bad Request");
    expect(reasonPhrase(599)).toBe("Server Internal Error");
  });
});

describe("buildRequest, branch and tag", () => {
  it("buildRequest writes headers in order and the true Content-Length", () => {
    const b = buildRequest({ method: "OPTIONS", uri: "sip:b@h", headers: [["v", "SIP/2.0/UDP h;branch=z9hG4bK1"], ["From", "<sip:a@h>;tag=1"], ["To", "<sip:b@h>"], ["Call-ID", "r"], ["CSeq", "1 OPTIONS"]], body: Buffer.from("abc") });
    const m = ok(b);
    expect(m.fields.map((f) => f.name)).toEqual(["via", "from", "to", "call-id", "cseq", "content-length"]);
    expect(b.toString()).toContain("Via: SIP/2.0/UDP");
    expect(m.body.toString()).toBe("abc");
  });

  it("RFC 3261 §8.1.1.7: branches start with the magic cookie and are unique tokens", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const b = generateBranch();
      expect(b.startsWith(BRANCH_MAGIC_COOKIE)).toBe(true);
      expect(/^[A-Za-z0-9_-]+$/.test(b)).toBe(true);
      seen.add(b);
    }
    expect(seen.size).toBe(1000);
  });

  it("RFC 3261 §19.3: tags carry at least 32 random bits (64, as 16 hex digits)", () => {
    const t = generateTag();
    expect(t).toMatch(/^[0-9a-f]{16}$/);
    expect(generateTag()).not.toBe(t);
  });

  it("a tag is lowercase, so it can never contain \"CSeq\" (sipp reads a response's CSeq method at the first \"CSeq\" anywhere, and To comes first)", () => {
    for (let i = 0; i < 1000; i++) expect(generateTag()).toMatch(/^[0-9a-f]+$/);
    const text = buildResponse(request(INV), 200, "OK", { toTag: generateTag() }).toString("latin1");
    expect(text.indexOf(";tag=")).toBeLessThan(text.indexOf("\r\nCSeq:"));
    expect(text.indexOf("CSeq")).toBe(text.indexOf("\r\nCSeq:") + 2);
  });
});

describe("buildErrorResponse (stateless error for unparsable input)", () => {
  const err = new SipParseError({ code: "bad-header", sipStatus: 400, reason: "Bad Header: CSeq", header: "CSeq" });

  it("RFC 3261 §8.2.6: answers with Via, From, To (+tag), Call-ID, CSeq as found", () => {
    const bytes = Buffer.from(INV.replace("CSeq: 7 INVITE", "CSeq: x INVITE"));
    const parsed = parseMessage(bytes);
    expect(parsed.ok && (() => parsed.message.cseq())).toThrow(/CSeq/); // parsed when read (RFC 3261 §16.3)
    const out = buildErrorResponse(bytes, err, "t1");
    if (out === undefined) throw new Error("response expected");
    const res = ok(out.toString().replace("CSeq: x INVITE", "CSeq: 7 INVITE"));
    if (res.kind !== "response") throw new Error("response expected");
    expect(res.status).toBe(400);
    expect(res.reason).toBe("Bad Header: CSeq");
    expect(res.vias()).toHaveLength(3);
    expect(res.toTag()).toBe("t1");
    expect(out.toString()).toContain("CSeq: x INVITE");
  });

  it("RFC 3261 §17.2.1 / §8.1.3.3: never for an ACK, a response, or without Via", () => {
    expect(buildErrorResponse(Buffer.from(INV.replace(/INVITE/g, "ACK")), err)).toBeUndefined();
    expect(buildErrorResponse(Buffer.from("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\n\r\n"), err)).toBeUndefined();
    expect(buildErrorResponse(Buffer.from("OPTIONS sip:a@h SIP/2.0\r\nFrom: <sip:a@h>\r\n\r\n"), err)).toBeUndefined();
  });
});

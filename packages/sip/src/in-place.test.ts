/**
 * Values are read in place from the message text (offsets, no value slices) and edited messages
 * are spliced as latin1 text. These tests pin the cases where that shortcut must fall back or must
 * not see past a value's end: folding, non-ASCII, list elements, escapes, datagram tails.
 */
import { describe, expect, it } from "vitest";
import { parseMessage } from "./index.js";
import type { SipMessage } from "./index.js";

const crlf = (...lines: string[]): string => lines.join("\r\n");

function ok(b: Buffer | string): SipMessage {
  const r = parseMessage(typeof b === "string" ? Buffer.from(b, "utf8") : b);
  if (!r.ok) throw new Error(`unexpected parse error: ${r.error.message}`);
  return r.message;
}

function reg(...extra: string[]): string {
  return crlf(
    "REGISTER sip:example.com SIP/2.0",
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1",
    "To: <sip:alice@example.com>",
    "From: <sip:alice@example.com>;tag=1",
    "Call-ID: c1@example.com",
    "CSeq: 1 REGISTER",
    ...extra,
    "Content-Length: 0",
    "",
    "",
  );
}

describe("values read in place (RFC 3261 §7.3)", () => {
  it("RFC 3261 §7.3.1: Contact list elements split at top-level commas only, each parsed from its own bounds", () => {
    const m = ok(reg('Contact: "Smith, J" <sip:a@192.0.2.1;x=1,2>;expires=60 , <sip:b@192.0.2.2>;q=0.5', "Contact: sip:c@192.0.2.3;reg-id=2"));
    const c = m.contacts();
    expect(c).not.toBe("*");
    if (c === "*") return;
    expect(c.map((x) => x.uri)).toEqual(["sip:a@192.0.2.1;x=1,2", "sip:b@192.0.2.2", "sip:c@192.0.2.3"]);
    expect(c.map((x) => x.raw)).toEqual(['"Smith, J" <sip:a@192.0.2.1;x=1,2>;expires=60', "<sip:b@192.0.2.2>;q=0.5", "sip:c@192.0.2.3;reg-id=2"]);
    expect(c[0]!.displayName).toBe("Smith, J");
    expect(c[0]!.expires).toBe(60);
    expect(c[1]!.q).toBe(0.5);
    expect(c[2]!.regId).toBe(2);
    // params map built lazily from the same bounds: nothing of the next element leaks in
    expect([...c[0]!.params.keys()]).toEqual(["expires"]);
  });

  it("RFC 5626 §4.2: +sip.instance with and without quoted-pairs", () => {
    const plain = ok(reg('Contact: <sip:a@192.0.2.1>;+sip.instance="<urn:uuid:1234>"')).contacts();
    const escaped = ok(reg('Contact: <sip:a@192.0.2.1>;+sip.instance="<urn:\\uuid:1234>"')).contacts();
    expect(plain !== "*" && plain[0]!.instance).toBe("urn:uuid:1234");
    expect(escaped !== "*" && escaped[0]!.instance).toBe("urn:uuid:1234");
  });

  it("RFC 3261 §25.1: a quoted display name with an escaped quote ends at the real closing quote", () => {
    const m = ok(reg().replace("To: <sip:alice@example.com>", 'To: "A \\"B\\" C" <sip:alice@example.com>'));
    expect(m.to().displayName).toBe('A "B" C');
    expect(m.to().uri).toBe("sip:alice@example.com");
  });

  it("RFC 3261 §19.3: the From and To tags are read without the params Map and agree with it (case, repeats, flags)", () => {
    const text = crlf(
      "OPTIONS sip:bob@example.com SIP/2.0",
      "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1",
      'From: "A" <sip:a@example.com;tag=inuri>;x=1;TAG=first;tag=second',
      "To: <sip:bob@example.com>;tag",
      "Call-ID: tags",
      "CSeq: 1 OPTIONS",
      "",
      "",
    );
    const m = ok(text);
    expect(m.fromTag()).toBe("second"); // a repeated parameter: the last, as the params Map keeps it
    expect(m.toTag()).toBeUndefined(); // a flag has no value
    expect(m.from().params.get("tag")).toBe("second");
    expect(m.fromTag()).toBe("second"); // and the same once the Map exists
    expect(m.from().uri).toBe("sip:a@example.com;tag=inuri"); // a URI parameter is not a header parameter
    expect(m.from().displayName).toBe("A");
    const plain = ok(text.replace(";x=1;TAG=first;tag=second", "").replace("To: <sip:bob@example.com>;tag", "To: sip:bob@example.com;tag=t2"));
    expect(plain.fromTag()).toBeUndefined();
    expect(plain.toTag()).toBe("t2");
  });

  it("RFC 3261 §7.3.1: folded From, Via and Contact values are parsed from the unfolded text", () => {
    const m = ok(
      reg("Contact: <sip:a@192.0.2.1>;", "  expires=30")
        .replace("From: <sip:alice@example.com>;tag=1", "From: <sip:alice@example.com>\r\n ;tag=9")
        .replace("Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1", "Via: SIP/2.0/UDP 192.0.2.10:5060\r\n\t;branch=z9hG4bK7"),
    );
    expect(m.fromTag()).toBe("9");
    expect(m.topVia().branch).toBe("z9hG4bK7");
    expect(m.topVia().port).toBe(5060);
    const c = m.contacts();
    expect(c !== "*" && c[0]!.expires).toBe(30);
  });

  it("RFC 3261 §7.3: with a non-ASCII header block, values are decoded as UTF-8 before parsing", () => {
    const m = ok(reg().replace("To: <sip:alice@example.com>", 'To: "Zoë" <sip:alice@example.com>'));
    expect(m.to().displayName).toBe("Zoë");
    expect(m.topVia().host).toBe("192.0.2.10");
    expect(m.cseq()).toEqual({ seq: 1, method: "REGISTER" });
  });

  it("RFC 3261 §20.42: the top Via stops at the first comma; raw is that via-parm only", () => {
    const m = ok(reg().replace("branch=z9hG4bK1", "branch=z9hG4bK1 , SIP/2.0/TCP 192.0.2.99;branch=z9hG4bK2"));
    expect(m.topVia().raw).toBe("SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1");
    expect([...m.topVia().params.keys()]).toEqual(["branch"]);
    expect(m.vias().map((v) => v.branch)).toEqual(["z9hG4bK1", "z9hG4bK2"]);
  });

  it("RFC 3261 §7.3.1: a comma inside <...> does not split a Route element; a bad element is 400 on access", () => {
    const r = parseMessage(Buffer.from(reg("Route: <sip:p1.example.com;lr, <sip:p2.example.com;lr>")));
    expect(r.ok).toBe(true); // Route is parsed lazily
    if (r.ok) expect(() => r.message.routes()).toThrow(/whitespace inside <>/);
    const good = ok(reg("Route: <sip:p1.example.com;lr>,<sip:p2.example.com;lr>", "Route: <sip:p3.example.com;lr>"));
    expect(good.routes().map((x) => x.uri)).toEqual(["sip:p1.example.com;lr", "sip:p2.example.com;lr", "sip:p3.example.com;lr"]);
  });
});

describe("edited messages spliced as latin1 text (RFC 3261 §16.6)", () => {
  it("RFC 3261 §16.6: non-ASCII octets of untouched lines and of the body are copied exactly", () => {
    const body = Buffer.from([0x00, 0xff, 0xc3, 0x28, 0x80, 0x0d, 0x0a]); // not valid UTF-8 on purpose
    const head = Buffer.from(
      crlf(
        "MESSAGE sip:bob@example.com SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1",
        "Max-Forwards: 70",
        'From: "Zoë" <sip:alice@example.com>;tag=1',
        "To: <sip:bob@example.com>",
        "Call-ID: m1",
        "CSeq: 1 MESSAGE",
        "Content-Type: application/octet-stream",
        `Content-Length: ${body.length}`,
        "",
        "",
      ),
      "utf8",
    );
    const m = ok(Buffer.concat([head, body]));
    const out = m.edit().prependHeader("Via", "SIP/2.0/UDP 203.0.113.1;branch=z9hG4bK-e").setMaxForwards(69).toBuffer();
    const again = ok(out);
    expect(again.body.equals(body)).toBe(true);
    expect(again.from().displayName).toBe("Zoë");
    expect(again.maxForwards()).toBe(69);
    expect(again.vias().map((v) => v.host)).toEqual(["203.0.113.1", "192.0.2.10"]);
  });

  it("RFC 3261 §7.3: a new header value with non-ASCII text is written as UTF-8", () => {
    const m = ok(reg());
    const out = m.edit().appendHeader("Subject", "café ☕").toBuffer();
    expect(out.includes(Buffer.from("Subject: café ☕\r\n", "utf8"))).toBe(true);
    expect(ok(out).header("subject")).toBe("café ☕");
  });

  it("RFC 3261 §18.3: octets beyond Content-Length in a datagram are not carried into the edited message", () => {
    const m = ok(reg() + "garbage");
    const out = m.edit().setMaxForwards(10).toBuffer();
    expect(out.toString("latin1").endsWith("Max-Forwards: 10\r\n\r\n")).toBe(true);
    expect(out.includes(Buffer.from("garbage"))).toBe(false);
  });

  it("RFC 3261 §20.30: setBody replaces the body bytes exactly and fixes Content-Length", () => {
    const body = Buffer.from([0xde, 0xad, 0xbe, 0xef]);
    const out = ok(reg()).edit().setBody(body, "application/x-test").toBuffer();
    const m = ok(out);
    expect(m.body.equals(body)).toBe(true);
    expect(m.contentLength()).toBe(4);
    expect(m.contentType()).toBe("application/x-test");
  });
});

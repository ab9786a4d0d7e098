import { describe, expect, it } from "vitest";
import { parseMessage, StreamFramer } from "./index.js";
import type { FrameEvent } from "./index.js";
import { INVITE, REGISTER } from "./bench/messages.js";

const reg = Buffer.from(REGISTER, "latin1");
const inv = Buffer.from(INVITE, "latin1");

function messages(evs: FrameEvent[]): string[] {
  return evs.flatMap((e) => (e.kind === "message" ? [e.bytes.toString("latin1")] : []));
}

describe("StreamFramer (RFC 3261 §18.3)", () => {
  it("RFC 3261 §18.3: frames back-to-back messages by Content-Length", () => {
    const f = new StreamFramer();
    const evs = f.push(Buffer.concat([reg, inv, reg]));
    expect(messages(evs)).toEqual([REGISTER, INVITE, REGISTER]);
    expect(f.buffered).toBe(0);
  });

  it("RFC 3261 §18.3: a message split at every byte boundary is framed once, intact", () => {
    const f = new StreamFramer();
    const evs: FrameEvent[] = [];
    for (let i = 0; i < inv.length; i++) evs.push(...f.push(inv.subarray(i, i + 1)));
    expect(messages(evs)).toEqual([INVITE]);
    expect(f.buffered).toBe(0);
  });

  it("RFC 3261 §18.3: body bytes that look like headers or CRLFCRLF are body", () => {
    const body = "\r\n\r\nINVITE sip:x SIP/2.0\r\n\r\n";
    const m = `MESSAGE sip:b@h SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nl: ${body.length}\r\n\r\n${body}`;
    const evs = new StreamFramer().push(Buffer.from(m + m));
    expect(messages(evs)).toEqual([m, m]);
  });

  it("framed bytes parse as a stream message (Content-Length exact)", () => {
    const evs = new StreamFramer().push(Buffer.concat([inv, reg]));
    for (const e of evs) {
      if (e.kind !== "message") throw new Error("message expected");
      expect(parseMessage(e.bytes, { transport: "stream" }).ok).toBe(true);
    }
  });

  it("emitted bytes of a buffered message do not alias framer memory", () => {
    const f = new StreamFramer();
    f.push(inv.subarray(0, 10));
    const evs = f.push(inv.subarray(10));
    const first = evs[0];
    if (first?.kind !== "message") throw new Error("message expected");
    const copy = Buffer.from(first.bytes);
    f.push(reg.subarray(0, 200)); // would overwrite a shared accumulator
    expect(first.bytes.equals(copy)).toBe(true);
  });

  it("RFC 3261 §18.3: a CRLFCRLF straddling the end of buffered data is not taken as the header end (regression)", () => {
    const f = new StreamFramer();
    // 1. buffer a whole INVITE in two pushes: the accumulator keeps its bytes after it is drained
    f.push(inv.subarray(0, 300));
    expect(messages(f.push(inv.subarray(300)))).toEqual([INVITE]);
    // 2. a new message buffered up to the end of a header line at offset n where the stale INVITE
    //    bytes hold "\r\n": together they look like the end of the header section
    const n = INVITE.indexOf("\r\n", 200); // INVITE[n, n+2) === CRLF
    const start = "OPTIONS sip:b@h SIP/2.0\r\nX-Pad: ";
    const prefix = `${start}${"a".repeat(n - start.length - 2)}\r\n`;
    expect(prefix.length).toBe(n);
    const m2 = `${prefix}l: 0\r\n\r\n`;
    const evs: FrameEvent[] = [];
    for (const part of [m2.slice(0, 10), m2.slice(10, n), m2.slice(n)]) evs.push(...f.push(Buffer.from(part, "latin1")));
    expect(evs.filter((e) => e.kind === "error")).toEqual([]);
    expect(messages(evs)).toEqual([m2]);
  });

  it("RFC 5626 §4.4.1: a double CRLF is a ping, a single CRLF a pong", () => {
    const f = new StreamFramer();
    expect(f.push(Buffer.from("\r\n\r\n"))).toEqual([{ kind: "keepalive", pong: true }]);
    expect(f.push(Buffer.from("\r\n"))).toEqual([]); // maybe the first half of a ping: wait
    const evs = f.push(reg);
    expect(evs[0]).toEqual({ kind: "keepalive", pong: false });
    expect(messages(evs)).toEqual([REGISTER]);
  });

  it("RFC 5626 §4.4.1: keepalives between messages, split across chunks", () => {
    const f = new StreamFramer();
    const all = Buffer.concat([reg, Buffer.from("\r\n\r\n"), inv, Buffer.from("\r\n\r\n")]);
    const evs: FrameEvent[] = [];
    for (let i = 0; i < all.length; i += 7) evs.push(...f.push(all.subarray(i, i + 7)));
    expect(evs.map((e) => e.kind)).toEqual(["message", "keepalive", "message", "keepalive"]);
    expect(evs.filter((e) => e.kind === "keepalive").every((e) => e.kind === "keepalive" && e.pong)).toBe(true);
  });

  it("RFC 3261 §18.3: Content-Length is mandatory on a stream", () => {
    const f = new StreamFramer();
    const evs = f.push(Buffer.from("OPTIONS sip:b@h SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n"));
    expect(evs).toHaveLength(1);
    const e = evs[0];
    if (e?.kind !== "error") throw new Error("error expected");
    expect(e.error.sipStatus).toBe(400);
    expect(e.error.header).toBe("Content-Length");
  });

  it("RFC 4475 §3.1.2.3: negative Content-Length is an unrecoverable framing error", () => {
    const f = new StreamFramer();
    const evs = f.push(Buffer.from("OPTIONS sip:b@h SIP/2.0\r\nContent-Length: -1\r\n\r\n"));
    expect(evs[0]?.kind).toBe("error");
    // the framer stays failed: the connection must be closed
    expect(f.push(reg)).toEqual([]);
  });

  it("RFC 4475 §3.3.9: two different Content-Length values are an error", () => {
    const evs = new StreamFramer().push(Buffer.from("OPTIONS sip:b@h SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nab"));
    const e = evs[0];
    if (e?.kind !== "error") throw new Error("error expected");
    expect(e.error.code).toBe("bad-content-length");
  });

  it("compact 'l' and LWS around the colon are found", () => {
    const m = "OPTIONS sip:b@h SIP/2.0\r\nL  :  3\r\n\r\nabc";
    expect(messages(new StreamFramer().push(Buffer.from(m)))).toEqual([m]);
  });

  it("DESIGN §6: an endless header section is cut at maxHeaderBytes with 513", () => {
    const f = new StreamFramer({ maxHeaderBytes: 256 });
    let evs: FrameEvent[] = [];
    evs = evs.concat(f.push(Buffer.from("OPTIONS sip:b@h SIP/2.0\r\n")));
    for (let i = 0; i < 50 && evs.length === 0; i++) evs = evs.concat(f.push(Buffer.from("X-Filler: aaaaaaaaaaaaaaaa\r\n")));
    const e = evs[0];
    if (e?.kind !== "error") throw new Error("error expected");
    expect(e.error.sipStatus).toBe(513);
    expect(f.buffered).toBe(0);
  });

  it("DESIGN §6: a Content-Length beyond maxMessageBytes is 513 before the body arrives", () => {
    const f = new StreamFramer({ maxMessageBytes: 1000 });
    const e = f.push(Buffer.from("MESSAGE sip:b@h SIP/2.0\r\nContent-Length: 5000\r\n\r\n"))[0];
    if (e?.kind !== "error") throw new Error("error expected");
    expect(e.error.sipStatus).toBe(513);
    expect(e.error.code).toBe("too-large");
  });

  it("buffered counts bytes held for an incomplete message", () => {
    const f = new StreamFramer();
    f.push(inv.subarray(0, 100));
    expect(f.buffered).toBe(100);
    f.push(inv.subarray(100));
    expect(f.buffered).toBe(0);
  });
});

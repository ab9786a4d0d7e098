/**
 * Property tests (fast-check, fixed seeds so a failure reproduces): round trips of generated
 * valid messages, total robustness on arbitrary and mutated bytes, and stream framing at
 * arbitrary chunk boundaries.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { buildRequest, parseMessage, SipParseError, StreamFramer } from "./index.js";
import type { FrameEvent, SipMessage } from "./index.js";

const SEED = 0x5eed;

// ---------------- generators of valid SIP ----------------

const alnum = "abcdefghijklmnopqrstuvwxyz0123456789";
const word = (min = 1, max = 10) => fc.string({ unit: fc.constantFrom(...alnum), minLength: min, maxLength: max });
const tokenStr = fc.string({ unit: fc.constantFrom(...(alnum + "ABCXYZ-.!%*_+`'~")), minLength: 1, maxLength: 12 });
const hostname = fc.array(word(1, 8), { minLength: 1, maxLength: 3 }).map((p) => p.join(".") + ".example");
const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((t) => t.join("."));
const ipv6 = fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }).map((g) => `[${g.map((x) => x.toString(16)).join(":")}]`);
const host = fc.oneof(hostname, ipv4, ipv6);
const port = fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined });
/** user part with characters that must be %-escaped */
const user = fc.string({ unit: fc.constantFrom(...(alnum + "-_.!~*'()&=+$,;?/ @:%\u00e9")), minLength: 1, maxLength: 10 }).map((u) =>
  [...Buffer.from(u, "utf8")].map((b) => (/[A-Za-z0-9\-_.!~*'()&=+$,;?/]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, "0")}`)).join(""),
);
const uriParams = fc.array(fc.tuple(word(1, 6), fc.option(word(1, 6), { nil: undefined })), { maxLength: 3 }).map((ps) =>
  ps.map(([k, v]) => (v === undefined ? `;${k}` : `;${k}=${v}`)).join(""),
);
const sipUri = fc.tuple(fc.constantFrom("sip", "sips", "SIP"), fc.option(user, { nil: undefined }), host, port, uriParams).map(
  ([s, u, h, p, ps]) => `${s}:${u === undefined ? "" : u + "@"}${h}${p === undefined ? "" : ":" + p}${ps}`,
);
const displayName = fc.oneof(
  fc.constant(""),
  fc.array(word(1, 6), { minLength: 1, maxLength: 3 }).map((ws) => ws.join(" ") + " "),
  fc.string({ unit: fc.constantFrom(...(alnum + ' ,;<>@:"\\\u00fc')), maxLength: 12 }).map((s) => `"${s.replace(/(["\\])/g, "\\$1")}" `),
);
const lws = fc.constantFrom("", " ", "  ", "\t");
const nameAddr = fc.tuple(displayName, sipUri, fc.array(fc.tuple(word(1, 5), word(1, 8)), { maxLength: 2 })).map(
  ([d, u, ps]) => `${d}<${u}>${ps.map(([k, v]) => `;${k}=${v}`).join("")}`,
);
const via = fc.tuple(fc.constantFrom("UDP", "TCP", "tls", "WS", "SCTP"), host, port, word(4, 12), fc.boolean()).map(
  ([t, h, p, b, r]) => `SIP/2.0/${t} ${h}${p === undefined ? "" : ":" + p};branch=z9hG4bK${b}${r ? ";rport" : ""}`,
);
/** pick a header spelling: long, compact, or odd case */
const spell = (long: string, compact?: string) =>
  fc.constantFrom(...[long, long.toLowerCase(), long.toUpperCase(), ...(compact !== undefined ? [compact, compact.toUpperCase()] : [])]);

interface GenMsg {
  text: string;
  body: Buffer;
  method: string;
  callId: string;
  cseq: number;
  vias: number;
  routes: number;
  maxForwards: number;
}

const genMessage: fc.Arbitrary<GenMsg> = fc
  .record({
    method: fc.oneof(fc.constantFrom("INVITE", "REGISTER", "OPTIONS", "BYE", "MESSAGE"), tokenStr),
    ruri: sipUri,
    vias: fc.array(fc.array(via, { minLength: 1, maxLength: 2 }), { minLength: 1, maxLength: 3 }),
    viaName: spell("Via", "v"),
    from: nameAddr,
    fromName: spell("From", "f"),
    to: nameAddr,
    callId: fc.tuple(word(4, 16), hostname).map(([a, h]) => `${a}@${h}`),
    cseq: fc.nat(4294967295),
    maxForwards: fc.nat(255),
    routes: fc.array(sipUri.map((u) => `<${u};lr>`), { maxLength: 3 }),
    extra: fc.array(fc.tuple(fc.constantFrom("Subject", "User-Agent", "X-Custom", "Allow", "Supported", "s", "k"), fc.string({ unit: fc.constantFrom(...(alnum + " ,;=<>\"")), maxLength: 20 })), { maxLength: 4 }),
    fold: fc.boolean(),
    sep: lws,
    body: fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
    clName: spell("Content-Length", "l"),
  })
  .map((r) => {
    const lines: string[] = [`${r.method} ${r.ruri} SIP/2.0`];
    for (const group of r.vias) lines.push(`${r.viaName}${r.sep}:${r.sep}${group.join(", ")}`);
    lines.push(`Max-Forwards: ${r.maxForwards}`);
    lines.push(r.fold ? `${r.fromName}:\r\n  ${r.from};tag=f1` : `${r.fromName}: ${r.from};tag=f1`);
    lines.push(`To: ${r.to}`, `Call-ID: ${r.callId}`, `CSeq: ${r.cseq} ${r.method}`);
    if (r.routes.length > 0) lines.push(`Route: ${r.routes.join(", ")}`);
    for (const [n, v] of r.extra) lines.push(`${n}: ${v.trim() === "" ? "x" : v.trim()}`);
    lines.push(`${r.clName}: ${r.body.length}`, "", "");
    return {
      text: lines.join("\r\n"),
      body: r.body,
      method: r.method,
      callId: r.callId,
      cseq: r.cseq,
      vias: r.vias.reduce((n, g) => n + g.length, 0),
      routes: r.routes.length,
      maxForwards: r.maxForwards,
    };
  });

const bytesOf = (g: GenMsg): Buffer => Buffer.concat([Buffer.from(g.text, "utf8"), g.body]);

function parsed(b: Buffer): SipMessage {
  const r = parseMessage(b);
  if (!r.ok) throw new Error(`generated message did not parse: ${r.error.message}\n${b.toString("utf8")}`);
  return r.message;
}

/** every accessor: returns, or throws SipParseError — never anything else */
function touchAll(m: SipMessage): void {
  const calls: (() => unknown)[] = [
    () => m.callId, () => m.cseq(), () => m.from().params, () => m.to().params, () => m.fromTag(), () => m.toTag(),
    () => m.vias().map((v) => v.params), () => m.topVia(), () => m.maxForwards(), () => m.routes(), () => m.recordRoutes(),
    () => m.paths(), () => m.contacts(), () => m.expires(), () => m.minExpires(), () => m.supported(), () => m.require(),
    () => m.proxyRequire(), () => m.unsupported(), () => m.contentLength(), () => m.contentType(), () => m.authorization(),
    () => m.proxyAuthorization(), () => m.wwwAuthenticate(), () => m.proxyAuthenticate(), () => m.fields, () => m.body,
    () => (m.kind === "request" ? m.requestUri() : m.status), () => m.headerValues("via"), () => m.toBuffer(),
  ];
  for (const c of calls) {
    try {
      c();
    } catch (e) {
      if (!(e instanceof SipParseError)) throw e;
    }
  }
}

describe("property: generated valid messages", () => {
  it("RFC 3261 §7: parse(x).toBuffer() is x, byte for byte, and the accessors see what was generated", () => {
    fc.assert(
      fc.property(genMessage, (g) => {
        const b = bytesOf(g);
        const m = parsed(b);
        expect(m.toBuffer().equals(b)).toBe(true);
        expect(m.edit().toBuffer().equals(b)).toBe(true);
        if (m.kind !== "request") throw new Error("request expected");
        expect(m.method).toBe(g.method);
        expect(m.callId).toBe(g.callId);
        expect(m.cseq()).toEqual({ seq: g.cseq, method: g.method });
        expect(m.vias()).toHaveLength(g.vias);
        expect(m.routes()).toHaveLength(g.routes);
        expect(m.maxForwards()).toBe(g.maxForwards);
        expect(m.fromTag()).toBe("f1");
        expect(m.body.equals(g.body)).toBe(true);
      }),
      { seed: SEED, numRuns: 1500 },
    );
  });

  it("RFC 3261 §7.3: serialising the parsed fields (canonical names, unfolded values) re-parses to the same message", () => {
    fc.assert(
      fc.property(genMessage, (g) => {
        const m = parsed(bytesOf(g));
        if (m.kind !== "request") throw new Error("request expected");
        const rebuilt = buildRequest({ method: m.method, uri: m.uri, headers: m.fields.map((f) => [f.name, f.value] as const), body: m.body });
        const m2 = parsed(rebuilt);
        expect(m2.fields).toEqual(m.fields);
        expect(m2.body.equals(m.body)).toBe(true);
        expect(m2.topVia().raw).toBe(m.topVia().raw);
        expect(m2.from().displayName).toBe(m.from().displayName);
        expect(m2.to().uri).toBe(m.to().uri);
        expect(m2.routes().map((r) => r.uri)).toEqual(m.routes().map((r) => r.uri));
      }),
      { seed: SEED + 1, numRuns: 800 },
    );
  });

  it("RFC 3261 §16.6: the proxy edit (Via, Record-Route, Max-Forwards) keeps every other field", () => {
    fc.assert(
      fc.property(genMessage, (g) => {
        const m = parsed(bytesOf(g));
        const out = m.edit().prependHeader("Via", "SIP/2.0/UDP edge.example;branch=z9hG4bKp").prependHeader("Record-Route", "<sip:edge.example;lr>").setMaxForwards(Math.max(0, g.maxForwards - 1)).toBuffer();
        const m2 = parsed(out);
        expect(m2.topVia().host).toBe("edge.example");
        expect(m2.vias()).toHaveLength(g.vias + 1);
        expect(m2.recordRoutes()).toHaveLength(1);
        expect(m2.maxForwards()).toBe(Math.max(0, g.maxForwards - 1));
        const strip = (x: SipMessage) => x.fields.filter((f) => f.name !== "via" && f.name !== "record-route" && f.name !== "max-forwards");
        expect(strip(m2)).toEqual(strip(m));
        expect(m2.body.equals(m.body)).toBe(true);
      }),
      { seed: SEED + 2, numRuns: 800 },
    );
  });
});

describe("property: robustness", () => {
  it("arbitrary bytes: parseMessage returns a result (never throws), errors are SipParseError with a SIP status", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (a) => {
        const r = parseMessage(Buffer.from(a));
        if (r.ok) touchAll(r.message);
        else {
          expect(r.error).toBeInstanceOf(SipParseError);
          expect([400, 416, 505, 513]).toContain(r.error.sipStatus);
        }
      }),
      { seed: SEED + 3, numRuns: 3000 },
    );
  });

  it("SIP-shaped noise: lines of header-ish tokens never crash the parser or the accessors", () => {
    const piece = fc.constantFrom("\r\n", " ", "\t", ":", ";", ",", "<", ">", '"', "\\", "=", "@", "[", "]", "%", "%4", "sip:", "SIP/2.0", "Via", "v", "To", "From", "CSeq", "Call-ID", "Contact", "*", "Route", "l", "0", "70", "INVITE", "REGISTER", "branch", "tag", "rport", "received", "\u00ff", "\u0000");
    const msg = fc.array(piece, { maxLength: 120 }).map((ps) => Buffer.from(ps.join(""), "latin1"));
    fc.assert(
      fc.property(msg, (b) => {
        const r = parseMessage(b);
        if (r.ok) touchAll(r.message);
        else expect(r.error).toBeInstanceOf(SipParseError);
      }),
      { seed: SEED + 4, numRuns: 3000 },
    );
  });

  it("mutated valid messages: any byte changed, inserted or deleted yields a message or a SipParseError", () => {
    const mutated = fc.tuple(genMessage, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 2 }), fc.nat(255)), { minLength: 1, maxLength: 4 })).map(([g, muts]) => {
      let b = bytesOf(g);
      for (const [pos, op, val] of muts) {
        const at = pos % (b.length + 1);
        if (op === 0 && at < b.length) b = Buffer.concat([b.subarray(0, at), Buffer.from([val]), b.subarray(at + 1)]);
        else if (op === 1) b = Buffer.concat([b.subarray(0, at), Buffer.from([val]), b.subarray(at)]);
        else b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
      }
      return b;
    });
    fc.assert(
      fc.property(mutated, (b) => {
        const r = parseMessage(b);
        if (r.ok) {
          touchAll(r.message);
          // whatever parsed must re-serialise to a message that parses the same way
          const again = parseMessage(r.message.edit().setMaxForwards(1).toBuffer());
          if (!again.ok) throw new Error(`edited message no longer parses: ${again.error.message}`);
        } else expect(r.error).toBeInstanceOf(SipParseError);
      }),
      { seed: SEED + 5, numRuns: 2000 },
    );
  });
});

describe("property: stream framing", () => {
  it("RFC 3261 §18.3 / RFC 5626 §4.4.1: concatenated messages and keepalives split at arbitrary boundaries frame exactly", () => {
    const item = fc.oneof({ weight: 4, arbitrary: genMessage.map((g) => ({ kind: "message" as const, bytes: bytesOf(g) })) }, { weight: 1, arbitrary: fc.constant({ kind: "ping" as const, bytes: Buffer.from("\r\n\r\n") }) });
    fc.assert(
      fc.property(fc.array(item, { minLength: 1, maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 20 }), (items, cuts) => {
        const all = Buffer.concat(items.map((i) => i.bytes));
        const f = new StreamFramer();
        const evs: FrameEvent[] = [];
        let pos = 0;
        let k = 0;
        while (pos < all.length) {
          const n = cuts[k++ % cuts.length]!;
          evs.push(...f.push(all.subarray(pos, pos + n)));
          pos += n;
        }
        const errEv = evs.find((e) => e.kind === "error");
        if (errEv?.kind === "error") throw new Error(`framer error: ${errEv.error.message}`);
        const got = evs.map((e) => (e.kind === "message" ? e.bytes.toString("latin1") : e.kind === "keepalive" && e.pong ? "PING" : "other"));
        const want = items.map((i) => (i.kind === "message" ? i.bytes.toString("latin1") : "PING"));
        expect(got).toEqual(want);
        expect(f.buffered).toBe(0);
        for (const e of evs) if (e.kind === "message") expect(parseMessage(e.bytes, { transport: "stream" }).ok).toBe(true);
      }),
      { seed: SEED + 6, numRuns: 400 },
    );
  });
});

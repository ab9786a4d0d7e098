/**
 * The editor against a model: random sequences of edits applied to a real message and to a plain
 * list of header lines must give the same header section, and every untouched line keeps its
 * exact bytes (RFC 3261 §16.6: a proxy changes only what the procedure says). The editor keeps
 * its lines as integer codes over the parsed fields plus a side list of new lines; this pins that
 * bookkeeping (a new line edited again, removed again, or found first by a later edit).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseMessage } from "./index.js";
import type { SipMessage } from "./index.js";

const crlf = (...lines: string[]): string => lines.join("\r\n");

/** Odd spellings on purpose: compact forms, case, LWS; two Via lines, a Route list line. */
const BASE_LINES = [
  "v: SIP/2.0/UDP a.example.com;branch=z9hG4bKa , SIP/2.0/UDP b.example.com;branch=z9hG4bKb",
  "Max-Forwards:  12",
  "Route: <sip:p1.example.com;lr>,<sip:p2.example.com;lr>",
  "f: <sip:alice@example.com>;tag=1",
  "t: <sip:bob@example.com>",
  "i: model@example.com",
  "CSeq: 1 INVITE",
  "VIA: SIP/2.0/TCP c.example.com;branch=z9hG4bKc",
  "X-Custom: one",
  "Subject: hello, world",
  "l: 4",
];
const BASE = crlf("INVITE sip:bob@example.com SIP/2.0", ...BASE_LINES, "", "body");

/** canonical name of a line's header, as the model needs it */
const CANON: Record<string, string> = { v: "via", via: "via", "max-forwards": "max-forwards", route: "route", f: "from", t: "to", i: "call-id", cseq: "cseq", "x-custom": "x-custom", subject: "subject", l: "content-length", "record-route": "record-route" };
const LIST = new Set(["via", "route", "record-route"]);
const DISPLAY: Record<string, string> = { via: "Via", route: "Route", "record-route": "Record-Route", subject: "Subject", "x-custom": "X-Custom", "max-forwards": "Max-Forwards" };

interface Line {
  canon: string;
  text: string;
}

function lineOf(text: string): Line {
  const name = text.slice(0, text.indexOf(":")).trim().toLowerCase();
  return { canon: CANON[name] ?? name, text };
}

function spelling(l: Line): string {
  return l.text.slice(0, l.text.indexOf(":")).trimEnd();
}

function valueOf(l: Line): string {
  return l.text.slice(l.text.indexOf(":") + 1).trim();
}

/** first top-level comma (no quotes in these values; commas inside <> are not separators) */
function restAfterTop(v: string): string {
  let angle = false;
  for (let i = 0; i < v.length; i++) {
    if (v[i] === "<") angle = true;
    else if (v[i] === ">") angle = false;
    else if (v[i] === "," && !angle) return v.slice(i + 1).trim();
  }
  return "";
}

type Op =
  | { op: "prepend" | "append" | "set" | "replaceTop"; name: string; value: string }
  | { op: "removeTop" | "remove"; name: string };

const names = fc.constantFrom("Via", "via", "Route", "Record-Route", "Subject", "X-Custom", "Max-Forwards");
const values = fc.constantFrom("SIP/2.0/UDP n.example;branch=z9hG4bKn", "<sip:r.example;lr>", "<sip:x;lr>, <sip:y;lr>", "v1", "a, b");
const ops: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constantFrom("prepend", "append", "set", "replaceTop"), name: names, value: values }) as fc.Arbitrary<Op>,
  fc.record({ op: fc.constantFrom("removeTop", "remove"), name: names }) as fc.Arbitrary<Op>,
);

function applyModel(lines: Line[], o: Op): Line[] {
  const canon = o.name.toLowerCase();
  const write = DISPLAY[canon] ?? o.name;
  const at = lines.findIndex((l) => l.canon === canon);
  const out = lines.slice();
  switch (o.op) {
    case "prepend":
      out.splice(at < 0 ? 0 : at, 0, { canon, text: `${write}: ${o.value}` });
      return out;
    case "append":
      out.push({ canon, text: `${write}: ${o.value}` });
      return out;
    case "set": {
      if (at < 0) return applyModel(lines, { op: "append", name: o.name, value: o.value });
      const keep = out.filter((l, i) => i === at || l.canon !== canon);
      const j = keep.indexOf(lines[at]!);
      keep[j] = { canon, text: `${spelling(lines[at]!)}: ${o.value}` };
      return keep;
    }
    case "replaceTop": {
      if (at < 0) return applyModel(lines, { op: "prepend", name: o.name, value: o.value });
      const rest = LIST.has(canon) ? restAfterTop(valueOf(lines[at]!)) : "";
      out[at] = { canon, text: `${spelling(lines[at]!)}: ${rest.length === 0 ? o.value : `${o.value}, ${rest}`}` };
      return out;
    }
    case "removeTop": {
      if (at < 0) return out;
      const rest = LIST.has(canon) ? restAfterTop(valueOf(lines[at]!)) : "";
      if (rest.length === 0) out.splice(at, 1);
      else out[at] = { canon, text: `${spelling(lines[at]!)}: ${rest}` };
      return out;
    }
    case "remove":
      return out.filter((l) => l.canon !== canon);
  }
}

function applyEditor(m: SipMessage, list: Op[]): Buffer {
  const e = m.edit();
  for (const o of list) {
    if (o.op === "prepend") e.prependHeader(o.name, o.value);
    else if (o.op === "append") e.appendHeader(o.name, o.value);
    else if (o.op === "set") e.setHeader(o.name, o.value);
    else if (o.op === "replaceTop") e.replaceTopValue(o.name, o.value);
    else if (o.op === "removeTop") e.removeTopValue(o.name);
    else e.removeHeader(o.name);
  }
  return e.toBuffer();
}

describe("MessageEditor against a line-list model (RFC 3261 §16.6)", () => {
  const parsed = parseMessage(Buffer.from(BASE, "latin1"));
  if (!parsed.ok) throw parsed.error;
  const message = parsed.message;

  it("any sequence of up to 8 edits gives the model's header lines, untouched lines byte for byte", () => {
    fc.assert(
      fc.property(fc.array(ops, { maxLength: 8 }), (list) => {
        let model = BASE_LINES.map(lineOf);
        for (const o of list) model = applyModel(model, o);
        const out = applyEditor(message, list).toString("latin1");
        const expected = crlf("INVITE sip:bob@example.com SIP/2.0", ...model.map((l) => l.text), "", "body");
        expect(out).toBe(expected);
      }),
      { seed: 0x5eed, numRuns: 3000 },
    );
  });

  it("editing twice from the same message gives the same bytes (an editor never changes its message)", () => {
    const list: Op[] = [{ op: "prepend", name: "Via", value: "SIP/2.0/UDP n;branch=z9hG4bKn" }, { op: "removeTop", name: "Route" }];
    expect(applyEditor(message, list).equals(applyEditor(message, list))).toBe(true);
    expect(message.toBuffer().toString("latin1")).toBe(BASE);
  });

  it("a header name that is not a token is refused: it would write a broken or injected line", () => {
    expect(() => message.edit().prependHeader("X-Evil: 1\r\nVia", "v")).toThrow(/not a token/);
    expect(() => message.edit().setHeader("Bad Name", "v")).toThrow(TypeError);
    expect(() => message.edit().appendHeader("", "v")).toThrow(TypeError);
  });
});

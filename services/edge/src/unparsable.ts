/**
 * A 400/505/416/513 for a request the parser rejected (DESIGN §2 step 1: "stateless 400
 * with a reason phrase when a response is possible").
 *
 * RFC 3261 §8.2.6 builds a response from Via, From, To, Call-ID and CSeq. The UAC matches a
 * response to its transaction by the top Via branch and the CSeq method (§17.1.3), so Via and
 * CSeq are what make a response usable: with both present (and the message not a response,
 * not an ACK, §17) we answer, copying the header lines verbatim, From/To/Call-ID when present
 * — a request that lacks Call-ID still learns why it failed ("Missing Header: Call-ID").
 * Without them the bytes are dropped: an unanswerable message must not become a reflection
 * vector, and nobody could match the answer anyway.
 */
import { reasonPhrase, type SipParseError } from "@edgepath/sip";

const COPY: Readonly<Record<string, string>> = {
  via: "Via", v: "Via", from: "From", f: "From", to: "To", t: "To", "call-id": "Call-ID", i: "Call-ID", cseq: "CSeq",
};
/** We never scan further than this for the header lines to copy. */
const MAX_SCAN = 16 * 1024;
/** A header value we copy must be printable (no control characters other than HTAB). */
const UNSAFE_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;

export function errorResponseForUnparsable(bytes: Buffer, error: SipParseError): Buffer | undefined {
  const text = bytes.toString("latin1", 0, Math.min(bytes.length, MAX_SCAN));
  const firstEnd = text.indexOf("\r\n");
  if (firstEnd <= 0) return undefined;
  const startLine = text.slice(0, firstEnd);
  // Responses are never answered; ACK never gets a response (RFC 3261 §17).
  if (startLine.startsWith("SIP/") || /^ACK\s/i.test(startLine)) return undefined;
  // Something that looks like a request line: a token method, then anything printable.
  if (!/^[A-Za-z][A-Za-z0-9.!%*_+`'~-]* +[\x21-\x7e]/.test(startLine)) return undefined;
  const headEnd = text.indexOf("\r\n\r\n");
  const lines = text.slice(firstEnd + 2, headEnd < 0 ? text.length : headEnd).split("\r\n");
  const copied: string[] = [];
  const seen = new Set<string>();
  let to: string | undefined;
  let cseq: string | undefined;
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = COPY[line.slice(0, colon).trim().toLowerCase()];
    if (name === undefined) continue;
    const value = line.slice(colon + 1).trim();
    if (value === "" || UNSAFE_VALUE.test(value)) continue;
    if (name !== "Via" && seen.has(name)) continue;
    seen.add(name);
    if (name === "To") {
      to = value;
      continue;
    }
    if (name === "CSeq") cseq = value;
    copied.push(`${name}: ${value}`);
  }
  if (!seen.has("Via") || cseq === undefined) return undefined;
  if (/^\d+\s+ACK$/i.test(cseq)) return undefined;
  // RFC 3261 §8.2.6.2: a response without a To tag gets one; deterministic so a
  // retransmitted request is answered identically (stateless, §16.11).
  if (to !== undefined) copied.push(`To: ${/;\s*tag=/i.test(to) ? to : `${to};tag=ep${fnv(text.slice(0, firstEnd) + cseq)}`}`);
  const reason = sanitizeReason(error.reason || reasonPhrase(error.sipStatus));
  return Buffer.from(`SIP/2.0 ${error.sipStatus} ${reason}\r\n${copied.join("\r\n")}\r\nContent-Length: 0\r\n\r\n`, "latin1");
}

function sanitizeReason(r: string): string {
  return r.replace(/[^\x20-\x7e]/g, "?").slice(0, 120);
}

function fnv(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(36);
}

/**
 * A 400/505/416/513 for a request the parser rejected (DESIGN §2 step 1: "stateless 400
 * with a reason phrase when a response is possible"). A response needs the request's
 * Via, From, To, Call-ID and CSeq (RFC 3261 §8.2.6); when the start line is a request
 * other than ACK and those header lines are present we copy them verbatim, otherwise the
 * bytes are dropped (an unanswerable message must not become a reflection vector).
 */
import { reasonPhrase, type SipParseError } from "@edgepath/sip";

const COPY: Record<string, string> = {
  via: "Via", v: "Via", from: "From", f: "From", to: "To", t: "To", "call-id": "Call-ID", i: "Call-ID", cseq: "CSeq",
};
const MAX_SCAN = 16 * 1024;

export function errorResponseForUnparsable(bytes: Buffer, error: SipParseError): Buffer | undefined {
  const text = bytes.toString("latin1", 0, Math.min(bytes.length, MAX_SCAN));
  const firstEnd = text.indexOf("\r\n");
  if (firstEnd < 0) return undefined;
  const startLine = text.slice(0, firstEnd);
  if (startLine.startsWith("SIP/") || startLine.startsWith("ACK ")) return undefined;
  if (!/^[A-Za-z]+ \S+ SIP\/\d+\.\d+$/.test(startLine)) return undefined;
  const headEnd = text.indexOf("\r\n\r\n");
  const lines = text.slice(firstEnd + 2, headEnd < 0 ? text.length : headEnd).split("\r\n");
  const copied: string[] = [];
  const seen = new Set<string>();
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = COPY[line.slice(0, colon).trim().toLowerCase()];
    if (name === undefined) continue;
    const value = line.slice(colon + 1).trim();
    if (value === "" || /[\r\n\0]/.test(value)) continue;
    if (name !== "Via" && seen.has(name)) continue;
    seen.add(name);
    copied.push(`${name}: ${value}`);
  }
  for (const required of ["Via", "From", "To", "Call-ID", "CSeq"]) if (!seen.has(required)) return undefined;
  const reason = sanitizeReason(error.reason || reasonPhrase(error.sipStatus));
  return Buffer.from(`SIP/2.0 ${error.sipStatus} ${reason}\r\n${copied.join("\r\n")}\r\nContent-Length: 0\r\n\r\n`, "latin1");
}

function sanitizeReason(r: string): string {
  return r.replace(/[^\x20-\x7e]/g, "?").slice(0, 120);
}

/**
 * Requests a client transaction (or its TU) derives from the original request: the ACK for a non-2xx
 * final response (RFC 3261 §17.1.1.3) and the CANCEL of a pending INVITE (§9.1). Both copy the
 * original's Request-URI, Call-ID, From, CSeq number, single top Via and Route set; they differ in To
 * and method. Header values are copied verbatim (no re-serialisation of what we did not change).
 */
import type { SipRequest, SipResponse } from "@edgepath/sip";

const CRLF = "\r\n";

/**
 * RFC 3261 §17.1.1.3 "Construction of the ACK Request":
 * - "Call-ID, From, and Request-URI ... equal to the values of those header fields in the request passed
 *   to the transport by the client transaction (call this the 'original request')";
 * - "The To header field in the ACK MUST equal the To header field in the response being acknowledged";
 * - "The ACK MUST contain a single Via header field, and this MUST be equal to the top Via header field of
 *   the original request";
 * - "The CSeq header field in the ACK MUST contain the same value for the sequence number as was present
 *   in the original request, but the method parameter MUST be equal to 'ACK'";
 * - "If the INVITE request whose response is being acknowledged had Route header fields, those header
 *   fields MUST appear in the ACK."
 * Max-Forwards (mandatory in every request, §8.1.1.6) is 70; the ACK has no body.
 */
export function buildAckForNon2xx(original: SipRequest, response: SipResponse): Buffer {
  const to = response.header("to") ?? original.header("to") ?? "";
  return Buffer.from(derivedRequest(original, "ACK", to, []), "utf8");
}

/**
 * RFC 3261 §9.1: "The Request-URI, Call-ID, To, the numeric part of CSeq, and From header fields in the
 * CANCEL request MUST be identical to those in the request being cancelled, including tags. A CANCEL
 * constructed by a client MUST have only a single Via header field value matching the top Via value in
 * the request being cancelled. ... If the request being cancelled contains a Route header field, the
 * CANCEL request MUST include that Route header field's values." A proxy cancelling branches (§16.10,
 * §16.7 step 10) may add `Reason` (RFC 3326) through `extraHeaders`.
 *
 * §9.1 also says a CANCEL "MUST NOT be sent" before a provisional response arrived; that wait is the
 * TU's (see InviteClientTransaction.state === "Proceeding").
 */
export function buildCancel(original: SipRequest, extraHeaders: ReadonlyArray<readonly [string, string]> = []): Buffer {
  return Buffer.from(derivedRequest(original, "CANCEL", original.header("to") ?? "", extraHeaders), "utf8");
}

function derivedRequest(original: SipRequest, method: "ACK" | "CANCEL", to: string,
  extraHeaders: ReadonlyArray<readonly [string, string]>): string {
  const topVia = original.headerValues("via")[0] ?? "";
  let out = `${method} ${original.uri} SIP/2.0${CRLF}Via: ${topVia}${CRLF}`;
  for (const route of original.headerValues("route")) out += `Route: ${route}${CRLF}`;
  out += `Max-Forwards: 70${CRLF}`;
  out += `From: ${original.header("from") ?? ""}${CRLF}`;
  out += `To: ${to}${CRLF}`;
  out += `Call-ID: ${original.callId}${CRLF}`;
  out += `CSeq: ${original.cseq().seq} ${method}${CRLF}`;
  for (const [name, value] of extraHeaders) out += `${name}: ${value}${CRLF}`;
  out += `Content-Length: 0${CRLF}${CRLF}`;
  return out;
}

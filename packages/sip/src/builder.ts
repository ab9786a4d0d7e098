/**
 * Building responses (RFC 3261 §8.2.6) and requests; reason phrases (§21 and later RFCs);
 * branch and tag generation (§8.1.1.7, §19.3).
 */
import { randomFillSync } from "node:crypto";
import type { SipParseError } from "./errors.js";
import { canonicalName, knownDisplayName } from "./headers.js";
import type { SipRequest } from "./message.js";

export const BRANCH_MAGIC_COOKIE = "z9hG4bK";

const REASONS: Readonly<Record<number, string>> = {
  100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued", 183: "Session Progress",
  199: "Early Dialog Terminated", 200: "OK", 202: "Accepted", 204: "No Notification",
  300: "Multiple Choices", 301: "Moved Permanently", 302: "Moved Temporarily", 305: "Use Proxy",
  380: "Alternative Service", 400: "Bad Request", 401: "Unauthorized", 402: "Payment Required",
  403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
  407: "Proxy Authentication Required", 408: "Request Timeout", 410: "Gone", 412: "Conditional Request Failed",
  413: "Request Entity Too Large", 414: "Request-URI Too Long", 415: "Unsupported Media Type",
  416: "Unsupported URI Scheme", 417: "Unknown Resource-Priority", 420: "Bad Extension", 421: "Extension Required",
  422: "Session Interval Too Small", 423: "Interval Too Brief", 428: "Use Identity Header",
  429: "Provide Referrer Identity", 430: "Flow Failed", 433: "Anonymity Disallowed", 436: "Bad Identity-Info",
  437: "Unsupported Certificate", 438: "Invalid Identity Header", 439: "First Hop Lacks Outbound Support",
  440: "Max-Breadth Exceeded", 469: "Bad Info Package", 470: "Consent Needed",
  480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist", 482: "Loop Detected",
  483: "Too Many Hops", 484: "Address Incomplete", 485: "Ambiguous", 486: "Busy Here", 487: "Request Terminated",
  488: "Not Acceptable Here", 489: "Bad Event", 491: "Request Pending", 493: "Undecipherable",
  494: "Security Agreement Required", 500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway",
  503: "Service Unavailable", 504: "Server Time-out", 505: "Version Not Supported", 513: "Message Too Large",
  555: "Push Notification Service Not Supported", 580: "Precondition Failure", 600: "Busy Everywhere",
  603: "Decline", 604: "Does Not Exist Anywhere", 606: "Not Acceptable", 607: "Unwanted", 608: "Rejected",
};

/** Default reason phrase; a class default ("Bad Request" for an unknown 4xx) otherwise. */
export function reasonPhrase(status: number): string {
  const r = REASONS[status];
  if (r !== undefined) return r;
  const cls = Math.floor(status / 100);
  return cls === 1 ? "Trying" : cls === 2 ? "OK" : cls === 3 ? "Multiple Choices" : cls === 4 ? "Bad Request" : cls === 5 ? "Server Internal Error" : "Decline";
}

// random tokens from a pooled CSPRNG buffer (randomFillSync per call costs more than the parse)
const POOL = Buffer.allocUnsafe(4096);
let poolPos = POOL.length;
function randomToken(bytes: number, encoding: "base64url" | "hex"): string {
  if (poolPos + bytes > POOL.length) {
    randomFillSync(POOL);
    poolPos = 0;
  }
  const s = POOL.toString(encoding, poolPos, poolPos + bytes);
  poolPos += bytes;
  return s;
}

/** RFC 3261 §8.1.1.7: "z9hG4bK" + 96 random bits, base64url (token characters only). */
export function generateBranch(): string {
  return BRANCH_MAGIC_COOKIE + randomToken(12, "base64url");
}

/**
 * RFC 3261 §19.3: at least 32 random bits; we use 64, as 16 lowercase hex digits. Not base64url:
 * a To tag sits before CSeq in every response we build (§8.2.6.2 copies To, then Call-ID, CSeq),
 * and sipp finds a response's CSeq method with `strstr(msg, "CSeq")` (extract_cseq_method), so a
 * random mixed-case tag that happens to contain "CSeq" (about 1 in 2 million with 11 base64url
 * characters) made sipp abort that call as an unexpected message. Lowercase hex cannot spell it.
 */
export function generateTag(): string {
  return randomToken(8, "hex");
}

export interface ResponseOptions {
  /** added to To when it has no tag (never on 100, RFC 3261 §8.2.6.2) */
  toTag?: string;
  headers?: ReadonlyArray<readonly [string, string]>;
  body?: Buffer;
  contentType?: string;
}

function checkLine(v: string): string {
  if (v.indexOf("\r") >= 0 || v.indexOf("\n") >= 0) throw new TypeError("header value must not contain CR or LF");
  return v;
}

function nameFor(name: string): string {
  return knownDisplayName(canonicalName(name)) ?? name;
}

/**
 * RFC 3261 §8.2.6: the response copies every Via (same values, same order), From, To (with
 * ;tag=toTag added when the request's To has none and status > 100), Call-ID and CSeq; 100 also
 * copies Timestamp (§8.2.6.1). Then the extra headers in order, Content-Type, Content-Length.
 */
export function buildResponse(req: SipRequest, status: number, reason?: string, opts?: ResponseOptions): Buffer {
  if (!Number.isInteger(status) || status < 100 || status > 699) throw new RangeError(`status ${status} out of 100..699`);
  let out = `SIP/2.0 ${status} ${checkLine(reason ?? reasonPhrase(status))}\r\n`;
  // each Via line as it was, not re-split: only the Via values are read, no field list is built
  for (const v of req.fieldValues("via")) out += `Via: ${v}\r\n`;
  out += `From: ${req.header("from") ?? ""}\r\n`;
  let to = req.header("to") ?? "";
  if (opts?.toTag !== undefined && status > 100 && !hasToTag(req, to)) to += `;tag=${opts.toTag}`;
  out += `To: ${to}\r\nCall-ID: ${req.callId}\r\nCSeq: ${req.header("cseq") ?? ""}\r\n`;
  if (status === 100) {
    const ts = req.header("timestamp");
    if (ts !== undefined) out += `Timestamp: ${ts}\r\n`;
  }
  return finish(out, opts?.headers, opts?.body, opts?.contentType);
}

/** A `;tag=` header parameter in a To value's text. */
const TAG_PARAM = /;\s*tag\s*=/i;

/**
 * Whether the request's To has a tag. To is parsed when first read, and this response may be the
 * answer to a To that does not parse (400 Bad Header: To): such a To is judged by its text, as
 * buildErrorResponse does, so answering it never throws.
 */
function hasToTag(req: SipRequest, to: string): boolean {
  try {
    return req.toTag() !== undefined;
  } catch {
    return TAG_PARAM.test(to);
  }
}

function finish(head: string, headers: ReadonlyArray<readonly [string, string]> | undefined, body: Buffer | undefined, contentType: string | undefined): Buffer {
  let out = head;
  if (headers !== undefined) {
    for (const [n, v] of headers) {
      const canon = canonicalName(n);
      if (canon === "content-length") continue; // we write the true one
      if (canon === "content-type" && contentType !== undefined) continue;
      out += `${nameFor(checkLine(n))}: ${checkLine(v)}\r\n`;
    }
  }
  if (body !== undefined && body.length > 0 && contentType !== undefined) out += `Content-Type: ${checkLine(contentType)}\r\n`;
  out += `Content-Length: ${body?.length ?? 0}\r\n\r\n`;
  const headBytes = Buffer.byteLength(out);
  const buf = Buffer.allocUnsafe(headBytes + (body?.length ?? 0));
  buf.write(out, 0, "utf8");
  if (body !== undefined) body.copy(buf, headBytes);
  return buf;
}

/** A request from parts: start line, headers in order, Content-Length computed. */
export function buildRequest(r: { method: string; uri: string; headers: ReadonlyArray<readonly [string, string]>; body?: Buffer }): Buffer {
  if (/\s/.test(r.method) || /\s/.test(r.uri)) throw new TypeError("method and Request-URI must not contain whitespace");
  return finish(`${r.method} ${r.uri} SIP/2.0\r\n`, r.headers, r.body, undefined);
}

/**
 * Best-effort stateless error response for bytes that failed to parse (DESIGN §2: "a stateless
 * 400 with a reason phrase when a response is possible"). Returns undefined when no response is
 * possible or allowed: the bytes are a response, the request is an ACK (RFC 3261 §17.2.1), or
 * there is no Via to answer to. Copies Via, From, To (adding a tag), Call-ID and CSeq as found.
 */
export function buildErrorResponse(bytes: Buffer, error: SipParseError, toTag?: string): Buffer | undefined {
  const max = Math.min(bytes.length, 65535);
  let s = bytes.toString("latin1", 0, max);
  const hdrEnd = s.indexOf("\r\n\r\n");
  if (hdrEnd >= 0) s = s.slice(0, hdrEnd + 2);
  s = s.replace(/^(\r\n)+/, "");
  const sle = s.indexOf("\r\n");
  const startLine = sle < 0 ? s : s.slice(0, sle);
  const sp = startLine.indexOf(" ");
  const method = sp > 0 ? startLine.slice(0, sp) : "";
  if (method.length === 0 || method.toUpperCase().startsWith("SIP/") || method === "ACK") return undefined;
  const lines = (sle < 0 ? "" : s.slice(sle + 2)).replace(/\r\n[ \t]+/g, " ").split("\r\n");
  const vias: string[] = [];
  const one = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const canon = canonicalName(line.slice(0, colon).trim());
    const value = line.slice(colon + 1).trim();
    if (/[\r\n]/.test(value)) continue;
    if (canon === "via") vias.push(value);
    else if ((canon === "from" || canon === "to" || canon === "call-id" || canon === "cseq") && !one.has(canon)) one.set(canon, value);
  }
  if (vias.length === 0) return undefined;
  let out = `SIP/2.0 ${error.sipStatus} ${error.reason.replace(/[\r\n]/g, " ")}\r\n`;
  for (const v of vias) out += `Via: ${v}\r\n`;
  const from = one.get("from");
  if (from !== undefined) out += `From: ${from}\r\n`;
  let to = one.get("to");
  if (to !== undefined) {
    if (!TAG_PARAM.test(to)) to += `;tag=${toTag ?? generateTag()}`;
    out += `To: ${to}\r\n`;
  }
  const callId = one.get("call-id");
  if (callId !== undefined) out += `Call-ID: ${callId}\r\n`;
  const cseq = one.get("cseq");
  if (cseq !== undefined) out += `CSeq: ${cseq}\r\n`;
  out += "Content-Length: 0\r\n\r\n";
  return Buffer.from(out, "latin1");
}

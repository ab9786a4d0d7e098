/**
 * parseMessage: bytes -> { ok, message } | { ok: false, error }. Never throws.
 *
 * Eager work is kept to what an edge needs to reject garbage before forwarding (RFC 3261 §7,
 * §8.1.1, §16.3, §18.3; RFC 4475 §3.1.2): the start line, one cheap scan that splits header
 * lines (indexOf/charCodeAt, no regex), and validation of Content-Length, Call-ID, CSeq,
 * Max-Forwards, From, To, the top Via and the Request-URI. Everything else is parsed on access.
 */
import { isAscii } from "node:buffer";
import {
  badContentLength, badHeader, badStartLine, badVersion, incomplete, missingHeader, SipErrorCode, SipParseError,
  tooLarge,
} from "./errors.js";
import { canonicalName, isToken, isTokenChar, knownNameAt } from "./headers.js";
import { F_FOLDED, LazyRequest, LazyResponse, parseContentLength, parseCSeq, parseMaxForwards, type LazyMessage } from "./lazy-message.js";
import { parseNameAddrIn } from "./name-addr.js";
import { parseUri } from "./uri.js";
import type { SipMessage } from "./message.js";

export type ParseResult = { ok: true; message: SipMessage } | { ok: false; error: SipParseError };

export interface ParseOptions {
  /** default 65535 (RFC 3261 §18.1.1 / the UDP maximum); larger -> 513 */
  maxMessageBytes?: number;
  /** default 256 header fields; more -> 513 */
  maxHeaders?: number;
  /**
   * "datagram" (default, RFC 3261 §18.3): Content-Length optional (body = rest), extra octets
   * beyond it are dropped. "stream": Content-Length mandatory and must match exactly.
   */
  transport?: "datagram" | "stream";
}

const DEFAULT_MAX_BYTES = 65535;
const DEFAULT_MAX_HEADERS = 256;

export function parseMessage(bytes: Buffer, opts?: ParseOptions): ParseResult {
  try {
    return { ok: true, message: parseOrThrow(bytes, opts) };
  } catch (e) {
    if (e instanceof SipParseError) return { ok: false, error: e };
    // Defensive: a bug must not crash the edge; report as 400 with the cause kept.
    return {
      ok: false,
      error: new SipParseError({ code: SipErrorCode.badHeader, sipStatus: 400, reason: "Bad Request", detail: String(e), cause: e }),
    };
  }
}

/** Throwing variant (internal; the public entry point is parseMessage). */
export function parseOrThrow(input: Buffer, opts?: ParseOptions): SipMessage {
  const maxBytes = opts?.maxMessageBytes ?? DEFAULT_MAX_BYTES;
  const maxHeaders = opts?.maxHeaders ?? DEFAULT_MAX_HEADERS;
  const stream = opts?.transport === "stream";
  if (input.length > maxBytes) throw tooLarge(`${input.length} bytes > ${maxBytes}`);
  // RFC 3261 §7.5: CRLFs before the start line are ignored.
  let skip = 0;
  while (skip < input.length && (input[skip] === 13 || input[skip] === 10)) skip++;
  const bytes = skip === 0 ? input : input.subarray(skip);
  // One latin1 decode (a memcpy for V8 one-byte strings): string index == byte offset, and
  // String#indexOf is much cheaper than Buffer#indexOf for short messages.
  const s = bytes.toString("latin1");
  // Pure ASCII is the rule: values are then slices of `s`; otherwise they are decoded as UTF-8
  // from the bytes (see LazyMessage._value). Refined to the header block after the scan.
  let ascii = isAscii(bytes);

  // ---- start line (RFC 3261 §7.1, §7.2) ----
  const sle = s.indexOf("\r\n");
  let msg: LazyRequest | LazyResponse;
  const meta: number[] = [];
  const names: string[] = [];
  if (sle < 0) throw incomplete("no end of the start line");
  // A Method is a token and '/' is not a token char, so "SIP/" can only open a Status-Line.
  const isResponse = (s.charCodeAt(0) | 32) === 115 && (s.charCodeAt(1) | 32) === 105 &&
    (s.charCodeAt(2) | 32) === 112 && s.charCodeAt(3) === 47;
  if (isResponse) {
    const res = new LazyResponse(bytes, s, ascii, sle + 2, meta, names, 0);
    parseStatusLine(s, sle, res, ascii, bytes);
    msg = res;
  } else {
    const req = new LazyRequest(bytes, s, ascii, sle + 2, meta, names, 0);
    parseRequestLine(s, sle, req);
    msg = req;
  }

  // ---- header lines, up to the empty line (one pass: no separate search for CRLFCRLF) ----
  let iVia = -1, iFrom = -1, iTo = -1, iCallId = -1, iCSeq = -1, iCL = -1, iMF = -1;
  let pos = sle + 2;
  let nf = 0;
  let bodyStart: number;
  let blockEnd: number; // end of the last header line (its CRLF included)
  for (;;) {
    const nl = s.indexOf("\n", pos);
    if (nl < 0) {
      if (pos === s.length && !stream) {
        // A datagram is whole (RFC 3261 §18.3): when it ends right after a header line the
        // missing empty line can only mean "no body". Accepting it lets the real fault, if any,
        // be named (RFC 4475 §3.1.2.15's archive file ends this way). Content-Length must be 0.
        blockEnd = bodyStart = pos;
        break;
      }
      throw incomplete("no empty line after the header fields");
    }
    const eol = nl - 1;
    if (eol < pos || s.charCodeAt(eol) !== 13) throw badStartLine("bare LF in the header section");
    if (eol === pos) {
      blockEnd = pos;
      bodyStart = pos + 2; // after the empty line
      break;
    }
    const c0 = s.charCodeAt(pos);
    if (c0 === 32 || c0 === 9) {
      // RFC 3261 §7.3.1 line folding: continuation of the previous field
      if (nf === 0) throw badStartLine("header section starts with whitespace");
      const o = (nf - 1) * 5;
      let a = pos;
      while (a < eol && (s.charCodeAt(a) === 32 || s.charCodeAt(a) === 9)) a++;
      if (a < eol) {
        let b = eol;
        while (b > a && (s.charCodeAt(b - 1) === 32 || s.charCodeAt(b - 1) === 9)) b--;
        if (meta[o + 1] === meta[o + 2]) meta[o + 1] = a; // value was empty so far
        else meta[o + 4] = meta[o + 4]! | F_FOLDED;
        meta[o + 2] = b;
      }
      meta[o + 3] = eol + 2;
      pos = eol + 2;
      continue;
    }
    const colon = s.indexOf(":", pos);
    if (colon < 0 || colon > eol) throw badHeader(lineName(s, pos, eol), "header line without ':'");
    let ne = colon;
    while (ne > pos && (s.charCodeAt(ne - 1) === 32 || s.charCodeAt(ne - 1) === 9)) ne--;
    if (ne === pos) throw badHeader("(empty)", "header line without a name");
    let canon = knownNameAt(s, pos, ne);
    if (canon === undefined) {
      const rawName = s.slice(pos, ne);
      if (!isToken(rawName)) throw badHeader(rawName.slice(0, 32), "header name is not a token");
      canon = canonicalName(rawName);
    }
    let a = colon + 1;
    while (a < eol && (s.charCodeAt(a) === 32 || s.charCodeAt(a) === 9)) a++;
    let b = eol;
    while (b > a && (s.charCodeAt(b - 1) === 32 || s.charCodeAt(b - 1) === 9)) b--;
    if (++nf > maxHeaders) {
      throw new SipParseError({ code: SipErrorCode.tooManyHeaders, sipStatus: 513, reason: "Message Too Large", detail: `more than ${maxHeaders} header fields` });
    }
    meta.push(pos, a, b, eol + 2, 0);
    names.push(canon);
    const idx = nf - 1;
    switch (canon) {
      case "via": if (iVia < 0) iVia = idx; break;
      case "from": iFrom = dup(msg, iFrom, idx, "From"); break;
      case "to": iTo = dup(msg, iTo, idx, "To"); break;
      case "call-id": iCallId = dup(msg, iCallId, idx, "Call-ID"); break;
      case "cseq": iCSeq = dup(msg, iCSeq, idx, "CSeq"); break;
      case "content-length": iCL = dup(msg, iCL, idx, "Content-Length"); break;
      case "max-forwards": iMF = dup(msg, iMF, idx, "Max-Forwards"); break;
    }
    pos = eol + 2;
  }

  if (!ascii) {
    ascii = isAscii(bytes.subarray(0, blockEnd));
    msg._ascii = ascii;
  }
  msg._bodyStart = bodyStart;

  // ---- Content-Length and framing (RFC 3261 §18.3, §20.14) ----
  let bodyEnd = bytes.length;
  if (iCL >= 0) {
    const v = msg._value(iCL);
    const cl = parseContentLength(v);
    if (cl < 0) throw badContentLength(`not a non-negative number: "${v}"`);
    if (bodyStart + cl > bytes.length) throw badContentLength(`declares ${cl} body bytes, ${bytes.length - bodyStart} present`);
    if (stream && bodyStart + cl !== bytes.length) throw badContentLength(`declares ${cl} body bytes, ${bytes.length - bodyStart} present`);
    msg._contentLength = cl;
    bodyEnd = bodyStart + cl;
  } else if (stream) throw missingHeader("Content-Length");
  if (bodyEnd !== bytes.length) msg.raw = bytes.subarray(0, bodyEnd);

  // ---- mandatory headers (RFC 3261 §8.1.1) and their syntax ----
  if (iVia < 0) throw missingHeader("Via");
  if (iFrom < 0) throw missingHeader("From");
  if (iTo < 0) throw missingHeader("To");
  if (iCallId < 0) throw missingHeader("Call-ID");
  if (iCSeq < 0) throw missingHeader("CSeq");
  const callId = msg._value(iCallId);
  if (callId.length === 0) throw badHeader("Call-ID", "empty");
  msg._callId = callId;
  const cseq = parseCSeq(msg._value(iCSeq));
  msg._cseq = cseq;
  if (msg.kind === "request" && cseq.method !== msg.method) {
    throw badHeader("CSeq", `method ${cseq.method} does not match request method ${msg.method}`);
  }
  if (iMF >= 0) msg._maxForwards = parseMaxForwards(msg._value(iMF));
  msg._from = parseNameAddrIn(msg._value(iFrom), "From");
  msg._to = parseNameAddrIn(msg._value(iTo), "To");
  msg.topVia();
  if (msg.kind === "request") {
    // RFC 3261 §8.2.1 / RFC 4475 §3.3.2: unknown scheme -> 416; garbage -> 400
    const ruri = parseUri(msg.uri);
    // RFC 4475 §3.1.2.11: headers are not allowed in a Request-URI
    if (ruri.scheme !== "tel" && ruri.headers.size > 0) {
      throw new SipParseError({ code: SipErrorCode.badUri, sipStatus: 400, reason: "Bad Request-URI", detail: "URI headers in the Request-URI" });
    }
    msg._ruri = ruri;
    // a registrar must never see a malformed Contact (RFC 4475 §3.1.2.13)
    if (msg.method === "REGISTER") msg.contacts();
  }
  return msg;
}

function lineName(s: string, pos: number, eol: number): string {
  const line = s.slice(pos, Math.min(eol, pos + 32));
  return line.length === 0 ? "(empty)" : line;
}

/**
 * RFC 3261 §7.3.1 / RFC 4475 §3.3.8-9: a second field of a single-valued header is an error
 * when its value differs from the first (identical repeats are tolerated).
 */
function dup(msg: LazyMessage, first: number, idx: number, display: string): number {
  if (first < 0) return idx;
  if (msg._value(first) !== msg._value(idx)) throw badHeader(display, "more than one value");
  return first;
}

/** RFC 3261 §7.1: Method SP Request-URI SP SIP-Version CRLF — single SPs, no trailing SP (RFC 4475 §3.1.2.9-10). */
function parseRequestLine(s: string, sle: number, req: LazyRequest): void {
  const sp1 = s.indexOf(" ", 0);
  if (sp1 <= 0 || sp1 > sle) throw badStartLine("no method");
  for (let i = 0; i < sp1; i++) if (!isTokenChar(s.charCodeAt(i))) throw badStartLine("method is not a token");
  const sp2 = s.indexOf(" ", sp1 + 1);
  if (sp2 < 0 || sp2 > sle) {
    const last = s.slice(sp1 + 1, sle);
    if (/^SIP\/\d+\.\d+$/i.test(last)) throw badStartLine("no Request-URI");
    throw badStartLine("no SIP-Version");
  }
  if (sp2 === sp1 + 1) throw badStartLine("more than one SP before the Request-URI");
  const version = s.slice(sp2 + 1, sle);
  checkVersion(version, true);
  req.method = s.slice(0, sp1);
  req.uri = s.slice(sp1 + 1, sp2);
}

function checkVersion(version: string, request: boolean): void {
  if (version.length === 7 && (version === "SIP/2.0" || version.toUpperCase() === "SIP/2.0")) return;
  if (/^SIP\/\d+\.\d+$/i.test(version)) throw badVersion(version);
  if (request && version.indexOf(" ") >= 0) throw badStartLine("extra SP in the Request-Line");
  throw badStartLine(`bad SIP-Version "${version.slice(0, 20)}"`);
}

/** RFC 3261 §7.2: SIP-Version SP Status-Code SP Reason-Phrase CRLF. */
function parseStatusLine(s: string, sle: number, res: LazyResponse, ascii: boolean, bytes: Buffer): void {
  let sp1 = s.indexOf(" ");
  if (sp1 < 0 || sp1 > sle) sp1 = sle;
  checkVersion(s.slice(0, sp1), false);
  let i = sp1 + 1;
  const cs = i;
  while (i < sle && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) i++;
  if (i - cs !== 3) throw badStartLine("Status-Code is not 3 digits");
  const status = Number(s.slice(cs, i));
  if (status < 100 || status > 699) throw badStartLine(`Status-Code ${status} out of range`);
  if (i < sle && s.charCodeAt(i) !== 32) throw badStartLine("no SP after Status-Code");
  res.status = status;
  const rs = Math.min(i + 1, sle);
  res.reason = ascii ? s.slice(rs, sle) : bytes.toString("utf8", rs, sle);
}



/**
 * parseMessage: bytes -> { ok, message } | { ok: false, error }. Never throws.
 *
 * Eager work is what every element needs before it can answer anything (RFC 3261 §7, §8.1.1,
 * §18.3): the start line, one cheap scan that splits header lines (indexOf / octet reads, no
 * regex), the presence of every mandatory header, and the syntax of Content-Length (framing),
 * Call-ID, Max-Forwards and the top Via (where a response goes).
 *
 * Everything else is parsed, and checked, when first read, as Kamailio and OpenSIPS do: CSeq, From,
 * To, the Request-URI, Contact and the rest (RFC 3261 §16.3 step 1: "Any other components,
 * well-formed or not, SHOULD be ignored and remain unchanged when the message is forwarded"). An
 * accessor that meets a malformed value throws the SipParseError the parse would have returned (400
 * naming the header, 416 for a Request-URI scheme we do not route); the edge and the workers read
 * CSeq, From, To and the Request-URI of every request they handle and answer that error.
 */
import { isAscii } from "node:buffer";
import {
  badContentLength, badHeader, badStartLine, badVersion, incomplete, missingHeader, SipErrorCode, SipParseError,
  tooLarge,
} from "./errors.js";
import { canonicalName, isToken, isTokenChar, knownNameBeforeColon, methodAtOctets, NAME_AT } from "./headers.js";
import { F_STRIDE, LazyRequest, LazyResponse, parseContentLength, SPAN, type LazyMessage } from "./lazy-message.js";
import { forgetBackslash } from "./lex.js";
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
  forgetBackslash();
  // RFC 3261 §7.5: CRLFs before the start line are ignored.
  let skip = 0;
  while (skip < input.length && (input[skip] === 13 || input[skip] === 10)) skip++;
  const bytes = skip === 0 ? input : input.subarray(skip);
  // One latin1 decode (a memcpy for V8 one-byte strings): string index == byte offset, and
  // String#indexOf is much cheaper than Buffer#indexOf for short messages. Only the header block
  // is ever read as text, so a large message (a MESSAGE or INVITE with a big body) has just that
  // decoded, up to its first empty line; the body stays bytes (LazyMessage.body, the editor).
  const s = bytes.length > HEAD_ONLY_FROM ? headText(bytes) : bytes.toString("latin1");
  // Pure ASCII is the rule: values are then slices of `s`; otherwise they are decoded as UTF-8
  // from the bytes (see LazyMessage._value). Refined to the header block after the scan.
  // (Counted on the text: its UTF-8 length equals its length exactly when every char is below 0x80,
  // and that count costs less than buffer.isAscii's call on the octets.)
  let ascii = Buffer.byteLength(s, "utf8") === s.length;

  // ---- start line (RFC 3261 §7.1, §7.2) ----
  const sle = s.indexOf("\r\n");
  if (sle < 0) throw incomplete("no end of the start line");
  // A Method is a token and '/' is not a token char, so "SIP/" can only open a Status-Line.
  const isResponse = (s.charCodeAt(0) | 32) === 115 && (s.charCodeAt(1) | 32) === 105 &&
    (s.charCodeAt(2) | 32) === 112 && s.charCodeAt(3) === 47;
  if (isResponse) parseStatusLine(s, bytes, sle);
  else parseRequestLine(s, bytes, sle);
  const slA = START.a;
  const slB = START.b;

  // ---- header lines, up to the empty line (one pass: no separate search for CRLFCRLF) ----
  let iVia = -1, iFrom = -1, iTo = -1, iCallId = -1, iCSeq = -1, iCL = -1, iMF = -1;
  let dups = 0; // repeated single-valued fields, checked once the message exists
  const meta = SCRATCH_META;
  const names = SCRATCH_NAMES;
  let pos = sle + 2;
  let nf = 0;
  let bodyStart: number;
  let blockEnd: number; // end of the last header line (its CRLF included)
  // Single chars are read from `bytes`, which agrees with `s` index for index (latin1): indexing
  // a Buffer costs about half of `charCodeAt`, which checks the string's representation each time.
  // Searches stay native String#indexOf.
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
    if (eol < pos || bytes[eol] !== 13) throw badStartLine("bare LF in the header section");
    if (eol === pos) {
      blockEnd = pos;
      bodyStart = pos + 2; // after the empty line
      break;
    }
    const c0 = bytes[pos];
    if (c0 === 32 || c0 === 9) {
      // RFC 3261 §7.3.1 line folding: continuation of the previous field
      if (nf === 0) throw badStartLine("header section starts with whitespace");
      const o = (nf - 1) * F_STRIDE;
      let a = pos;
      while (a < eol && (bytes[a] === 32 || bytes[a] === 9)) a++;
      if (a < eol) {
        let b = eol;
        while (b > a && (bytes[b - 1] === 32 || bytes[b - 1] === 9)) b--;
        const end = meta[o + 2]!;
        if (meta[o + 1] === end) {
          // the value was empty so far: it starts here, unfolded
          meta[o + 1] = a;
          meta[o + 2] = b;
        } else meta[o + 2] = ~b; // folded (see F_STRIDE)
      }
      pos = eol + 2;
      continue;
    }
    // the usual line opens with a known name and its ':' (one compare of octets); any other
    // takes the search for ':' and the name checks
    let canon = knownNameBeforeColon(bytes, pos, eol);
    let colon: number;
    if (canon !== undefined) colon = NAME_AT.colon;
    else {
      colon = s.indexOf(":", pos);
      if (colon < 0 || colon > eol) throw badHeader(lineName(s, pos, eol), "header line without ':'");
      let ne = colon;
      while (ne > pos && (bytes[ne - 1] === 32 || bytes[ne - 1] === 9)) ne--;
      if (ne === pos) throw badHeader("(empty)", "header line without a name");
      // not a known name before its ':' (knownNameBeforeColon reads every known name and compact
      // form, in any case, with LWS before the ':'): an extension header, named by the cache
      const rawName = s.slice(pos, ne);
      if (!isToken(rawName)) throw badHeader(rawName.slice(0, 32), "header name is not a token");
      canon = canonicalName(rawName);
    }
    let a = colon + 1;
    while (a < eol && (bytes[a] === 32 || bytes[a] === 9)) a++;
    let b = eol;
    while (b > a && (bytes[b - 1] === 32 || bytes[b - 1] === 9)) b--;
    if (++nf > maxHeaders) {
      throw new SipParseError({ code: SipErrorCode.tooManyHeaders, sipStatus: 513, reason: "Message Too Large", detail: `more than ${maxHeaders} header fields` });
    }
    const idx = nf - 1;
    const o = idx * F_STRIDE;
    meta[o] = pos;
    meta[o + 1] = a;
    meta[o + 2] = b;
    names[idx] = canon;
    switch (canon) {
      case "via": if (iVia < 0) iVia = idx; break;
      case "from": if (iFrom < 0) iFrom = idx; else dups++; break;
      case "to": if (iTo < 0) iTo = idx; else dups++; break;
      case "call-id": if (iCallId < 0) iCallId = idx; else dups++; break;
      case "cseq": if (iCSeq < 0) iCSeq = idx; else dups++; break;
      case "content-length": if (iCL < 0) iCL = idx; else dups++; break;
      case "max-forwards": if (iMF < 0) iMF = idx; else dups++; break;
    }
    pos = eol + 2;
  }

  if (!ascii) ascii = isAscii(bytes.subarray(0, blockEnd));
  // exact-size copies of the scratch arrays (no growth reallocations while scanning)
  const fieldMeta = meta.slice(0, nf * F_STRIDE);
  const fieldNames = names.slice(0, nf);
  let msg: LazyRequest | LazyResponse;
  if (isResponse) {
    const res = new LazyResponse(bytes, s, ascii, sle + 2, fieldMeta, fieldNames, blockEnd, bodyStart);
    res.status = slA;
    res.reason = ascii ? s.slice(slB, sle) : bytes.toString("utf8", slB, sle);
    msg = res;
  } else {
    const req = new LazyRequest(bytes, s, ascii, sle + 2, fieldMeta, fieldNames, blockEnd, bodyStart);
    req.method = methodAtOctets(bytes, s, 0, slA);
    req._uriEnd = slB;
    msg = req;
  }
  if (dups > 0) checkRepeats(msg);

  // ---- Content-Length and framing (RFC 3261 §18.3, §20.14) ----
  let bodyEnd = bytes.length;
  if (iCL >= 0) {
    const sv = msg._span(iCL);
    const cl = parseContentLength(sv, SPAN.a, SPAN.b);
    if (cl < 0) throw badContentLength(`not a non-negative number: "${msg._value(iCL)}"`);
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
  // an empty value starts where it ends (a folded one's end is stored negative: never equal)
  if (meta[iCallId * F_STRIDE + 1] === meta[iCallId * F_STRIDE + 2]) throw badHeader("Call-ID", "empty");
  msg._callIdAt = iCallId;
  // the accessors' caches filled from the indices of the scan (the same fields the accessors
  // would find: the first of each name)
  if (iMF >= 0) msg._maxForwards = msg._maxForwardsAt(iMF);
  msg._topVia = msg._topViaAt(iVia);
  // CSeq, From, To, the Request-URI and Contact (a REGISTER's too) are parsed when first read: see
  // the module comment
  return msg;
}

/** Messages longer than this have only their header block decoded (see parseOrThrow). */
const HEAD_ONLY_FROM = 2048;
const EMPTY_LINE = Buffer.from("\r\n\r\n", "latin1");

/**
 * latin1 text of `bytes` up to and including the first CRLFCRLF (the end of the header block:
 * a header line cannot hold an empty line), or all of it when there is none (a datagram without
 * a body and without the empty line, or bare LFs, which the scan then reports).
 */
function headText(bytes: Buffer): string {
  const end = bytes.indexOf(EMPTY_LINE);
  return end < 0 ? bytes.toString("latin1") : bytes.toString("latin1", 0, end + 4);
}

function lineName(s: string, pos: number, eol: number): string {
  const line = s.slice(pos, Math.min(eol, pos + 32));
  return line.length === 0 ? "(empty)" : line;
}

/** Scratch space for the header scan; parsing is synchronous, so one set serves every call. */
const SCRATCH_META: number[] = [];
const SCRATCH_NAMES: string[] = [];
/** Start-line results: request: a = end of the Method, b = end of the Request-URI; response: a = status, b = reason start. */
const START = { a: 0, b: 0 };

const SINGLE: ReadonlyMap<string, string> = new Map([
  ["from", "From"], ["to", "To"], ["call-id", "Call-ID"], ["cseq", "CSeq"], ["content-length", "Content-Length"], ["max-forwards", "Max-Forwards"],
]);

/**
 * RFC 3261 §7.3.1 / RFC 4475 §3.3.8-9: a second field of a single-valued header is an error
 * when its value differs from the first (identical repeats are tolerated).
 */
function checkRepeats(msg: LazyMessage): void {
  const names = msg._names;
  for (let i = 0; i < names.length; i++) {
    const display = SINGLE.get(names[i]!);
    if (display === undefined) continue;
    const first = names.indexOf(names[i]!);
    if (first !== i && msg._value(first) !== msg._value(i)) throw badHeader(display, "more than one value");
  }
}

/** RFC 3261 §7.1: Method SP Request-URI SP SIP-Version CRLF — single SPs, no trailing SP (RFC 4475 §3.1.2.9-10). */
function parseRequestLine(s: string, u: Uint8Array, sle: number): void {
  const sp1 = s.indexOf(" ", 0);
  if (sp1 <= 0 || sp1 > sle) throw badStartLine("no method");
  for (let i = 0; i < sp1; i++) if (!isTokenChar(u[i]!)) throw badStartLine("method is not a token");
  const sp2 = s.indexOf(" ", sp1 + 1);
  if (sp2 < 0 || sp2 > sle) {
    const last = s.slice(sp1 + 1, sle);
    if (/^SIP\/\d+\.\d+$/i.test(last)) throw badStartLine("no Request-URI");
    throw badStartLine("no SIP-Version");
  }
  if (sp2 === sp1 + 1) throw badStartLine("more than one SP before the Request-URI");
  // the usual "SIP/2.0" is checked in place; anything else gets the full check and its error
  if (!isSip20At(u, sp2 + 1, sle)) checkVersion(s.slice(sp2 + 1, sle), true);
  START.a = sp1;
  START.b = sp2;
}

/**
 * The octets `u[a, b)` are "SIP/2.0" ignoring case: the one SIP-Version accepted (checkVersion names
 * the error otherwise). Octets, not the text's chars: an octet read costs about half of charCodeAt.
 */
function isSip20At(u: Uint8Array, a: number, b: number): boolean {
  return b - a === 7 && (u[a]! | 32) === 115 && (u[a + 1]! | 32) === 105 && (u[a + 2]! | 32) === 112 &&
    u[a + 3] === 47 && u[a + 4] === 50 && u[a + 5] === 46 && u[a + 6] === 48;
}

/** Throws the error for a SIP-Version that isSip20At did not accept. */
function checkVersion(version: string, request: boolean): void {
  if (/^SIP\/\d+\.\d+$/i.test(version)) throw badVersion(version);
  if (request && version.indexOf(" ") >= 0) throw badStartLine("extra SP in the Request-Line");
  throw badStartLine(`bad SIP-Version "${version.slice(0, 20)}"`);
}

/** RFC 3261 §7.2: SIP-Version SP Status-Code SP Reason-Phrase CRLF. */
function parseStatusLine(s: string, u: Uint8Array, sle: number): void {
  let sp1 = s.indexOf(" ");
  if (sp1 < 0 || sp1 > sle) sp1 = sle;
  if (!isSip20At(u, 0, sp1)) checkVersion(s.slice(0, sp1), false);
  let i = sp1 + 1;
  const cs = i;
  while (i < sle && u[i]! >= 48 && u[i]! <= 57) i++;
  if (i - cs !== 3) throw badStartLine("Status-Code is not 3 digits");
  const status = (u[cs]! - 48) * 100 + (u[cs + 1]! - 48) * 10 + (u[cs + 2]! - 48);
  if (status < 100 || status > 699) throw badStartLine(`Status-Code ${status} out of range`);
  if (i < sle && u[i] !== 32) throw badStartLine("no SP after Status-Code");
  START.a = status;
  START.b = Math.min(i + 1, sle);
}



/**
 * Header names: canonical (lower-case long) form, compact forms (RFC 3261 §7.3.3 and
 * the registries of later RFCs), display spelling, and which headers are comma lists.
 */

/** Compact forms (RFC 3261 §20 table; RFC 3841, 3265, 3515, 3892, 4028, 4474). */
const COMPACT: Readonly<Record<string, string>> = {
  a: "accept-contact",
  b: "referred-by",
  c: "content-type",
  d: "request-disposition",
  e: "content-encoding",
  f: "from",
  i: "call-id",
  j: "reject-contact",
  k: "supported",
  l: "content-length",
  m: "contact",
  n: "identity-info",
  o: "event",
  r: "refer-to",
  s: "subject",
  t: "to",
  u: "allow-events",
  v: "via",
  x: "session-expires",
  y: "identity",
};

/** Canonical spelling used when we write a header line and in error reasons. */
const DISPLAY: Readonly<Record<string, string>> = {
  "accept": "Accept", "accept-contact": "Accept-Contact", "accept-encoding": "Accept-Encoding",
  "accept-language": "Accept-Language", "alert-info": "Alert-Info", "allow": "Allow", "allow-events": "Allow-Events",
  "authentication-info": "Authentication-Info", "authorization": "Authorization", "call-id": "Call-ID",
  "call-info": "Call-Info", "contact": "Contact", "content-disposition": "Content-Disposition",
  "content-encoding": "Content-Encoding", "content-language": "Content-Language", "content-length": "Content-Length",
  "content-type": "Content-Type", "cseq": "CSeq", "date": "Date", "error-info": "Error-Info", "event": "Event",
  "expires": "Expires", "from": "From", "identity": "Identity", "identity-info": "Identity-Info",
  "in-reply-to": "In-Reply-To", "max-forwards": "Max-Forwards", "mime-version": "MIME-Version",
  "min-expires": "Min-Expires", "min-se": "Min-SE", "organization": "Organization", "path": "Path",
  "p-asserted-identity": "P-Asserted-Identity", "p-preferred-identity": "P-Preferred-Identity",
  "priority": "Priority", "privacy": "Privacy", "proxy-authenticate": "Proxy-Authenticate",
  "proxy-authorization": "Proxy-Authorization", "proxy-require": "Proxy-Require", "rack": "RAck",
  "reason": "Reason", "record-route": "Record-Route", "refer-to": "Refer-To", "referred-by": "Referred-By",
  "reject-contact": "Reject-Contact", "reply-to": "Reply-To", "request-disposition": "Request-Disposition",
  "require": "Require", "retry-after": "Retry-After", "route": "Route", "rseq": "RSeq", "server": "Server",
  "service-route": "Service-Route", "session-expires": "Session-Expires", "sip-etag": "SIP-ETag",
  "sip-if-match": "SIP-If-Match", "subject": "Subject", "subscription-state": "Subscription-State",
  "supported": "Supported", "timestamp": "Timestamp", "to": "To", "unsupported": "Unsupported",
  "user-agent": "User-Agent", "via": "Via", "warning": "Warning", "www-authenticate": "WWW-Authenticate",
  "flow-timer": "Flow-Timer", "history-info": "History-Info", "security-client": "Security-Client",
  "security-server": "Security-Server", "security-verify": "Security-Verify",
  "p-associated-uri": "P-Associated-URI",
};

/**
 * Headers whose grammar is a comma-separated list (RFC 3261 §7.3.1: "multiple header field rows
 * ... if and only if the entire field-value for that header field is defined as a comma-separated
 * list"). Everything else (WWW-Authenticate, Authorization, Date, User-Agent, Subject, From, To,
 * Call-ID, CSeq, unknown extension headers, ...) is never split.
 */
const LIST_HEADERS: ReadonlySet<string> = new Set([
  "accept", "accept-contact", "accept-encoding", "accept-language", "alert-info", "allow", "allow-events",
  "call-info", "contact", "content-encoding", "content-language", "error-info", "in-reply-to", "path",
  "p-asserted-identity", "p-preferred-identity", "p-associated-uri", "proxy-require", "reason",
  "record-route", "reject-contact", "request-disposition", "require", "route", "service-route",
  "supported", "unsupported", "via", "warning", "history-info", "security-client", "security-server",
  "security-verify", "privacy",
]);

/** Exact spellings seen on the wire -> canonical; filled lazily with whatever we meet (bounded). */
const NAME_CACHE = new Map<string, string>();
const NAME_CACHE_MAX = 2048;
for (const [k, v] of Object.entries(COMPACT)) {
  NAME_CACHE.set(k, v);
  NAME_CACHE.set(k.toUpperCase(), v);
}
for (const [k, v] of Object.entries(DISPLAY)) {
  NAME_CACHE.set(k, k);
  NAME_CACHE.set(v, k);
}

const COMPACT_BY_CODE: (string | undefined)[] = [];
for (const [k, v] of Object.entries(COMPACT)) {
  COMPACT_BY_CODE[k.charCodeAt(0)] = v;
  COMPACT_BY_CODE[k.toUpperCase().charCodeAt(0)] = v;
}

/**
 * Known names by their first two chars (lower-cased), the usual headers first, for
 * knownNameBeforeColon; each with its octets.
 */
const BY_PREFIX: (string[] | undefined)[] = new Array<string[] | undefined>(128 * 128).fill(undefined);
const BY_PREFIX_OCTETS: (Uint8Array[] | undefined)[] = new Array<Uint8Array[] | undefined>(128 * 128).fill(undefined);
{
  const usual = ["via", "from", "to", "call-id", "cseq", "contact", "max-forwards", "content-length", "content-type", "route", "record-route", "expires"];
  for (const canon of [...usual, ...Object.keys(DISPLAY).filter((n) => !usual.includes(n))]) {
    const k = canon.charCodeAt(0) * 128 + canon.charCodeAt(1);
    (BY_PREFIX[k] ??= []).push(canon);
    (BY_PREFIX_OCTETS[k] ??= []).push(Buffer.from(canon, "latin1"));
  }
}

/** Where knownNameBeforeColon found the ':' (parsing is synchronous: one scratch object). */
export const NAME_AT = { colon: 0 };

/**
 * The header line at `pos` (its CR at `eol`) starts with a known header name or compact form,
 * then optional SP / HTAB, then ':': returns the canonical name and sets NAME_AT; else
 * undefined, and the caller searches for the ':' itself (an unknown or odd name). For the usual
 * line this replaces the search for ':' and the separate name lookup by one compare of the
 * name's octets (what indexOf(":") and the name cache would give, as no name char is ':', CR or LF).
 */
export function knownNameBeforeColon(u: Uint8Array, pos: number, eol: number): string | undefined {
  const c0 = u[pos]!;
  const c1 = u[pos + 1]!; // pos + 1 <= eol: the line is not empty
  let canon: string | undefined;
  let e: number;
  if (c1 === 58 || c1 === 32 || c1 === 9) {
    canon = COMPACT_BY_CODE[c0];
    if (canon === undefined) return undefined;
    e = pos + 1;
  } else {
    if (c0 >= 128 || c1 >= 128) return undefined;
    const k = (c0 >= 65 && c0 <= 90 ? c0 + 32 : c0) * 128 + (c1 >= 65 && c1 <= 90 ? c1 + 32 : c1);
    const cands = BY_PREFIX_OCTETS[k];
    if (cands === undefined) return undefined;
    e = -1;
    outer: for (let j = 0; j < cands.length; j++) {
      const cand = cands[j]!;
      const n = cand.length;
      if (pos + n >= eol) continue;
      for (let i = 2; i < n; i++) {
        let c = u[pos + i]!;
        if (c >= 65 && c <= 90) c += 32;
        if (c !== cand[i]) continue outer;
      }
      const after = u[pos + n]!;
      if (after !== 58 && after !== 32 && after !== 9) continue; // a longer name ("allow-events" after "allow")
      canon = BY_PREFIX[k]![j];
      e = pos + n;
      break;
    }
    if (canon === undefined) return undefined;
  }
  let k = e;
  while (u[k] === 32 || u[k] === 9) k++;
  if (u[k] !== 58) return undefined;
  NAME_AT.colon = k;
  return canon;
}

/** Canonical lower-case long form of a header name (compact forms expanded). */
export function canonicalName(name: string): string {
  const hit = NAME_CACHE.get(name);
  if (hit !== undefined) return hit;
  const lower = name.toLowerCase();
  const canon = lower.length === 1 ? (COMPACT[lower] ?? lower) : lower;
  if (NAME_CACHE.size < NAME_CACHE_MAX) NAME_CACHE.set(name, canon);
  return canon;
}

/** Spelling to write (and to name in "Bad Header: X"), e.g. "call-id" -> "Call-ID". */
export function displayName(canonical: string): string {
  const d = DISPLAY[canonical];
  if (d !== undefined) return d;
  let out = "";
  let up = true;
  for (let i = 0; i < canonical.length; i++) {
    const ch = canonical[i]!;
    out += up ? ch.toUpperCase() : ch;
    up = ch === "-";
  }
  return out;
}

/** The registered spelling of a known header, undefined for an extension header we do not know. */
export function knownDisplayName(canonical: string): string | undefined {
  return DISPLAY[canonical];
}

export function isListHeader(canonical: string): boolean {
  return LIST_HEADERS.has(canonical);
}

/**
 * The methods of RFC 3261 and its extensions, so the Request-Line's and CSeq's method of an
 * everyday request is a shared constant instead of a fresh slice per message (and the parser's
 * CSeq-method check then compares one string with itself).
 */
const METHODS_BY_LENGTH: (string[] | undefined)[] = [];
const METHOD_OCTETS_BY_LENGTH: (Uint8Array[] | undefined)[] = [];
for (const m of ["INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "PRACK", "SUBSCRIBE", "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE"]) {
  (METHODS_BY_LENGTH[m.length] ??= []).push(m);
  (METHOD_OCTETS_BY_LENGTH[m.length] ??= []).push(Buffer.from(m, "latin1"));
}

/**
 * `s.slice(a, b)` for the text `s` whose octets are `u` (lex.ts), as the shared constant when it
 * is a known method (methods are case-sensitive, RFC 3261 §7.1); the compare reads octets.
 */
export function methodAtOctets(u: Uint8Array, s: string, a: number, b: number): string {
  const n = b - a;
  const cands = METHOD_OCTETS_BY_LENGTH[n];
  if (cands !== undefined) {
    outer: for (let k = 0; k < cands.length; k++) {
      const m = cands[k]!;
      for (let i = 0; i < n; i++) if (u[a + i] !== m[i]) continue outer;
      return METHODS_BY_LENGTH[n]![k]!;
    }
  }
  return s.slice(a, b);
}

/** RFC 3261 §25.1 token characters. */
const TOKEN = new Uint8Array(128);
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~") TOKEN[c.charCodeAt(0)] = 1;

export function isTokenChar(code: number): boolean {
  return code < 128 && TOKEN[code] === 1;
}

export function isToken(s: string, start = 0, end = s.length): boolean {
  if (end <= start) return false;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || TOKEN[c] !== 1) return false;
  }
  return true;
}

/**
 * Split a list header value at top-level commas: commas inside quoted strings (with
 * backslash escapes) and inside <...> are not separators (RFC 3261 §7.3.1, §20.10).
 * Empty elements are dropped; elements are trimmed.
 */
export function splitList(value: string): string[] {
  const out: string[] = [];
  if (value.indexOf(",") < 0) {
    pushTrimmed(out, value, 0, value.length);
    return out;
  }
  let start = 0;
  let inQuote = false;
  let inAngle = false;
  const n = value.length;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (inQuote) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inQuote = false;
    } else if (c === 34) inQuote = true;
    else if (c === 60 /* < */) inAngle = true;
    else if (c === 62 /* > */) inAngle = false;
    else if (c === 44 /* , */ && !inAngle) {
      pushTrimmed(out, value, start, i);
      start = i + 1;
    }
  }
  pushTrimmed(out, value, start, n);
  return out;
}

/** Index of the first top-level comma in value[from, to) (see splitList), or -1. */
export function firstListComma(value: string, from = 0, to = value.length): number {
  // most values hold no comma at all: one native search instead of the quote/angle scan
  const any = value.indexOf(",", from);
  if (any < 0 || any >= to) return -1;
  let inQuote = false;
  let inAngle = false;
  for (let i = from; i < to; i++) {
    const c = value.charCodeAt(i);
    if (inQuote) {
      if (c === 92) i++;
      else if (c === 34) inQuote = false;
    } else if (c === 34) inQuote = true;
    else if (c === 60) inAngle = true;
    else if (c === 62) inAngle = false;
    else if (c === 44 && !inAngle) return i;
  }
  return -1;
}

function pushTrimmed(out: string[], s: string, a: number, b: number): void {
  while (a < b && isWs(s.charCodeAt(a))) a++;
  while (b > a && isWs(s.charCodeAt(b - 1))) b--;
  if (b > a) out.push(s.slice(a, b));
}

/** SP, HTAB, CR, LF */
export function isWs(c: number): boolean {
  return c === 32 || c === 9 || c === 13 || c === 10;
}

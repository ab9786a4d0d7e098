/**
 * SIP, SIPS (RFC 3261 §19.1, §25.1) and tel (RFC 3966) URIs: parse, format with
 * %-escaping, and the canonical address-of-record used for registrations and hashing.
 */
import { SipParseError, SipErrorCode, unsupportedScheme } from "./errors.js";
import type { SipUri, TelUri } from "./types.js";
import { decimalAt, octetsOf, scanDigits } from "./lex.js";

function bad(detail: string): SipParseError {
  return new SipParseError({ code: SipErrorCode.badUri, sipStatus: 400, reason: "Bad URI", detail });
}

// ---- character classes (RFC 3261 §25.1) ----
const enum Cls { Unreserved = 1, User = 2, Password = 4, Param = 8, Header = 16, Host = 32 }
const CLASS = new Uint8Array(128);
function mark(chars: string, bit: number): void {
  for (let i = 0; i < chars.length; i++) CLASS[chars.charCodeAt(i)]! |= bit;
}
const ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const UNRESERVED = ALNUM + "-_.!~*'()";
mark(UNRESERVED, Cls.Unreserved | Cls.User | Cls.Password | Cls.Param | Cls.Header);
mark("&=+$,;?/", Cls.User); // user-unreserved
mark("&=+$,", Cls.Password);
mark("[]/:&+$", Cls.Param); // param-unreserved
mark("[]/?:+$", Cls.Header); // hnv-unreserved
// hostname chars; '_' tolerated (seen in the wild), ':' and '.' for IP literals
mark(ALNUM + "-._:", Cls.Host);

const HEX = "0123456789ABCDEF";

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/**
 * %HH unescaping (RFC 3261 §19.1.4). A '%' not followed by two hex digits is an error.
 * Escaped octets that form valid UTF-8 decode as text, otherwise one char per octet.
 */
export function unescape(s: string): string {
  if (s.indexOf("%") < 0) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 37) {
      const h = i + 2 < s.length ? hexVal(s.charCodeAt(i + 1)) : -1;
      const l = h >= 0 ? hexVal(s.charCodeAt(i + 2)) : -1;
      if (l < 0) throw bad(`invalid escape in "${s}"`);
      bytes.push(h * 16 + l);
      i += 2;
    } else if (c < 128) bytes.push(c);
    else for (const b of Buffer.from(s[i]!, "utf8")) bytes.push(b);
  }
  const buf = Buffer.from(bytes);
  const utf = buf.toString("utf8");
  return utf.includes("\uFFFD") ? buf.toString("latin1") : utf;
}

function escape(s: string, bit: number): string {
  let plain = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || (CLASS[c]! & bit) === 0) { plain = false; break; }
  }
  if (plain) return s;
  let out = "";
  for (const b of Buffer.from(s, "utf8")) {
    if (b < 128 && (CLASS[b]! & bit) !== 0) out += String.fromCharCode(b);
    else out += "%" + HEX[b >> 4]! + HEX[b & 15]!;
  }
  return out;
}

export const escapeUser = (s: string): string => escape(s, Cls.User);
export const escapePassword = (s: string): string => escape(s, Cls.Password);
export const escapeParam = (s: string): string => escape(s, Cls.Param);
export const escapeHeader = (s: string): string => escape(s, Cls.Header);

/** Length of the URI scheme (RFC 3986 §3.1) when the octets `u[start, end)` start with `scheme ":"`, else -1. */
export function schemeLength(u: Uint8Array, start: number, end: number): number {
  if (start >= end) return -1;
  const c0 = u[start]!;
  if (!((c0 >= 65 && c0 <= 90) || (c0 >= 97 && c0 <= 122))) return -1;
  for (let i = start + 1; i < end; i++) {
    const c = u[i]!;
    if (c === 58) return i - start;
    const ok = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46;
    if (!ok) return -1;
  }
  return -1;
}

const EMPTY_PARAMS: ReadonlyMap<string, string | null> = new Map();
const EMPTY_HEADERS: ReadonlyMap<string, string> = new Map();

/** `s` starts with "sip:" or "sips:", in any case. */
function isSipScheme(s: string): boolean {
  if ((s.charCodeAt(0) | 32) !== 115 || (s.charCodeAt(1) | 32) !== 105 || (s.charCodeAt(2) | 32) !== 112) return false;
  const c3 = s.charCodeAt(3);
  return c3 === 58 || ((c3 | 32) === 115 && s.charCodeAt(4) === 58);
}

/** Parse any URI we route on: sip, sips, tel. 416 for another (syntactically valid) scheme, 400 for garbage. */
export function parseUri(s: string): SipUri | TelUri {
  if (isSipScheme(s)) return parseSipUri(s); // fast path: no scheme slice

  const n = schemeLength(octetsOf(s), 0, s.length);
  if (n < 0) throw bad(`no scheme in "${s}"`);
  const scheme = s.slice(0, n).toLowerCase();
  if (scheme === "sip" || scheme === "sips") return parseSipUri(s);
  if (scheme === "tel") return parseTelUri(s);
  throw unsupportedScheme(scheme);
}

/** RFC 3261 §19.1.1 SIP-URI / SIPS-URI. Throws SipParseError 400 (416 when the scheme is another one). */
export function parseSipUri(s: string): SipUri {
  let p: number;
  let scheme: "sip" | "sips";
  const c3 = s.charCodeAt(3);
  if ((s.charCodeAt(0) | 32) === 115 && (s.charCodeAt(1) | 32) === 105 && (s.charCodeAt(2) | 32) === 112) {
    if (c3 === 58) { scheme = "sip"; p = 4; }
    else if ((c3 | 32) === 115 && s.charCodeAt(4) === 58) { scheme = "sips"; p = 5; }
    else throw schemeError(s);
  } else throw schemeError(s);
  const end = s.length;
  let user: string | undefined;
  let password: string | undefined;
  const at = s.indexOf("@", p);
  if (at >= 0) {
    const colon = s.indexOf(":", p);
    if (colon >= 0 && colon < at) {
      user = unescape(s.slice(p, colon));
      password = unescape(s.slice(colon + 1, at));
    } else user = unescape(s.slice(p, at));
    if (user.length === 0) throw bad(`empty user in "${s}"`);
    p = at + 1;
  }
  // hostport
  let host: string;
  let hostType: "ipv4" | "ipv6" | "name";
  let port: number | undefined;
  let i = p;
  if (s.charCodeAt(p) === 91 /* [ */) {
    const close = s.indexOf("]", p);
    if (close < 0) throw bad(`unterminated IPv6 reference in "${s}"`);
    host = s.slice(p + 1, close).toLowerCase();
    if (!isIpv6(host)) throw bad(`bad IPv6 reference in "${s}"`);
    hostType = "ipv6";
    i = close + 1;
  } else {
    // the host loop notes upper case, so the usual lower-case host is one slice (no second
    // scan in lowerSlice)
    let upper = false;
    while (i < end) {
      const c = s.charCodeAt(i);
      if (c === 58 || c === 59 || c === 63) break;
      if (c >= 128 || (CLASS[c]! & Cls.Host) === 0) throw bad(`bad host character in "${s}"`);
      if (c <= 90 && c >= 65) upper = true;
      i++;
    }
    host = upper ? s.slice(p, i).toLowerCase() : s.slice(p, i);
    if (host.length === 0) throw bad(`empty host in "${s}"`);
    hostType = hostKind(host);
    if (hostType === "ipv6") throw bad(`IPv6 address without [] in "${s}"`); // RFC 5118 §4.2
  }
  if (i < end && s.charCodeAt(i) === 58) {
    const ps = ++i;
    while (i < end) {
      const c = s.charCodeAt(i);
      if (c < 48 || c > 57) break;
      i++;
    }
    port = parsePort(s, ps, i);
  }
  return withParamsAndHeaders(s, i, end, scheme, user, password, host, hostType, port);
}

/**
 * The URI from `s[i, end)` on: `;params` then `?headers`, nothing else (RFC 3261 §19.1.1), with the
 * parts before them already read. One place for parseSipUri and parseUriAt; builds the result
 * directly (no intermediate object on the parser's path).
 */
function withParamsAndHeaders(
  s: string,
  i: number,
  end: number,
  scheme: SipUri["scheme"],
  user: string | undefined,
  password: string | undefined,
  host: string,
  hostType: SipUri["hostType"],
  port: number | undefined,
): SipUri {
  let params = EMPTY_PARAMS;
  let headers = EMPTY_HEADERS;
  if (i < end && s.charCodeAt(i) === 59) {
    const q = s.indexOf("?", i);
    const pe = q < 0 ? end : q;
    params = parseUriParams(s, i + 1, pe);
    i = pe;
  }
  if (i < end && s.charCodeAt(i) === 63) {
    headers = parseUriHeaders(s, i + 1, end);
    i = end;
  }
  if (i !== end) throw bad(`unexpected "${s.slice(i, i + 10)}" in "${s}"`);
  return { scheme, user, password, host, hostType, port, params, headers };
}

/**
 * parseUri(uri) for a URI that is `s[a, b)` of a text whose octets are `u` (lex.ts: the parser's
 * Request-URI, read in the message's bytes). The scheme, user, password, host and port of a sip /
 * sips URI are read from the octets (charCodeAt on the Request-URI, a sliced string, cost about
 * twice an octet read); its parameters and headers, and every URI this path does not take (another
 * scheme, an escape in the user part, an IPv6 reference, anything parseSipUri would refuse before
 * its parameters), go to the string functions, so the result and every error are parseUri's.
 */
export function parseUriAt(u: Uint8Array, s: string, a: number, b: number, uri: string): SipUri | TelUri {
  if (b - a < 5 || (u[a]! | 32) !== 115 || (u[a + 1]! | 32) !== 105 || (u[a + 2]! | 32) !== 112) return parseUri(uri);
  let scheme: "sip" | "sips";
  let p: number;
  const c3 = u[a + 3]!;
  if (c3 === 58) { scheme = "sip"; p = a + 4; }
  else if ((c3 | 32) === 115 && u[a + 4] === 58) { scheme = "sips"; p = a + 5; }
  else return parseUri(uri);
  // userinfo: the first '@' (parseSipUri's indexOf), the first ':' before it, no '%' (unescape is then the identity)
  let at = -1;
  let colon = -1;
  let pct = false;
  for (let i = p; i < b; i++) {
    const c = u[i]!;
    if (c === 64) { at = i; break; }
    if (c === 58 && colon < 0) colon = i;
    else if (c === 37) pct = true;
  }
  let user: string | undefined;
  let password: string | undefined;
  if (at >= 0) {
    if (pct || at === p || colon === p) return parseSipUri(uri);
    if (colon >= 0) {
      user = s.slice(p, colon);
      password = s.slice(colon + 1, at);
    } else user = s.slice(p, at);
    p = at + 1;
  }
  if (p < b && u[p] === 91) return parseSipUri(uri);
  let i = p;
  let upper = false;
  let digitsDots = true; // an IPv4 address can only be digits and dots
  while (i < b) {
    const c = u[i]!;
    if (c === 58 || c === 59 || c === 63) break;
    if (c >= 128 || (CLASS[c]! & Cls.Host) === 0) return parseSipUri(uri);
    if (c <= 90 && c >= 65) upper = true;
    if (c !== 46 && (c < 48 || c > 57)) digitsDots = false;
    i++;
  }
  if (i === p) return parseSipUri(uri);
  const host = upper ? s.slice(p, i).toLowerCase() : s.slice(p, i);
  // hostKind(host), whose IPv6 test (a ':') cannot hold here: the loop stops at the first ':'
  const hostType = digitsDots && isIpv4(host) ? "ipv4" : "name";
  let port: number | undefined;
  if (i < b && u[i] === 58) {
    const ps = i + 1;
    i = scanDigits(u, ps, b);
    if (i === ps || i - ps > 5) return parseSipUri(uri);
    const n = decimalAt(u, ps, i);
    if (n > 65535) return parseSipUri(uri);
    port = n;
  }
  // the rest as parseSipUri reads it, on the URI string (offsets from a)
  return withParamsAndHeaders(uri, i - a, b - a, scheme, user, password, host, hostType, port);
}

function schemeError(s: string): SipParseError {
  const n = schemeLength(octetsOf(s), 0, s.length);
  return n > 0 ? unsupportedScheme(s.slice(0, n).toLowerCase()) : bad(`not a SIP URI: "${s}"`);
}

function parsePort(s: string, a: number, b: number): number {
  if (b === a || b - a > 5) throw bad(`bad port in "${s}"`);
  const port = Number(s.slice(a, b));
  if (port > 65535) throw bad(`bad port in "${s}"`);
  return port;
}

function parseUriParams(s: string, a: number, b: number): Map<string, string | null> {
  const m = new Map<string, string | null>();
  while (a < b) {
    let semi = s.indexOf(";", a);
    if (semi < 0 || semi > b) semi = b;
    if (semi > a) {
      const eq = s.indexOf("=", a);
      if (eq >= 0 && eq < semi) {
        const name = unescape(s.slice(a, eq)).toLowerCase();
        if (name.length === 0) throw bad(`empty parameter name in "${s}"`);
        checkChars(s, a, eq, Cls.Param);
        checkChars(s, eq + 1, semi, Cls.Param);
        m.set(name, unescape(s.slice(eq + 1, semi)));
      } else {
        checkChars(s, a, semi, Cls.Param);
        m.set(unescape(s.slice(a, semi)).toLowerCase(), null);
      }
    }
    a = semi + 1;
  }
  return m;
}

function parseUriHeaders(s: string, a: number, b: number): Map<string, string> {
  const m = new Map<string, string>();
  while (a < b) {
    let amp = s.indexOf("&", a);
    if (amp < 0 || amp > b) amp = b;
    if (amp > a) {
      const eq = s.indexOf("=", a);
      if (eq < 0 || eq > amp) throw bad(`header without '=' in "${s}"`);
      checkChars(s, a, eq, Cls.Header);
      checkChars(s, eq + 1, amp, Cls.Header);
      m.set(unescape(s.slice(a, eq)), unescape(s.slice(eq + 1, amp)));
    }
    a = amp + 1;
  }
  return m;
}

function checkChars(s: string, a: number, b: number, bit: number): void {
  for (let i = a; i < b; i++) {
    const c = s.charCodeAt(i);
    if (c === 37) continue; // escapes are checked by unescape()
    if (c >= 128 || (CLASS[c]! & bit) === 0) throw bad(`bad character '${s[i]!}' in "${s}"`);
  }
}

function hostKind(host: string): "ipv4" | "ipv6" | "name" {
  if (host.indexOf(":") >= 0) return "ipv6";
  return isIpv4(host) ? "ipv4" : "name";
}

export function isIpv4(s: string): boolean {
  let parts = 0;
  let digits = 0;
  let val = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 46;
    if (c === 46) {
      if (digits === 0 || val > 255) return false;
      parts++;
      digits = 0;
      val = 0;
    } else if (c >= 48 && c <= 57) {
      if (++digits > 3) return false;
      val = val * 10 + c - 48;
    } else return false;
  }
  return parts === 4;
}

export function isIpv6(s: string): boolean {
  if (s.length < 2 || s.indexOf(":") < 0) return false;
  let groups = 0;
  let doubleColon = false;
  const parts = s.split(":");
  for (let k = 0; k < parts.length; k++) {
    const part = parts[k]!;
    if (part.length === 0) {
      // leading/trailing "::" produce two empty parts; count one "::"
      if (k > 0 && k < parts.length - 1) {
        if (doubleColon) return false;
        doubleColon = true;
      }
      continue;
    }
    if (k === parts.length - 1 && part.indexOf(".") >= 0) {
      if (!isIpv4(part)) return false;
      groups += 2;
      continue;
    }
    if (part.length > 4) return false;
    for (let i = 0; i < part.length; i++) if (hexVal(part.charCodeAt(i)) < 0) return false;
    groups++;
  }
  if (s.startsWith("::") || s.endsWith("::")) doubleColon = true;
  else if (s.startsWith(":") || s.endsWith(":")) return false;
  return doubleColon ? groups < 8 : groups === 8;
}

/** RFC 3966 tel URI: `tel:` number *(";" param). */
export function parseTelUri(s: string): TelUri {
  if (s.length < 5 || s.slice(0, 4).toLowerCase() !== "tel:") throw bad(`not a tel URI: "${s}"`);
  const semi = s.indexOf(";", 4);
  const number = s.slice(4, semi < 0 ? s.length : semi);
  if (number.length === 0) throw bad(`empty tel number in "${s}"`);
  for (let i = 0; i < number.length; i++) {
    const c = number.charCodeAt(i);
    const ok = (c >= 48 && c <= 57) || (hexVal(c) >= 0) || c === 43 || c === 45 || c === 46 || c === 40 || c === 41 || c === 42 || c === 35 || c === 37 || c === 112 || c === 119 || c === 80 || c === 87;
    if (!ok) throw bad(`bad character in tel number "${s}"`);
  }
  const params = semi < 0 ? EMPTY_PARAMS : parseUriParams(s, semi + 1, s.length);
  return { scheme: "tel", number, params };
}

function formatHost(u: SipUri): string {
  return u.hostType === "ipv6" ? `[${u.host}]` : u.host;
}

/** Serialise a URI, re-escaping what needs it; IPv6 in brackets. */
export function formatUri(u: SipUri | TelUri): string {
  let out: string;
  if (u.scheme === "tel") out = `tel:${u.number}`;
  else {
    out = `${u.scheme}:`;
    if (u.user !== undefined) {
      out += escapeUser(u.user);
      if (u.password !== undefined) out += ":" + escapePassword(u.password);
      out += "@";
    }
    out += formatHost(u);
    if (u.port !== undefined) out += `:${u.port}`;
  }
  for (const [k, v] of u.params) out += v === null ? `;${escapeParam(k)}` : `;${escapeParam(k)}=${escapeParam(v)}`;
  if (u.scheme !== "tel" && u.headers.size > 0) {
    let sep = "?";
    for (const [k, v] of u.headers) {
      out += `${sep}${escapeHeader(k)}=${escapeHeader(v)}`;
      sep = "&";
    }
  }
  return out;
}

/**
 * Fast path of canonicalAor: `sip:` user `@` host that is already canonical — user of unreserved
 * characters only (nothing to unescape or escape), host of lower-case letters, digits, '-' and
 * '.', no port, params or headers. Such a string parses (parseSipUri) and formats back to itself,
 * so it is its own AOR; anything else takes the full parse.
 */
function isCanonicalAor(s: string): boolean {
  const n = s.length;
  if (n < 7 || s.charCodeAt(0) !== 115 || s.charCodeAt(1) !== 105 || s.charCodeAt(2) !== 112 || s.charCodeAt(3) !== 58) return false;
  let i = 4;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c === 64 /* @ */) break;
    if (c >= 128 || (CLASS[c]! & Cls.Unreserved) === 0) return false;
    i++;
  }
  if (i === 4 || i === n) return false;
  const hs = ++i;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 46)) return false;
  }
  return i > hs;
}

/**
 * Canonical address-of-record (RFC 3261 §10.3 step 5): "sip:user@host" — sips folded to sip,
 * no password/port/params/headers, host lower-case, user unescaped then minimally re-escaped so
 * equivalent spellings (sip:%61lice@X, sip:alice@x) give one key. Throws (400) on tel and others.
 */
export function canonicalAor(uri: string | SipUri): string {
  let u: SipUri;
  if (typeof uri === "string") {
    if (isCanonicalAor(uri)) return uri;
    if (!isSipScheme(uri)) {
      throw new SipParseError({ code: SipErrorCode.badUri, sipStatus: 400, reason: "Bad AOR", detail: `not a SIP URI: "${uri}"` });
    }
    u = parseSipUri(uri);
  } else u = uri;
  return u.user !== undefined ? `sip:${escapeUser(u.user)}@${formatHost(u)}` : `sip:${formatHost(u)}`;
}

/**
 * Small scanning helpers shared by the header grammars (RFC 3261 §25.1).
 *
 * The scanners read octets, not string chars: `u[k]` is the k-th char of the text being parsed
 * (the message's own bytes for the header block, whose latin1 text is the string the values are
 * sliced from), and reading a Uint8Array costs about half of `String#charCodeAt`, which checks the
 * string's representation on every call. Text that is not the message's bytes (a decoded UTF-8
 * or unfolded value, a string handed to a public parse function) is turned into octets by
 * `octetsOf`, which maps every non-ASCII char to 0x80: the grammars only ever ask whether a
 * char is one particular ASCII char or in an ASCII class, so the answers are the same.
 */
import { isTokenChar } from "./headers.js";

/**
 * Octet classes, one table lookup per octet instead of a chain of range tests (the scans below run
 * over every char of every header a proxy reads). 256 entries, so any octet indexes it; non-ASCII
 * octets belong to no class, as with isTokenChar / isWs.
 */
const CLASS = new Uint8Array(256);
/** RFC 3261 §25.1 token */
const C_TOKEN = 1;
/** unquoted generic-param value: token / host, incl. an IPv6 reference (':' '[' ']') */
const C_GENVALUE = 2;
/** SP / HTAB / CR / LF */
const C_WS = 4;
/** a sent-by host name or IPv4 (via.ts): ALPHA / DIGIT / '-' / '.' / '_' */
const C_HOST = 8;
/** A-Z */
const C_UPPER = 16;
for (let c = 0; c < 128; c++) {
  if (isTokenChar(c)) CLASS[c]! |= C_TOKEN | C_GENVALUE;
  if (c === 58 || c === 91 || c === 93) CLASS[c]! |= C_GENVALUE;
  if (c === 32 || c === 9 || c === 13 || c === 10) CLASS[c]! |= C_WS;
  if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 95) CLASS[c]! |= C_HOST;
  if (c >= 65 && c <= 90) CLASS[c]! |= C_UPPER;
}

/** isWs for an octet (see CLASS). */
export function isWsOctet(c: number): boolean {
  return (CLASS[c]! & C_WS) !== 0;
}

/** isTokenChar for an octet (see CLASS). */
export function isTokenOctet(c: number): boolean {
  return (CLASS[c]! & C_TOKEN) !== 0;
}

/** A char of a Via sent-by host name or IPv4 address (see CLASS). */
export function isHostOctet(c: number): boolean {
  return (CLASS[c]! & C_HOST) !== 0;
}

/** A-Z (see CLASS). */
export function isUpperOctet(c: number): boolean {
  return (CLASS[c]! & C_UPPER) !== 0;
}

/** One octet per char of `s` (non-ASCII chars as 0x80), see the module comment. */
export function octetsOf(s: string): Buffer {
  const n = s.length;
  const u = Buffer.allocUnsafe(n);
  for (let k = 0; k < n; k++) {
    const c = s.charCodeAt(k);
    u[k] = c < 128 ? c : 128;
  }
  return u;
}

/** Skip SP / HTAB / CR / LF (LWS after unfolding may still hold CRLF in raw values). */
export function skipWs(u: Uint8Array, i: number, end: number): number {
  while (i < end && (CLASS[u[i]!]! & C_WS) !== 0) i++;
  return i;
}

export function scanToken(u: Uint8Array, i: number, end: number): number {
  while (i < end && (CLASS[u[i]!]! & C_TOKEN) !== 0) i++;
  return i;
}

/** End of the run of ASCII digits at `i` (i itself when there is none). */
export function scanDigits(u: Uint8Array, i: number, end: number): number {
  while (i < end) {
    const c = u[i]!;
    if (c < 48 || c > 57) break;
    i++;
  }
  return i;
}

/** Value of the digits u[a, b) (scanDigits' run; callers bound its length before it can overflow). */
export function decimalAt(u: Uint8Array, a: number, b: number): number {
  let n = 0;
  for (let i = a; i < b; i++) n = n * 10 + u[i]! - 48;
  return n;
}

/**
 * At `i` a '"' opens a quoted-string (RFC 3261 §25.1, quoted-pair allowed) of the text `s`
 * (octets `u`). Returns the index just past the closing quote, or -1 when it is not terminated
 * before `end`. The close is the first '"' that is not the second char of a quoted-pair: a native
 * search finds the first '"', and when the octet before it is not a backslash no quoted-pair can
 * have taken it (a pair escapes only the one char after its '\'). Only a '"' right after a
 * backslash needs the char-by-char scan (a +sip.instance value is ~50 chars: the search is
 * several times cheaper than a loop over the octets).
 */
export function scanQuoted(u: Uint8Array, s: string, i: number, end: number): number {
  const q = s.indexOf('"', i + 1);
  if (q < 0 || q >= end) return -1; // no '"' at all before `end`: unterminated either way
  if (u[q - 1] !== 92) return q + 1;
  for (let j = i + 1; j < end; j++) {
    const c = u[j]!;
    if (c === 92) j++;
    else if (c === 34) return j + 1;
  }
  return -1;
}

/** nextBackslash's memory: in `bsText`, no backslash in [bsFrom, bsAt), and one at bsAt (-1: none after bsFrom). */
let bsText = "";
let bsFrom = 0;
let bsAt = -1;

/**
 * Index of the first backslash in `s` at or after `i`, -1 when there is none. A native search,
 * remembered for the text, so the forward scans of one parse (each quoted value of each Contact)
 * search each stretch of the message once: searching from every quoted value to the end of a
 * message that has no backslash at all would make a many-Contact REGISTER quadratic. Only the
 * content of `s` matters, so a remembered equal text (compared by `===`) gives the same answer;
 * the parser forgets it at the start of every message (forgetBackslash), so a message never
 * skips its own search because the one before it had the same bytes.
 */
export function nextBackslash(s: string, i: number): number {
  if (i >= bsFrom && (bsAt < 0 || i <= bsAt) && s === bsText) return bsAt;
  bsText = s;
  bsFrom = i;
  bsAt = s.indexOf("\\", i);
  return bsAt;
}

/** Drop nextBackslash's memory (the parser, per message). */
export function forgetBackslash(): void {
  bsText = "";
  bsFrom = 0;
  bsAt = -1;
}

/** Contents of a quoted-string with quoted-pairs resolved; `q` includes the quotes. */
export function unquote(q: string): string {
  if (q.length < 2 || q.charCodeAt(0) !== 34) return q;
  const inner = q.slice(1, -1);
  if (inner.indexOf("\\") < 0) return inner;
  let out = "";
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i]!;
    if (c === "\\" && i + 1 < inner.length) out += inner[++i]!;
    else out += c;
  }
  return out;
}

/** unquote(s.slice(a, b)) for a quoted-string at s[a, b) (as scanQuoted found it), one slice when it has no quoted-pair. */
export function unquoteAt(s: string, a: number, b: number): string {
  for (let i = a + 1; i < b - 1; i++) if (s.charCodeAt(i) === 92) return unquote(s.slice(a, b));
  return s.slice(a + 1, b - 1);
}

/** What scanGenericParam read: name `[ns, ne)`, value `[vs, ve)` (-1 for a flag), or why it failed. */
export const PARAM = { ns: 0, ne: 0, vs: -1, ve: -1, error: "" };

function paramError(error: string): number {
  PARAM.error = error;
  return -1;
}

/**
 * Reads one `SEMI generic-param` (RFC 3261 §25.1; LWS allowed around ';' and '=') from the octets
 * at `i`, which must be ';'. Returns the index after it and its trailing LWS with the bounds in
 * PARAM, or -1 with PARAM.error (`s` is the text, to name an unexpected char). The one scanner of
 * header parameters: validation, the lazy params Map, and the Via and Contact scans that pick
 * their own parameters out as they go.
 */
export function scanGenericParam(u: Uint8Array, s: string, i: number, end: number): number {
  // the LWS, token and value loops are written out here rather than calling skipWs / scanToken:
  // this runs for every parameter of every Via, From, To and Contact, and the calls were not
  // always inlined
  if (u[i] !== 59) return paramError(`unexpected '${s[i]!}'`);
  i++;
  while (i < end && (CLASS[u[i]!]! & C_WS) !== 0) i++;
  const ns = i;
  while (i < end && (CLASS[u[i]!]! & C_TOKEN) !== 0) i++;
  if (i === ns) return paramError("empty parameter");
  PARAM.ns = ns;
  PARAM.ne = i;
  PARAM.vs = PARAM.ve = -1;
  while (i < end && (CLASS[u[i]!]! & C_WS) !== 0) i++;
  if (i < end && u[i] === 61) {
    i++;
    while (i < end && (CLASS[u[i]!]! & C_WS) !== 0) i++;
    const vs = i;
    if (i < end && u[i] === 34) {
      i = scanQuoted(u, s, i, end);
      if (i < 0) return paramError("unterminated quoted string");
    } else {
      while (i < end && (CLASS[u[i]!]! & C_GENVALUE) !== 0) i++;
      if (i === vs) return paramError("empty parameter value");
    }
    PARAM.vs = vs;
    PARAM.ve = i;
    while (i < end && (CLASS[u[i]!]! & C_WS) !== 0) i++;
  }
  return i;
}

/**
 * Validate `*( SEMI generic-param )` of the text `s` (octets `u`) from `i` without allocating.
 * Returns an error description, or undefined when well-formed. (parseGenericParams builds the map.)
 */
export function checkGenericParams(u: Uint8Array, s: string, i: number, end: number): string | undefined {
  while (i < end) {
    i = scanGenericParam(u, s, i, end);
    if (i < 0) return PARAM.error;
  }
  return undefined;
}

/** Octet -> its ASCII lower case (any other octet unchanged). */
const LOWER = new Uint8Array(256);
for (let c = 0; c < 256; c++) LOWER[c] = c >= 65 && c <= 90 ? c + 32 : c;

/** The octets of a lower-case parameter or protocol name, for nameIs. */
export function nameOctets(name: string): Uint8Array {
  return Buffer.from(name, "latin1");
}

/**
 * The octets `u[a, b)` equal the lower-case `name` (nameOctets) ignoring ASCII case: two byte
 * arrays and a lower-case table, rather than charCodeAt on the name for every char.
 */
export function nameIs(u: Uint8Array, a: number, b: number, name: Uint8Array): boolean {
  const n = name.length;
  if (b - a !== n) return false;
  for (let i = 0; i < n; i++) if (LOWER[u[a + i]!] !== name[i]) return false;
  return true;
}

/** Lower-case `s[a, b)` only when it has upper-case letters. */
export function lowerSlice(s: string, a: number, b: number): string {
  for (let i = a; i < b; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return s.slice(a, b).toLowerCase();
  }
  return s.slice(a, b);
}

/**
 * Parse `*( SEMI generic-param )` starting at `i` (which must be at ';' or end). LWS is allowed
 * around ';' and '=' (RFC 3261 §25.1 SEMI / EQUAL). Keys lower-case; values as written (quotes
 * kept), null for a flag. Returns the map, or a string describing the error.
 */
export function parseGenericParams(u: Uint8Array, s: string, i: number, end: number, into: Map<string, string | null>): string | undefined {
  while (i < end) {
    i = scanGenericParam(u, s, i, end);
    if (i < 0) return PARAM.error;
    into.set(lowerSlice(s, PARAM.ns, PARAM.ne), PARAM.vs < 0 ? null : s.slice(PARAM.vs, PARAM.ve));
  }
  return undefined;
}

/** Small scanning helpers shared by the header grammars (RFC 3261 §25.1). */
import { isTokenChar } from "./headers.js";

/** Skip SP / HTAB / CR / LF (LWS after unfolding may still hold CRLF in raw values). */
export function skipWs(s: string, i: number, end = s.length): number {
  while (i < end) {
    const c = s.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13 && c !== 10) break;
    i++;
  }
  return i;
}

export function scanToken(s: string, i: number, end = s.length): number {
  while (i < end && isTokenChar(s.charCodeAt(i))) i++;
  return i;
}

/**
 * At `i` a '"' opens a quoted-string (RFC 3261 §25.1, quoted-pair allowed). Returns the index
 * just past the closing quote, or -1 when it is not terminated.
 */
export function scanQuoted(s: string, i: number, end = s.length): number {
  // fast path: the closing quote found natively, then a backslash looked for only before it (an
  // unbounded indexOf would scan the rest of the message, which is what `s` usually is)
  const q = s.indexOf('"', i + 1);
  if (q < 0 || q >= end) return -1;
  let bs = i + 1;
  while (bs < q && s.charCodeAt(bs) !== 92) bs++;
  if (bs === q) return q + 1;
  for (let j = bs; j < end; j++) {
    const c = s.charCodeAt(j);
    if (c === 92) j++;
    else if (c === 34) return j + 1;
  }
  return -1;
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

/** Characters allowed in an unquoted generic-param value: token / host (incl. IPv6 reference). */
export function isGenValueChar(c: number): boolean {
  return isTokenChar(c) || c === 58 /* : */ || c === 91 /* [ */ || c === 93 /* ] */;
}

/**
 * Validate `*( SEMI generic-param )` from `i` without allocating. Returns an error description,
 * or undefined when well-formed. (Use parseGenericParams afterwards to build the map.)
 */
export function checkGenericParams(s: string, i: number, end: number): string | undefined {
  while (i < end) {
    if (s.charCodeAt(i) !== 59) return `unexpected '${s[i]!}'`;
    i = skipWs(s, i + 1, end);
    const ns = i;
    i = scanToken(s, i, end);
    if (i === ns) return "empty parameter";
    i = skipWs(s, i, end);
    if (i < end && s.charCodeAt(i) === 61) {
      i = skipWs(s, i + 1, end);
      const vs = i;
      if (s.charCodeAt(i) === 34) {
        i = scanQuoted(s, i, end);
        if (i < 0) return "unterminated quoted string";
      } else {
        while (i < end && isGenValueChar(s.charCodeAt(i))) i++;
        if (i === vs) return "empty parameter value";
      }
      i = skipWs(s, i, end);
    }
  }
  return undefined;
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
export function parseGenericParams(s: string, i: number, end: number, into: Map<string, string | null>): string | undefined {
  while (i < end) {
    if (s.charCodeAt(i) !== 59) return `unexpected '${s[i]!}'`;
    i = skipWs(s, i + 1, end);
    const ns = i;
    i = scanToken(s, i, end);
    if (i === ns) return "empty parameter";
    const name = lowerSlice(s, ns, i);
    i = skipWs(s, i, end);
    if (i < end && s.charCodeAt(i) === 61) {
      i = skipWs(s, i + 1, end);
      const vs = i;
      if (s.charCodeAt(i) === 34) {
        i = scanQuoted(s, i, end);
        if (i < 0) return "unterminated quoted string";
      } else {
        while (i < end && isGenValueChar(s.charCodeAt(i))) i++;
        if (i === vs) return `empty value for ${name}`;
      }
      into.set(name, s.slice(vs, i));
      i = skipWs(s, i, end);
    } else into.set(name, null);
  }
  return undefined;
}

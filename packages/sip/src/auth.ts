/**
 * Credentials and challenges (RFC 3261 §20.7, §20.27, §20.28, §20.44, §25.1; RFC 7235 token68
 * tolerated for foreign schemes). Only the first challenge of a header value is read.
 */
import { badHeader } from "./errors.js";
import { scanQuoted, scanToken, skipWs, unquote } from "./lex.js";
import type { AuthParams } from "./types.js";

class AuthValue implements AuthParams {
  constructor(readonly scheme: string, readonly params: ReadonlyMap<string, string>) {}
}

export function parseAuthParamsIn(s: string, hdr: string): AuthParams {
  const end = s.length;
  let i = skipWs(s, 0, end);
  let j = scanToken(s, i, end);
  if (j === i) throw badHeader(hdr, "missing auth scheme");
  const scheme = s.slice(i, j);
  const params = new Map<string, string>();
  i = skipWs(s, j, end);
  while (i < end) {
    j = scanToken(s, i, end);
    if (j === i) throw badHeader(hdr, `unexpected '${s[i]!}'`);
    const name = s.slice(i, j);
    let k = skipWs(s, j, end);
    if (s.charCodeAt(k) !== 61) {
      // A new challenge ("Digest ..., Basic realm=x") starts: stop here. Else token68.
      if (k < end && s.charCodeAt(k) !== 44) break;
      params.set("token68", name);
      i = k;
    } else if (params.size === 0 && isToken68Padding(s, k, end)) {
      // RFC 7235 §2.1: token68 may end in '=' padding ("abc==") — no value follows the '='s
      let e = k;
      while (e < end && s.charCodeAt(e) === 61) e++;
      params.set("token68", s.slice(i, e));
      i = e;
    } else {
      k = skipWs(s, k + 1, end);
      let value: string;
      if (s.charCodeAt(k) === 34) {
        const q = scanQuoted(s, k, end);
        if (q < 0) throw badHeader(hdr, "unterminated quoted string");
        value = unquote(s.slice(k, q));
        i = q;
      } else {
        let e = k;
        while (e < end) {
          const c = s.charCodeAt(e);
          if (c === 44 || c === 32 || c === 9 || c === 13 || c === 10) break;
          e++;
        }
        value = s.slice(k, e);
        i = e;
      }
      params.set(name.toLowerCase(), value);
    }
    i = skipWs(s, i, end);
    if (i < end) {
      if (s.charCodeAt(i) !== 44) throw badHeader(hdr, `expected ',' at "${s.slice(i, i + 10)}"`);
      i = skipWs(s, i + 1, end);
    }
  }
  return new AuthValue(scheme, params);
}

/** At `k` a run of '=' followed by nothing, or by LWS then ',' or the end. */
function isToken68Padding(s: string, k: number, end: number): boolean {
  let e = k;
  while (e < end && s.charCodeAt(e) === 61) e++;
  e = skipWs(s, e, end);
  return e >= end || s.charCodeAt(e) === 44;
}

export function parseAuthParams(s: string): AuthParams {
  return parseAuthParamsIn(s, "Authorization");
}

/**
 * Credentials and challenges (RFC 3261 §20.7, §20.27, §20.28, §20.44, §25.1; RFC 7235 token68
 * tolerated for foreign schemes). Only the first challenge of a header value is read.
 */
import { badHeader } from "./errors.js";
import { octetsOf, scanQuoted, scanToken, skipWs, unquote } from "./lex.js";
import type { AuthParams } from "./types.js";

class AuthValue implements AuthParams {
  constructor(readonly scheme: string, readonly params: ReadonlyMap<string, string>) {}
}

export function parseAuthParamsIn(s: string, hdr: string): AuthParams {
  const u = octetsOf(s);
  const end = s.length;
  let i = skipWs(u, 0, end);
  let j = scanToken(u, i, end);
  if (j === i) throw badHeader(hdr, "missing auth scheme");
  const scheme = s.slice(i, j);
  const params = new Map<string, string>();
  i = skipWs(u, j, end);
  while (i < end) {
    j = scanToken(u, i, end);
    if (j === i) throw badHeader(hdr, `unexpected '${s[i]!}'`);
    const name = s.slice(i, j);
    let k = skipWs(u, j, end);
    if (u[k] !== 61) {
      // A new challenge ("Digest ..., Basic realm=x") starts: stop here. Else token68.
      if (k < end && u[k] !== 44) break;
      params.set("token68", name);
      i = k;
    } else if (params.size === 0 && isToken68Padding(u, k, end)) {
      // RFC 7235 §2.1: token68 may end in '=' padding ("abc==") — no value follows the '='s
      let e = k;
      while (e < end && u[e] === 61) e++;
      params.set("token68", s.slice(i, e));
      i = e;
    } else {
      k = skipWs(u, k + 1, end);
      let value: string;
      if (u[k] === 34) {
        const q = scanQuoted(u, s, k, end);
        if (q < 0) throw badHeader(hdr, "unterminated quoted string");
        value = unquote(s.slice(k, q));
        i = q;
      } else {
        let e = k;
        while (e < end) {
          const c = u[e];
          if (c === 44 || c === 32 || c === 9 || c === 13 || c === 10) break;
          e++;
        }
        value = s.slice(k, e);
        i = e;
      }
      params.set(name.toLowerCase(), value);
    }
    i = skipWs(u, i, end);
    if (i < end) {
      if (u[i] !== 44) throw badHeader(hdr, `expected ',' at "${s.slice(i, i + 10)}"`);
      i = skipWs(u, i + 1, end);
    }
  }
  return new AuthValue(scheme, params);
}

/** At `k` a run of '=' followed by nothing, or by LWS then ',' or the end. */
function isToken68Padding(u: Uint8Array, k: number, end: number): boolean {
  let e = k;
  while (e < end && u[e] === 61) e++;
  e = skipWs(u, e, end);
  return e >= end || u[e] === 44;
}

export function parseAuthParams(s: string): AuthParams {
  return parseAuthParamsIn(s, "Authorization");
}

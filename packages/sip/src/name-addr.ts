/**
 * name-addr / addr-spec with header parameters (RFC 3261 §20.10, §25.1), and Contact
 * values (RFC 3261 §20.10, RFC 5626 §4.2 +sip.instance / reg-id).
 */
import { badHeader, type SipParseError } from "./errors.js";
import { isTokenChar } from "./headers.js";
import { checkGenericParams, parseGenericParams, scanQuoted, skipWs, unquote } from "./lex.js";
import { schemeLength } from "./uri.js";
import type { Contact, NameAddr } from "./types.js";

const EMPTY: ReadonlyMap<string, string | null> = new Map();

/** Header params are validated when parsed and turned into a Map only when asked for. */
class NameAddrValue implements NameAddr {
  private _params: ReadonlyMap<string, string | null> | undefined;
  constructor(
    readonly displayName: string | undefined,
    readonly uri: string,
    readonly raw: string,
    private readonly _ps: number,
    params?: ReadonlyMap<string, string | null>,
  ) {
    this._params = params;
  }

  get params(): ReadonlyMap<string, string | null> {
    if (this._params === undefined) {
      if (this._ps < 0) this._params = EMPTY;
      else {
        const m = new Map<string, string | null>();
        parseGenericParams(this.raw, this._ps, this.raw.length, m);
        this._params = m;
      }
    }
    return this._params;
  }
}

/**
 * Parse one name-addr or addr-spec value. `hdr` names the header in the error ("Bad Header: To").
 * - `"Display" <uri>;p=v`, `Tokens Only <uri>`, `<uri>` and `uri;p=v` (addr-spec form) are accepted;
 *   no LWS is needed between a display name and '<' (RFC 4475 §3.1.1.6).
 * - Inside <...> no whitespace is allowed (RFC 4475 §3.1.2.14).
 * - In addr-spec form the URI ends at the first ';' and must not contain ',' or '?' (§20.10).
 */
export function parseNameAddrIn(input: string, hdr: string): NameAddr {
  const s = trimmed(input);
  const end = s.length;
  let i = skipWs(s, 0, end);
  let display: string | undefined;
  let uri: string;
  const c0 = s.charCodeAt(i);
  let laquot = -1;
  if (c0 === 34) {
    const q = scanQuoted(s, i, end);
    if (q < 0) throw badHeader(hdr, "unterminated quoted display name");
    display = unquote(s.slice(i, q));
    i = skipWs(s, q, end);
    if (s.charCodeAt(i) !== 60) throw badHeader(hdr, "quoted display name not followed by <");
    laquot = i;
  } else if (c0 === 60) laquot = i;
  else {
    // display-name = *(token LWS) before '<', or an addr-spec
    let j = i;
    let tokens = true;
    while (j < end) {
      const c = s.charCodeAt(j);
      if (c === 60) break;
      if (!isTokenChar(c) && c !== 32 && c !== 9 && c !== 13 && c !== 10) tokens = false;
      j++;
    }
    if (j < end && tokens) {
      laquot = j;
      let de = j;
      while (de > i && isWsc(s.charCodeAt(de - 1))) de--;
      display = de > i ? s.slice(i, de) : undefined;
    } else if (j < end && schemeLength(s, i) < 0) {
      throw badHeader(hdr, "display name is not a token list or quoted string");
    }
  }
  let pstart: number;
  if (laquot >= 0) {
    const ra = s.indexOf(">", laquot + 1);
    if (ra < 0) throw badHeader(hdr, "missing >");
    uri = s.slice(laquot + 1, ra);
    for (let k = 0; k < uri.length; k++) {
      const c = uri.charCodeAt(k);
      if (c === 32 || c === 9 || c === 13 || c === 10) throw badHeader(hdr, "whitespace inside <>");
    }
    pstart = skipWs(s, ra + 1, end);
  } else {
    let j = i;
    while (j < end) {
      const c = s.charCodeAt(j);
      if (c === 59 || c === 32 || c === 9 || c === 13 || c === 10) break;
      if (c === 44 || c === 63 || c === 60 || c === 62 || c === 34) throw badHeader(hdr, "URI with ',', '?' or quotes must be enclosed in <>");
      j++;
    }
    uri = s.slice(i, j);
    pstart = skipWs(s, j, end);
  }
  if (schemeLength(uri) <= 0) throw badHeader(hdr, `no URI scheme in "${uri}"`);
  if (pstart < end) {
    const err = checkGenericParams(s, pstart, end);
    if (err !== undefined) throw badHeader(hdr, err);
  }
  return new NameAddrValue(display, uri, s, pstart < end ? pstart : -1);
}

function trimmed(s: string): string {
  const n = s.length;
  if (n === 0 || (!isWsc(s.charCodeAt(0)) && !isWsc(s.charCodeAt(n - 1)))) return s;
  return s.trim();
}

function isWsc(c: number): boolean {
  return c === 32 || c === 9 || c === 13 || c === 10;
}

/** Public: parse a name-addr / addr-spec (throws SipParseError 400). */
export function parseNameAddr(s: string): NameAddr {
  return parseNameAddrIn(s, "name-addr");
}

/** Serialise: `"Display" <uri>;k=v;flag` (always with <> so URI params stay URI params). */
export function formatNameAddr(n: NameAddr): string {
  let out = "";
  if (n.displayName !== undefined && n.displayName.length > 0) {
    out = `"${n.displayName.replace(/(["\\])/g, "\\$1")}" `;
  }
  out += `<${n.uri}>`;
  for (const [k, v] of n.params) out += v === null ? `;${k}` : `;${k}=${v}`;
  return out;
}

class ContactValue extends NameAddrValue implements Contact {
  constructor(
    n: NameAddr,
    readonly expires: number | undefined,
    readonly q: number | undefined,
    readonly instance: string | undefined,
    readonly regId: number | undefined,
  ) {
    super(n.displayName, n.uri, n.raw, -1, n.params);
  }
}

/** delta-seconds (RFC 3261 §25.1). Overlarge values read as 3600 (RFC 4475 §3.1.2.4, §20.19). */
export function parseDeltaSeconds(v: string): number | undefined {
  if (v.length === 0) return undefined;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
  }
  const n = Number(v);
  return n > 4294967295 ? 3600 : n;
}

/** One Contact value (not "*"). */
export function parseContactIn(s: string): Contact {
  const n = parseNameAddrIn(s, "Contact");
  if (n.params.size === 0) return new ContactValue(n, undefined, undefined, undefined, undefined);
  let expires: number | undefined;
  let q: number | undefined;
  let instance: string | undefined;
  let regId: number | undefined;
  const e = n.params.get("expires");
  if (e !== undefined) {
    expires = e === null ? undefined : parseDeltaSeconds(unquote(e));
    if (expires === undefined) throw contactError(`bad expires "${e}"`);
  }
  const qv = n.params.get("q");
  if (qv !== undefined) {
    // RFC 3261 §20.10 qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
    q = qv === null ? NaN : parseQ(qv);
    if (Number.isNaN(q)) throw contactError(`bad q "${String(qv)}"`);
  }
  const inst = n.params.get("+sip.instance");
  if (inst !== undefined && inst !== null) {
    let v = unquote(inst);
    if (v.startsWith("<") && v.endsWith(">")) v = v.slice(1, -1);
    instance = v;
  }
  const r = n.params.get("reg-id");
  if (r !== undefined) {
    regId = r === null ? undefined : parseDeltaSeconds(r);
    if (regId === undefined) throw contactError(`bad reg-id "${String(r)}"`);
  }
  return new ContactValue(n, expires, q, instance, regId);
}

function parseQ(v: string): number {
  if (!/^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(v)) return NaN;
  return Number(v);
}

function contactError(detail: string): SipParseError {
  return badHeader("Contact", detail);
}

/**
 * name-addr / addr-spec with header parameters (RFC 3261 §20.10, §25.1), and Contact
 * values (RFC 3261 §20.10, RFC 5626 §4.2 +sip.instance / reg-id).
 */
import { badHeader, type SipParseError } from "./errors.js";
import { checkGenericParams, isTokenOctet, isWsOctet, nameIs, nameOctets, nextBackslash, octetsOf, PARAM, parseGenericParams, scanGenericParam, scanQuoted, skipWs, unquote, unquoteAt } from "./lex.js";
import { schemeLength } from "./uri.js";
import type { Contact, NameAddr } from "./types.js";

const EMPTY: ReadonlyMap<string, string | null> = new Map();

/**
 * Header params are validated when parsed and turned into a Map only when asked for. The value is
 * kept as offsets into the string it was parsed from (usually the whole message text): the display
 * name, the URI and `raw` are sliced, and `params` built, only on access. The parser validates From
 * and To of every message, and a proxy reads little more than their tags (`_param`).
 */
class NameAddrValue implements NameAddr {
  private _params: ReadonlyMap<string, string | null> | undefined = undefined;
  private _raw: string | undefined = undefined;
  private _uri: string | undefined = undefined;
  /** null: not sliced yet (undefined is a valid answer: no display name) */
  private _display: string | undefined | null = null;
  constructor(
    /** source text, its octets (lex.ts) and the trimmed value's bounds in it; `_ps` = params start or -1 */
    readonly _u: Uint8Array,
    readonly _src: string,
    readonly _a: number,
    readonly _b: number,
    readonly _ps: number,
    /** the display name's bounds (a quoted-string with its quotes when `_dq`), `_da` -1 when absent */
    private readonly _da: number,
    private readonly _db: number,
    private readonly _dq: boolean,
    /** the URI's bounds (no <>) */
    private readonly _ua: number,
    private readonly _ub: number,
  ) {}

  get displayName(): string | undefined {
    if (this._display === null) {
      const { _da: a, _db: b } = this;
      this._display = a < 0 ? undefined : this._dq ? unquoteAt(this._src, a, b) : this._src.slice(a, b);
    }
    return this._display;
  }

  get uri(): string {
    return (this._uri ??= this._src.slice(this._ua, this._ub));
  }

  /**
   * The value of the header parameter `key` (lower case; `name` its nameOctets), as `params.get` gives it,
   * without building the Map: `null` for a flag, undefined when absent. The params were validated
   * when the value was parsed. For the tags a proxy reads from every request's From and To.
   */
  _param(key: string, name: Uint8Array): string | null | undefined {
    if (this._params !== undefined) return this._params.get(key);
    const u = this._u;
    const s = this._src;
    let found: string | null | undefined;
    for (let i = this._ps; i >= 0 && i < this._b;) {
      i = scanGenericParam(u, s, i, this._b);
      if (i < 0) break;
      // the last occurrence, as Map#set in parseGenericParams would leave it
      if (nameIs(u, PARAM.ns, PARAM.ne, name)) found = PARAM.vs < 0 ? null : s.slice(PARAM.vs, PARAM.ve);
    }
    return found;
  }

  get raw(): string {
    if (this._raw === undefined) {
      const s = this._src;
      this._raw = this._a === 0 && this._b === s.length ? s : s.slice(this._a, this._b);
    }
    return this._raw;
  }

  get params(): ReadonlyMap<string, string | null> {
    if (this._params === undefined) {
      if (this._ps < 0) this._params = EMPTY;
      else {
        const m = new Map<string, string | null>();
        parseGenericParams(this._u, this._src, this._ps, this._b, m);
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
export function parseNameAddrIn(input: string, hdr: string, checkParams = true): NameAddr {
  return parseNameAddrAt(octetsOf(input), input, 0, input.length, hdr, checkParams);
}

/**
 * parseNameAddrIn on `src[a, b)` (octets `u`, see lex.ts) without slicing the value out first:
 * the parser hands the whole message text, its bytes and a field's offsets.
 */
export function parseNameAddrAt(u: Uint8Array, src: string, a: number, b: number, hdr: string, checkParams = true): NameAddr {
  scanNameAddr(u, src, a, b, hdr, checkParams);
  return new NameAddrValue(u, src, SCAN.a, SCAN.b, SCAN.ps, SCAN.da, SCAN.db, SCAN.dq, SCAN.ua, SCAN.ub);
}

/** `params.get("tag")` of a NameAddr this module made, without building the params Map. */
export function tagOf(n: NameAddr): string | null | undefined {
  return n instanceof NameAddrValue ? n._param("tag", N_TAG) : n.params.get("tag");
}

/**
 * Results of scanNameAddr (parsing is synchronous: one scratch object serves every call): the value's
 * trimmed bounds, its params' start (-1: none), the display name's bounds (da -1: none; dq: quoted,
 * the quotes included) and the URI's.
 */
const SCAN = { a: 0, b: 0, ps: -1, da: -1, db: -1, dq: false, ua: 0, ub: 0 };

function scanNameAddr(u: Uint8Array, src: string, a: number, b: number, hdr: string, checkParams: boolean): void {
  const s = src;
  while (a < b && isWsOctet(u[a]!)) a++;
  while (b > a && isWsOctet(u[b - 1]!)) b--;
  const end = b;
  let i = a;
  let da = -1;
  let db = -1;
  let dq = false;
  let ua: number;
  let ub: number;
  const c0 = i < end ? u[i]! : -1;
  let laquot = -1;
  if (c0 === 34) {
    const q = scanQuoted(u, s, i, end);
    if (q < 0) throw badHeader(hdr, "unterminated quoted display name");
    da = i;
    db = q;
    dq = true;
    i = skipWs(u, q, end);
    if (i >= end || u[i] !== 60) throw badHeader(hdr, "quoted display name not followed by <");
    laquot = i;
  } else if (c0 === 60) laquot = i;
  else {
    // display-name = *(token LWS) before '<', or an addr-spec
    let j = i;
    let tokens = true;
    while (j < end) {
      const c = u[j]!;
      if (c === 60) break;
      if (!isTokenOctet(c) && !isWsOctet(c)) tokens = false;
      j++;
    }
    if (j < end && tokens) {
      laquot = j;
      let de = j;
      while (de > i && isWsOctet(u[de - 1]!)) de--;
      if (de > i) {
        da = i;
        db = de;
      }
    } else if (j < end && schemeLength(u, i, end) < 0) {
      throw badHeader(hdr, "display name is not a token list or quoted string");
    }
  }
  let pstart: number;
  if (laquot >= 0) {
    // up to '>', noting whitespace on the way (a missing '>' is the error named first)
    let ra = laquot + 1;
    let white = false;
    while (ra < end) {
      const c = u[ra]!;
      if (c === 62) break;
      if (isWsOctet(c)) white = true;
      ra++;
    }
    if (ra >= end) throw badHeader(hdr, "missing >");
    if (white) throw badHeader(hdr, "whitespace inside <>");
    if (schemeLength(u, laquot + 1, ra) <= 0) throw noScheme(hdr, s.slice(laquot + 1, ra));
    ua = laquot + 1;
    ub = ra;
    pstart = skipWs(u, ra + 1, end);
  } else {
    let j = i;
    while (j < end) {
      const c = u[j]!;
      if (c === 59 || c === 32 || c === 9 || c === 13 || c === 10) break;
      if (c === 44 || c === 63 || c === 60 || c === 62 || c === 34) throw badHeader(hdr, "URI with ',', '?' or quotes must be enclosed in <>");
      j++;
    }
    if (schemeLength(u, i, j) <= 0) throw noScheme(hdr, s.slice(i, j));
    ua = i;
    ub = j;
    pstart = skipWs(u, j, end);
  }
  if (pstart < end && checkParams) {
    const err = checkGenericParams(u, s, pstart, end);
    if (err !== undefined) throw badHeader(hdr, err);
  }
  SCAN.a = a;
  SCAN.b = end;
  SCAN.ps = pstart < end ? pstart : -1;
  SCAN.da = da;
  SCAN.db = db;
  SCAN.dq = dq;
  SCAN.ua = ua;
  SCAN.ub = ub;
}

function noScheme(hdr: string, uri: string): SipParseError {
  return badHeader(hdr, `no URI scheme in "${uri}"`);
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
    u: Uint8Array,
    src: string,
    a: number,
    b: number,
    ps: number,
    da: number,
    db: number,
    dq: boolean,
    ua: number,
    ub: number,
    readonly expires: number | undefined,
    readonly q: number | undefined,
    readonly instance: string | undefined,
    readonly regId: number | undefined,
  ) {
    // the params Map is still built only when asked for
    super(u, src, a, b, ps, da, db, dq, ua, ub);
  }
}

/** delta-seconds (RFC 3261 §25.1). Overlarge values read as 3600 (RFC 4475 §3.1.2.4, §20.19). */
export function parseDeltaSeconds(v: string): number | undefined {
  return deltaAt(v, 0, v.length);
}

/** delta-seconds in `s[a, b)` (see parseDeltaSeconds), read in place. */
function deltaAt(s: string, a: number, b: number): number | undefined {
  if (b <= a) return undefined;
  let n = 0;
  for (let i = a; i < b; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
    n = n * 10 + c - 48;
  }
  return n > 4294967295 ? 3600 : n;
}

/**
 * One Contact value (not "*"). The header params were validated by parseNameAddrIn; here one scan
 * picks expires, q, +sip.instance and reg-id (names are case-insensitive) without building the
 * params Map — a registrar validates every Contact of every REGISTER (RFC 4475 §3.1.2.13).
 */
export function parseContactIn(s: string): Contact {
  return parseContactAt(octetsOf(s), s, 0, s.length);
}

/** parseContactIn on `src[a, b)` (octets `u`), read in place (see parseNameAddrAt). */
export function parseContactAt(u: Uint8Array, src: string, a: number, b: number): Contact {
  // the params are validated by the scan below (one pass instead of two)
  scanNameAddr(u, src, a, b, "Contact", false);
  const va = SCAN.a;
  const end = SCAN.b;
  const ps = SCAN.ps;
  const { da, db, dq, ua, ub } = SCAN;
  let expires: number | undefined;
  let q: number | undefined;
  let instance: string | undefined;
  let regId: number | undefined;
  const raw = src;
  let i = ps;
  while (i >= 0 && i < end) {
    // *( SEMI generic-param ), validated as checkGenericParams does
    i = scanGenericParam(u, raw, i, end);
    if (i < 0) throw contactError(PARAM.error);
    const { ns, ne, vs, ve } = PARAM;
    const len = ne - ns;
    if (len === 7 && nameIs(u, ns, ne, N_EXPIRES)) {
      if (vs >= 0 && u[vs] !== 34) expires = deltaAt(raw, vs, ve);
      else expires = vs < 0 ? undefined : parseDeltaSeconds(unquote(raw.slice(vs, ve)));
      if (expires === undefined) throw contactError(`bad expires "${vs < 0 ? "null" : raw.slice(vs, ve)}"`);
    } else if (len === 1 && (u[ns]! | 32) === 113 /* q */) {
      // RFC 3261 §20.10 qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
      const value = vs < 0 ? null : raw.slice(vs, ve);
      q = value === null ? NaN : parseQ(value);
      if (Number.isNaN(q)) throw contactError(`bad q "${String(value)}"`);
    } else if (len === 13 && nameIs(u, ns, ne, N_INSTANCE)) {
      if (vs >= 0) {
        let x = vs;
        let y = ve;
        const bs = nextBackslash(raw, x);
        if (bs < 0 || bs >= y) {
          // no quoted-pair: strip the quotes and <> by offsets, one slice
          if (u[x] === 34 && y - x >= 2) { x++; y--; }
          if (y - x >= 2 && u[x] === 60 && u[y - 1] === 62) { x++; y--; }
          instance = raw.slice(x, y);
        } else {
          let v = unquote(raw.slice(vs, ve));
          if (v.startsWith("<") && v.endsWith(">")) v = v.slice(1, -1);
          instance = v;
        }
      }
    } else if (len === 6 && nameIs(u, ns, ne, N_REG_ID)) {
      regId = vs < 0 ? undefined : deltaAt(raw, vs, ve);
      if (regId === undefined) throw contactError(`bad reg-id "${vs < 0 ? "null" : raw.slice(vs, ve)}"`);
    }
  }
  return new ContactValue(u, src, va, end, ps, da, db, dq, ua, ub, expires, q, instance, regId);
}

const N_TAG = nameOctets("tag");
const N_EXPIRES = nameOctets("expires");
const N_INSTANCE = nameOctets("+sip.instance");
const N_REG_ID = nameOctets("reg-id");

function parseQ(v: string): number {
  const n = v.length;
  const c0 = v.charCodeAt(0);
  if (n === 0 || (c0 !== 48 && c0 !== 49)) return NaN;
  if (n === 1) return c0 - 48;
  if (v.charCodeAt(1) !== 46 || n > 5) return NaN;
  for (let i = 2; i < n; i++) {
    const c = v.charCodeAt(i);
    if (c0 === 49 ? c !== 48 : c < 48 || c > 57) return NaN;
  }
  return Number(v);
}

function contactError(detail: string): SipParseError {
  return badHeader("Contact", detail);
}

/**
 * Via (RFC 3261 §20.42, §18.2.1) with RFC 3581 rport and RFC 5118 §4.5 tolerance for a
 * bracketed IPv6 `received`. branch / received / rport are read in the validating scan; the
 * full parameter map is built only when `params` is asked for.
 */
import { badHeader } from "./errors.js";
import { decimalAt, isHostOctet, isUpperOctet, isWsOctet, nameIs, nameOctets, octetsOf, PARAM, parseGenericParams, scanDigits, scanGenericParam, scanToken, skipWs, unquote } from "./lex.js";
import { isIpv6 } from "./uri.js";
import type { Via } from "./types.js";

const EMPTY: ReadonlyMap<string, string | null> = new Map();

/**
 * Keeps the via-parm as offsets into the text it was parsed from: `raw`, and the usual lower-case
 * host and the branch, are sliced on first read (the parser validates the top Via of every message;
 * a proxy that forwards it untouched never reads them).
 */
class ViaValue implements Via {
  private _params: ReadonlyMap<string, string | null> | undefined = undefined;
  private _raw: string | undefined = undefined;
  private _branch: string | undefined = undefined;
  constructor(
    readonly transport: string,
    /** the host when it had to be made (lower-cased, or an IPv6 reference); else sliced from [_ha, _hb) */
    private _host: string | undefined,
    private readonly _ha: number,
    private readonly _hb: number,
    readonly port: number | undefined,
    /** the branch value's bounds, _bra -1 when there is none */
    private readonly _bra: number,
    private readonly _brb: number,
    readonly received: string | undefined,
    readonly rport: number | null | undefined,
    private readonly _u: Uint8Array,
    private readonly _src: string,
    private readonly _a: number,
    private readonly _b: number,
    private readonly _ps: number,
  ) {}

  get host(): string {
    return (this._host ??= this._src.slice(this._ha, this._hb));
  }

  get branch(): string | undefined {
    if (this._branch === undefined && this._bra >= 0) this._branch = this._src.slice(this._bra, this._brb);
    return this._branch;
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

const N_SIP = nameOctets("sip");
const N_BRANCH = nameOctets("branch");
const N_RECEIVED = nameOctets("received");
const N_RPORT = nameOctets("rport");

function fail(detail: string): never {
  throw badHeader("Via", detail);
}

/**
 * Parse one via-parm: `SIP / 2.0 / UDP host[:port] *(; param)`. LWS is allowed around '/', ':',
 * ';' and '=' (RFC 3261 §25.1 SLASH, COLON, SEMI, EQUAL; RFC 4475 §3.1.1.1).
 */
export function parseVia(input: string): Via {
  return parseViaAt(octetsOf(input), input, 0, input.length);
}

/**
 * parseVia on `src[start, end)` (octets `u`, see lex.ts) read in place: the parser passes the whole
 * message text, its bytes and a field's offsets, so no value string is cut out before scanning it.
 */
export function parseViaAt(u: Uint8Array, src: string, start: number, end: number): Via {
  while (start < end && isWsOctet(u[start]!)) start++;
  while (end > start && isWsOctet(u[end - 1]!)) end--;
  const s = src;
  let i: number;
  let j: number;
  // sent-protocol; fast path for the canonical "SIP/2.0/"
  if (end - start > 8 && isSip20(u, start)) i = start + 8;
  else {
    j = scanToken(u, start, end);
    if (!nameIs(u, start, j, N_SIP)) fail("protocol name is not SIP");
    i = skipWs(u, j, end);
    if (i >= end || u[i]! !== 47) fail("missing / after protocol name");
    i = skipWs(u, i + 1, end);
    j = scanToken(u, i, end);
    if (s.slice(i, j) !== "2.0") fail("protocol version is not 2.0");
    i = skipWs(u, j, end);
    if (i >= end || u[i]! !== 47) fail("missing / after protocol version");
    i = skipWs(u, i + 1, end);
  }
  j = scanToken(u, i, end);
  if (j === i) fail("missing transport");
  const transport = transportAt(u, s, i, j);
  i = skipWs(u, j, end);
  if (i === j) fail("missing LWS before sent-by");
  // sent-by
  let host: string | undefined;
  let ha = i;
  let hb = i;
  if (i < end && u[i]! === 91) {
    const close = s.indexOf("]", i);
    if (close < 0 || close >= end) fail("unterminated IPv6 reference");
    host = s.slice(i + 1, close).toLowerCase();
    if (!isIpv6(host)) fail("bad IPv6 reference");
    i = close + 1;
  } else {
    // one pass over the host octets notes upper case, so the usual lower-case host is one slice
    // without the second scan lowerSlice would make
    j = i;
    let upper = false;
    while (j < end) {
      const c = u[j]!;
      if (!isHostOctet(c)) break;
      if (isUpperOctet(c)) upper = true;
      j++;
    }
    if (j === i) fail("missing host");
    if (upper) host = s.slice(i, j).toLowerCase();
    else {
      ha = i;
      hb = j;
    }
    i = j;
  }
  i = skipWs(u, i, end);
  let port: number | undefined;
  if (i < end && u[i]! === 58) {
    i = skipWs(u, i + 1, end);
    j = scanDigits(u, i, end);
    const n = j - i <= 5 ? decimalAt(u, i, j) : 65536;
    if (j === i || n > 65535) fail("bad port");
    port = n;
    i = skipWs(u, j, end);
  }
  const ps = i < end ? i : -1;
  let bra = -1;
  let brb = -1;
  let received: string | undefined;
  let rport: number | null | undefined;
  // *( SEMI via-params ), validated in one scan that picks branch / received / rport
  while (i < end) {
    i = scanGenericParam(u, s, i, end);
    if (i < 0) fail(PARAM.error);
    const { ns, ne, vs, ve } = PARAM;
    const len = ne - ns;
    if (len === 6 && nameIs(u, ns, ne, N_BRANCH)) {
      if (vs < 0) fail("branch without value");
      bra = vs;
      brb = ve;
    } else if (len === 8 && nameIs(u, ns, ne, N_RECEIVED)) {
      if (vs >= 0) {
        received = unquote(s.slice(vs, ve));
        if (received.charCodeAt(0) === 91 && received.endsWith("]")) received = received.slice(1, -1);
      }
    } else if (len === 5 && nameIs(u, ns, ne, N_RPORT)) {
      if (vs < 0) rport = null;
      else {
        if (scanDigits(u, vs, ve) !== ve || ve - vs > 5) fail("bad rport");
        const n = decimalAt(u, vs, ve);
        if (n > 65535) fail("bad rport");
        rport = n;
      }
    }
  }
  return new ViaValue(transport, host, ha, hb, port, bra, brb, received, rport, u, s, start, end, ps);
}

/** The octets have "SIP/2.0/" at `a` (the canonical spelling). */
function isSip20(u: Uint8Array, a: number): boolean {
  return u[a]! === 83 && u[a + 1]! === 73 && u[a + 2]! === 80 && u[a + 3]! === 47 &&
    u[a + 4]! === 50 && u[a + 5]! === 46 && u[a + 6]! === 48 && u[a + 7]! === 47;
}

/** The transport token upper-cased; the usual ones as constants, without slicing. */
function transportAt(u: Uint8Array, s: string, a: number, b: number): string {
  const n = b - a;
  if (n === 3) {
    const c0 = u[a]! | 32;
    const c1 = u[a + 1]! | 32;
    const c2 = u[a + 2]! | 32;
    if (c0 === 117 && c1 === 100 && c2 === 112) return "UDP";
    if (c0 === 116 && c1 === 99 && c2 === 112) return "TCP";
    if (c0 === 116 && c1 === 108 && c2 === 115) return "TLS";
    if (c0 === 119 && c1 === 115 && c2 === 115) return "WSS";
  } else if (n === 2 && (u[a]! | 32) === 119 && (u[a + 1]! | 32) === 115) return "WS";
  return s.slice(a, b).toUpperCase();
}

function normIp(ip: string): string {
  let v = ip.toLowerCase();
  if (v.startsWith("[") && v.endsWith("]")) v = v.slice(1, -1);
  if (v.startsWith("::ffff:") && v.indexOf(".") > 0) v = v.slice(7); // IPv4-mapped (dual-stack sockets)
  return v;
}

/**
 * The via-parm with RFC 3261 §18.2.1 `received` and RFC 3581 §4 `rport` applied:
 * - received=sourceIp when sent-by's host differs from the source address (a name always
 *   differs), and always when rport is present (RFC 3581 §4: "MUST add a received parameter");
 * - rport=sourcePort when the client asked for it (rport present).
 * When nothing changes the raw value is returned as is; when only `received` is added it is
 * appended to the raw text; otherwise the parameters are re-serialised in their order.
 */
export function viaWithReceived(via: Via, sourceIp: string, sourcePort: number): string {
  const ip = normIp(sourceIp);
  const wantRport = via.rport !== undefined;
  const needReceived = wantRport || normIp(via.host) !== ip;
  if (!wantRport && !needReceived) return via.raw;
  if (!wantRport && !via.params.has("received")) return `${via.raw};received=${ip}`;
  let out = `SIP/2.0/${via.transport} ${via.host.indexOf(":") >= 0 ? `[${via.host}]` : via.host}`;
  if (via.port !== undefined) out += `:${via.port}`;
  let wroteReceived = false;
  for (const [k, v] of via.params) {
    if (k === "received") {
      out += `;received=${ip}`;
      wroteReceived = true;
    } else if (k === "rport") out += `;rport=${sourcePort}`;
    else out += v === null ? `;${k}` : `;${k}=${v}`;
  }
  if (!wroteReceived) out += `;received=${ip}`;
  return out;
}

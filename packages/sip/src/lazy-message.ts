/**
 * The lazy message: the parser records where each header line is (offsets into `raw`) and
 * parses a header VALUE only when it is asked for, caching the result. Offsets are byte
 * offsets: the header block is decoded as latin1 once, so string index == byte index; values
 * are re-decoded as UTF-8 from the bytes when the block is not pure ASCII.
 */
import { badHeader, missingHeader, SipErrorCode, SipParseError } from "./errors.js";
import { canonicalName, displayName, firstListComma, isListHeader, methodAtOctets, splitList } from "./headers.js";
import { parseAuthParamsIn } from "./auth.js";
import { parseContactAt, parseDeltaSeconds, parseNameAddrAt, tagOf } from "./name-addr.js";
import { parseUriAt } from "./uri.js";
import { parseViaAt } from "./via.js";
import { decimalAt, isWsOctet, octetsOf, scanDigits } from "./lex.js";
import { createEditor, type MessageEditor } from "./editor.js";
import type { HeaderField, SipRequest, SipResponse } from "./message.js";
import type { AuthParams, Contact, NameAddr, SipUri, TelUri, Via } from "./types.js";

/**
 * Per field, 3 numbers in `meta`: line start, value start, value end, the end stored as ~end (so
 * negative) when the value is folded over more than one line (RFC 3261 §7.3.1). A field's line,
 * continuation lines and CRLF included, ends where the next field's starts; the last one's at
 * `_headEnd`. Three numbers a field, not five: the array is copied out of the parser's scratch space
 * for every message.
 */
export const F_STRIDE = 3;

/** Which grammar _parseList applies to each list element; `count` parses nothing (valueCount only needs how many). */
const enum ListKind { via, nameAddr, contact, count }

/** The placeholder _parseList counts for ListKind.count: the elements' bounds, no value strings. */
const COUNTED = "*";

const FOLD_RE = /[ \t]*\r\n[ \t]+/g;

/**
 * Bounds set by LazyMessage._span (parsing is synchronous, so one scratch object serves every
 * call): the value is read in place as `src[a, b)` instead of being sliced out first, and `u`
 * holds the octets of `src` that the grammars scan (lex.ts).
 */
export const SPAN: { a: number; b: number; u: Uint8Array } = { a: 0, b: 0, u: new Uint8Array(0) };

export abstract class LazyMessage {
  abstract readonly kind: "request" | "response";
  /** set once by the parser (a datagram's octets beyond Content-Length are cut off) */
  raw: Buffer;
  /** latin1 decode of raw (string index == byte offset); only [0, _bodyStart) is read */
  readonly _s: string;
  _ascii: boolean;
  /** end of the start line including its CRLF */
  readonly _startLineEnd: number;
  /** end of the last header line including its CRLF (= _startLineEnd without header lines) */
  readonly _headEnd: number;
  readonly _meta: number[];
  readonly _names: string[];
  /** offset of the body (after the empty line); set by the parser once the header scan is done */
  _bodyStart: number;
  private _values: (string | undefined)[] | undefined = undefined;
  private _fields: HeaderField[] | undefined = undefined;
  private _body: Buffer | undefined = undefined;

  // caches (some filled by the parser's validation pass)
  _callId: string | undefined = undefined;
  /** the Call-ID field's index, found by the parser (sliced on first read); -1: not known */
  _callIdAt = -1;
  _cseq: { seq: number; method: string } | undefined = undefined;
  _from: NameAddr | undefined = undefined;
  _to: NameAddr | undefined = undefined;
  _topVia: Via | undefined = undefined;
  _vias: Via[] | undefined = undefined;
  _maxForwards: number | undefined = undefined;
  _contentLength: number | undefined = undefined;
  private _contacts: Contact[] | "*" | undefined = undefined;
  private _routes: NameAddr[] | undefined = undefined;
  private _recordRoutes: NameAddr[] | undefined = undefined;
  private _paths: NameAddr[] | undefined = undefined;

  constructor(raw: Buffer, s: string, ascii: boolean, startLineEnd: number, meta: number[], names: string[], headEnd: number, bodyStart: number) {
    this.raw = raw;
    this._s = s;
    this._ascii = ascii;
    this._startLineEnd = startLineEnd;
    this._headEnd = headEnd;
    this._meta = meta;
    this._names = names;
    this._bodyStart = bodyStart;
  }

  /** Value of field `i`: trimmed, unfolded (RFC 3261 §7.3.1), UTF-8 decoded when needed. */
  _value(i: number): string {
    const values = (this._values ??= new Array<string | undefined>(this._names.length));
    const cached = values[i];
    if (cached !== undefined) return cached;
    const v = this._text(i);
    values[i] = v;
    return v;
  }

  /** _value without the cache (the parser keeps the Call-ID itself: no cache array per message for it). */
  _text(i: number): string {
    const m = this._meta;
    const o = i * F_STRIDE;
    const a = m[o + 1]!;
    const end = m[o + 2]!;
    const b = end < 0 ? ~end : end;
    let v = this._ascii ? this._s.slice(a, b) : this.raw.toString("utf8", a, b);
    if (end < 0) v = v.replace(FOLD_RE, " ");
    return v;
  }

  /**
   * Where field `i`'s value can be read in place: returns the string and sets SPAN.a/b/u. That is
   * the message text itself (octets: its bytes) when the header block is ASCII and the field is
   * not folded (the common case: no value string is created), else the decoded, unfolded value.
   */
  _span(i: number): string {
    const m = this._meta;
    const o = i * F_STRIDE;
    if (this._ascii && m[o + 2]! >= 0) {
      SPAN.a = m[o + 1]!;
      SPAN.b = m[o + 2]!;
      SPAN.u = this.raw;
      return this._s;
    }
    const v = this._value(i);
    SPAN.a = 0;
    SPAN.b = v.length;
    SPAN.u = octetsOf(v);
    return v;
  }

  /**
   * The comma-separated elements (RFC 3261 §7.3.1) of every field named `canon`, in order, each
   * read in place (the source text, its octets and the element's trimmed bounds) and parsed by
   * the grammar `kind` names; empty elements are skipped, as splitList does. A Contact `*` is
   * kept as the string "*" (only valid alone, RFC 3261 §20.10; checked here, before the element
   * after it is parsed). One loop that switches on `kind` rather than a callback per accessor:
   * the callback's call site saw three closures and stayed a generic call (about 100 ns on a
   * REGISTER's single Contact).
   */
  private _parseList(canon: string, kind: ListKind, display: string): (Via | NameAddr | Contact | "*")[] {
    const out: (Via | NameAddr | Contact | "*")[] = [];
    const names = this._names;
    // from the first field of the name on (one native search instead of comparing every name before it)
    for (let i = names.indexOf(canon); i >= 0 && i < names.length; i++) {
      if (names[i] !== canon) continue;
      const s = this._span(i);
      const u = SPAN.u;
      const end = SPAN.b;
      let a = SPAN.a;
      for (;;) {
        const comma = firstListComma(s, a, end);
        let x = a;
        let y = comma < 0 ? end : comma;
        while (x < y && isWsOctet(u[x]!)) x++;
        while (y > x && isWsOctet(u[y - 1]!)) y--;
        if (y > x) {
          if (kind === ListKind.via) out.push(parseViaAt(u, s, x, y));
          else if (kind === ListKind.nameAddr) out.push(parseNameAddrAt(u, s, x, y, display));
          else if (kind === ListKind.count) out.push(COUNTED);
          else {
            const isStar = y - x === 1 && u[x] === 42;
            if ((isStar && out.length > 0) || (out.length > 0 && out[0] === "*")) throw badHeader("Contact", "'*' mixed with other contacts");
            out.push(isStar ? "*" : parseContactAt(u, s, x, y));
          }
        }
        if (comma < 0) break;
        a = comma + 1;
      }
    }
    return out;
  }

  _index(canon: string): number {
    return this._names.indexOf(canon);
  }

  get fields(): readonly HeaderField[] {
    if (this._fields === undefined) {
      const out: HeaderField[] = [];
      for (let i = 0; i < this._names.length; i++) out.push({ name: this._names[i]!, value: this._value(i) });
      this._fields = out;
    }
    return this._fields;
  }

  get body(): Buffer {
    if (this._body === undefined) this._body = this.raw.subarray(this._bodyStart);
    return this._body;
  }

  header(name: string): string | undefined {
    const i = this._names.indexOf(canonicalName(name));
    return i < 0 ? undefined : this._value(i);
  }

  headerValues(name: string): string[] {
    const canon = canonicalName(name);
    const list = isListHeader(canon);
    const out: string[] = [];
    const names = this._names;
    for (let i = 0; i < names.length; i++) {
      if (names[i] !== canon) continue;
      const v = this._value(i);
      if (list) for (const p of splitList(v)) out.push(p);
      else out.push(v);
    }
    return out;
  }

  get fieldNames(): readonly string[] {
    return this._names;
  }

  fieldValues(name: string): string[] {
    const canon = canonicalName(name);
    const out: string[] = [];
    const names = this._names;
    for (let i = names.indexOf(canon); i >= 0 && i < names.length; i++) if (names[i] === canon) out.push(this._value(i));
    return out;
  }

  valueCount(name: string): number {
    const canon = canonicalName(name);
    if (isListHeader(canon)) return this._parseList(canon, ListKind.count, "").length;
    // headerValues keeps a non-list field's value whole, empty or not: one per line
    let n = 0;
    for (const field of this._names) if (field === canon) n++;
    return n;
  }

  hasHeader(name: string): boolean {
    return this._names.indexOf(canonicalName(name)) >= 0;
  }

  get callId(): string {
    if (this._callId === undefined) {
      const i = this._callIdAt >= 0 ? this._callIdAt : this._index("call-id");
      if (i < 0) throw missingHeader("Call-ID");
      this._callId = this._text(i);
    }
    return this._callId;
  }

  /** RFC 3261 §20.16; a request's must name its method (RFC 3261 §8.1.1.5, RFC 4475 §3.1.2.17). */
  cseq(): { seq: number; method: string } {
    if (this._cseq === undefined) {
      const i = this._index("cseq");
      if (i < 0) throw missingHeader("CSeq");
      const c = this._cseqAt(i);
      this._checkCSeq(c);
      this._cseq = c;
    }
    return this._cseq;
  }

  /** Throws when a parsed CSeq does not fit the message (a request's method). */
  protected _checkCSeq(_c: { seq: number; method: string }): void {}

  /*
   * The *At helpers parse field `i`. The parser, which found its fields in its scan, fills the
   * Max-Forwards and top Via caches through them (no search of the name table); the accessors
   * below use them for the fields parsed on first read.
   */

  /** CSeq of field `i`. */
  _cseqAt(i: number): { seq: number; method: string } {
    const s = this._span(i);
    return parseCSeq(s, SPAN.a, SPAN.b, SPAN.u);
  }

  /** name-addr of field `i` (From, To). */
  _nameAddrAt(i: number, display: string): NameAddr {
    const s = this._span(i);
    return parseNameAddrAt(SPAN.u, s, SPAN.a, SPAN.b, display);
  }

  from(): NameAddr {
    if (this._from === undefined) {
      const i = this._index("from");
      if (i < 0) throw missingHeader("From");
      this._from = this._nameAddrAt(i, "From");
    }
    return this._from;
  }

  to(): NameAddr {
    if (this._to === undefined) {
      const i = this._index("to");
      if (i < 0) throw missingHeader("To");
      this._to = this._nameAddrAt(i, "To");
    }
    return this._to;
  }

  fromTag(): string | undefined {
    return tagOf(this.from()) ?? undefined;
  }

  toTag(): string | undefined {
    return tagOf(this.to()) ?? undefined;
  }

  vias(): Via[] {
    if (this._vias === undefined) {
      // read in place, like the name-addr lists (no value string, no octets copy per Via)
      this._vias = this._parseList("via", ListKind.via, "Via") as Via[];
    }
    return this._vias;
  }

  topVia(): Via {
    if (this._topVia === undefined) {
      const i = this._index("via");
      if (i < 0) throw missingHeader("Via");
      this._topVia = this._topViaAt(i);
    }
    return this._topVia;
  }

  /** The first value of field `i` (the first Via line), read in place. */
  _topViaAt(i: number): Via {
    const s = this._span(i);
    const a = SPAN.a;
    const u = SPAN.u;
    const comma = firstListComma(s, a, SPAN.b);
    let b = comma < 0 ? SPAN.b : comma;
    while (b > a && isWsOctet(u[b - 1]!)) b--;
    let x = a;
    while (x < b && isWsOctet(u[x]!)) x++;
    if (x === b) throw badHeader("Via", "empty");
    return parseViaAt(u, s, x, b);
  }

  maxForwards(): number | undefined {
    if (this._maxForwards === undefined) {
      const i = this._index("max-forwards");
      if (i < 0) return undefined;
      this._maxForwards = this._maxForwardsAt(i);
    }
    return this._maxForwards;
  }

  /** Max-Forwards of field `i`. */
  _maxForwardsAt(i: number): number {
    const s = this._span(i);
    return parseMaxForwards(s, SPAN.a, SPAN.b);
  }

  private nameAddrList(canon: string, display: string): NameAddr[] {
    // _parseList starts at the first field of the name: none, no work
    return this._parseList(canon, ListKind.nameAddr, display) as NameAddr[];
  }

  routes(): NameAddr[] {
    return (this._routes ??= this.nameAddrList("route", "Route"));
  }

  recordRoutes(): NameAddr[] {
    return (this._recordRoutes ??= this.nameAddrList("record-route", "Record-Route"));
  }

  paths(): NameAddr[] {
    return (this._paths ??= this.nameAddrList("path", "Path"));
  }

  /** RFC 3261 §20.10: `*` is only valid alone (REGISTER, §10.2.2). [] when absent. */
  contacts(): Contact[] | "*" {
    if (this._contacts === undefined) {
      const list = this._parseList("contact", ListKind.contact, "Contact");
      this._contacts = list.length === 1 && list[0] === "*" ? "*" : (list as Contact[]);
    }
    return this._contacts;
  }

  private delta(canon: string, display: string): number | undefined {
    const v = this.header(canon);
    if (v === undefined) return undefined;
    const n = parseDeltaSeconds(v);
    if (n === undefined) throw badHeader(display, `not delta-seconds: "${v}"`);
    return n;
  }

  expires(): number | undefined {
    return this.delta("expires", "Expires");
  }

  minExpires(): number | undefined {
    return this.delta("min-expires", "Min-Expires");
  }

  private optionTags(canon: string): string[] {
    const vals = this.headerValues(canon);
    for (let i = 0; i < vals.length; i++) vals[i] = vals[i]!.toLowerCase();
    return vals;
  }

  supported(): string[] {
    return this.optionTags("supported");
  }

  require(): string[] {
    return this.optionTags("require");
  }

  proxyRequire(): string[] {
    return this.optionTags("proxy-require");
  }

  unsupported(): string[] {
    return this.optionTags("unsupported");
  }

  contentLength(): number | undefined {
    if (this._contentLength === undefined) {
      const v = this.header("content-length");
      if (v === undefined) return undefined;
      const n = parseContentLength(v);
      if (n < 0) throw badHeader("Content-Length", `not a number: "${v}"`);
      this._contentLength = n;
    }
    return this._contentLength;
  }

  contentType(): string | undefined {
    return this.header("content-type");
  }

  private auth(canon: string): AuthParams | undefined {
    const v = this.header(canon);
    return v === undefined ? undefined : parseAuthParamsIn(v, displayName(canon));
  }

  authorization(): AuthParams | undefined {
    return this.auth("authorization");
  }

  proxyAuthorization(): AuthParams | undefined {
    return this.auth("proxy-authorization");
  }

  wwwAuthenticate(): AuthParams | undefined {
    return this.auth("www-authenticate");
  }

  proxyAuthenticate(): AuthParams | undefined {
    return this.auth("proxy-authenticate");
  }

  toBuffer(): Buffer {
    return this.raw;
  }

  edit(): MessageEditor {
    return createEditor(this);
  }
}

export class LazyRequest extends LazyMessage implements SipRequest {
  readonly kind = "request" as const;
  method!: string;
  /** where the Request-URI ends in the start line (it starts after the method and its SP) */
  _uriEnd = 0;
  private _uri: string | undefined = undefined;
  _ruri: SipUri | TelUri | undefined = undefined;

  /** The Request-URI as written, sliced on first read. */
  get uri(): string {
    return (this._uri ??= this._s.slice(this.method.length + 1, this._uriEnd));
  }

  protected override _checkCSeq(c: { seq: number; method: string }): void {
    if (c.method !== this.method) throw badHeader("CSeq", `method ${c.method} does not match request method ${this.method}`);
  }

  /**
   * RFC 3261 §19.1: parsed on first read (an unknown scheme is 416, garbage 400, RFC 3261 §8.2.1 /
   * RFC 4475 §3.3.2), in place in the message's octets.
   */
  requestUri(): SipUri | TelUri {
    if (this._ruri === undefined) {
      // the Request-Line is `Method SP Request-URI SP SIP-Version`, the method a token (ASCII)
      const a = this.method.length + 1;
      const ruri = parseUriAt(this.raw, this._s, a, a + this.uri.length, this.uri);
      // RFC 4475 §3.1.2.11: headers are not allowed in a Request-URI
      if (ruri.scheme !== "tel" && ruri.headers.size > 0) {
        throw new SipParseError({ code: SipErrorCode.badUri, sipStatus: 400, reason: "Bad Request-URI", detail: "URI headers in the Request-URI" });
      }
      this._ruri = ruri;
    }
    return this._ruri;
  }
}

export class LazyResponse extends LazyMessage implements SipResponse {
  readonly kind = "response" as const;
  status!: number;
  reason!: string;
}

/**
 * RFC 3261 §20.16: CSeq = 1*DIGIT LWS Method; the number must fit 32 bits (RFC 4475 §3.1.2.4).
 * Reads the octets `u` of `v[a, b)` (lex.ts), `v` only for the method and the error text.
 */
export function parseCSeq(v: string, a: number, b: number, u: Uint8Array): { seq: number; method: string } {
  let i = scanDigits(u, a, b);
  const n = b;
  if (i === a || i - a > 10) throw badHeader("CSeq", `bad sequence number in "${v.slice(a, b)}"`);
  const seq = decimalAt(u, a, i);
  if (seq > 4294967295) throw badHeader("CSeq", `sequence number too large in "${v.slice(a, b)}"`);
  const ws = i;
  while (i < n && (u[i] === 32 || u[i] === 9)) i++;
  if (i === ws || i === n) throw badHeader("CSeq", `missing method in "${v.slice(a, b)}"`);
  for (let k = i; k < n; k++) {
    const c = u[k]!;
    if (c <= 32 || c >= 127) throw badHeader("CSeq", `bad method in "${v.slice(a, b)}"`);
  }
  return { seq, method: methodAtOctets(u, v, i, n) };
}

/** RFC 3261 §20.22: 1*DIGIT, and RFC 3261 §8.1.1.6 / RFC 4475 §3.1.2.4: 0..255 accepted. */
export function parseMaxForwards(v: string, a = 0, b = v.length): number {
  if (b <= a || b - a > 6) throw badHeader("Max-Forwards", `bad value "${v.slice(a, b)}"`);
  let n = 0;
  for (let i = a; i < b; i++) {
    const c = v.charCodeAt(i);
    if (c < 48 || c > 57) throw badHeader("Max-Forwards", `bad value "${v.slice(a, b)}"`);
    n = n * 10 + c - 48;
  }
  if (n > 255) throw badHeader("Max-Forwards", `out of range: ${n}`);
  return n;
}

/** Content-Length value, -1 when not 1*DIGIT (RFC 3261 §20.14). */
export function parseContentLength(v: string, a = 0, b = v.length): number {
  if (b <= a || b - a > 10) return -1;
  let n = 0;
  for (let i = a; i < b; i++) {
    const c = v.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    n = n * 10 + c - 48;
  }
  return n;
}

export function isSipParseError(e: unknown): e is SipParseError {
  return e instanceof SipParseError;
}
